#include "proxy/sse_resume.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <string>

#include "common/metric_shards.hpp"
#include "common/nothrow.hpp"
#include "net/race.hpp"
#include "proxy/flush_policy.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

void report(const SseResumeSettings& s, ResponseId id, SseResumeResult result, unsigned attempt) {
  if (s.metrics) s.metrics->sse_resume(s.route, result);
  if (!s.observer.sse_resume) return;
  try {
    s.observer.sse_resume(id, result, attempt);
  } catch (...) {  // an observer's bug must not unwind the response (events.hpp)
  }
}

bool event_stream_ok(const Response& head) {
  return head.status == 200 && sse_uncoded_event_stream(head);
}

// Waits before a later attempt; false when the server stops meanwhile.
asio::awaitable<bool> back_off(Exchange& ex, unsigned attempt) {
  const unsigned doublings = std::min(attempt - 2, 4u);
  asio::steady_timer timer(ex.executor(), std::min<std::chrono::milliseconds>(
                                              kFirstBackoff * (1u << doublings), kMaxBackoff));
  auto [order, ec_timer, ec_stop] = co_await race(timer, ex.stop_signal());
  co_return order[0] == 0;
}

}  // namespace

bool sse_resumable_request(const Request& out, const Response& res) {
  return out.method == "GET" && out.content_length == 0 && event_stream_ok(res);
}

asio::awaitable<ResumeOutcome> resume_sse(Transport& via, Exchange& ex, Request& out,
                                          const SseGate& gate, unsigned& attempts,
                                          const SseResumeSettings& settings) {
  std::string failed = out.url.origin();
  while (attempts < settings.max_attempts) {
    ++attempts;
    if (attempts > 1 && !co_await back_off(ex, attempts))
      co_return ResumeOutcome{{}, aborted_error()};
    out.header.set("Last-Event-ID", gate.last_event_id());
    // A 1xx now would follow the head the client already has: dropped.
    InformationalHandler drop_informational =
        [](unsigned, Fields) -> asio::awaitable<std::error_code> { co_return std::error_code{}; };
    RoundTripRequest again{out, nullptr, std::move(drop_informational), ex, failed};
    const auto sent_at = std::chrono::steady_clock::now();
    UpstreamResponse up = co_await via.round_trip(std::move(again));
    if (settings.note) settings.note(out, up, std::chrono::steady_clock::now() - sent_at);
    if (up.ec == aborted_error() || up.ec == errc::client_gone) co_return ResumeOutcome{{}, up.ec};
    const std::string server = out.url.origin();
    if (!up.ec && event_stream_ok(up.head)) {
      report(settings, ex.id(), SseResumeResult::resumed, attempts);
      settings.log("SSE stream resumed on " + server + " after event ID \"" + gate.last_event_id() +
                   "\" (attempt " + std::to_string(attempts) + ")");
      if (ex.report().want_names) ex.report().server = server;
      co_return ResumeOutcome{std::move(up.body), {}};
    }
    report(settings, ex.id(), SseResumeResult::failed, attempts);
    if (!up.ec) {
      up.body->finish(false);
      settings.log("SSE resume attempt " + std::to_string(attempts) + " on " + server +
                   " got status " + std::to_string(up.head.status) +
                   " and no event stream: the stream is cut");
      break;
    }
    std::string line = "SSE resume attempt " + std::to_string(attempts) + " failed: ";
    line.append(up.ec.message()).append(" [").append(server).append("]");
    if (!up.error_detail.empty()) line.append(": ").append(up.error_detail);
    settings.log(line);
    failed = server;
  }
  co_return ResumeOutcome{};
}

}  // namespace sluice
