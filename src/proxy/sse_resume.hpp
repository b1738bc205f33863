#pragma once
// SSE resume (ReverseProxy::sse_resume): after the upstream of an event stream failed, the same
// request is sent again with Last-Event-ID, and a new 200 text/event-stream response continues
// the client's response. This file is one failure's attempts; the relay loop (reverse_proxy.cpp)
// pumps the new body through the same FlushWriter and SseGate.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

#include "proxy/sse_gate.hpp"
#include "sluice/events.hpp"
#include "sluice/exchange.hpp"
#include "sluice/message.hpp"
#include "sluice/transport.hpp"

namespace sluice {

namespace detail {
class MetricShards;
}

struct SseResumeSettings {
  unsigned max_attempts;                      // per failure, since the last event
  const Observer& observer;                   // sse_resume events
  detail::MetricShards* metrics;              // may be null
  std::size_t route;                          // for the metric
  std::function<void(std::string_view)> log;  // one error line per attempt
  // Each attempt's round trip, for the access log and the metrics as the first one's: the
  // request as sent, what came back, and how long the head took.
  std::function<void(const Request&, const UpstreamResponse&, std::chrono::nanoseconds)> note;
};

// Whether a response may be resumed at all: a GET without a body, answered 200
// text/event-stream. (Decided once; the gate then says whether the moment allows it.)
bool sse_resumable_request(const Request& out, const Response& res);

struct ResumeOutcome {
  std::unique_ptr<ResponseBody> body;  // the new response's body; null: no attempt worked
  // Why it stopped trying, when nobody is left to resume for: the client left
  // (errc::client_gone) or the server stops (operation_aborted). Else empty.
  std::error_code ended;
};

// Attempts until one gives a 200 text/event-stream response, or `attempts` reaches the limit
// (a response of another status or type ends the attempts at once: the upstream answered, and
// not with a stream). Attempts after the first wait 100 ms, then 200, ... (at most 1 s), so a
// server that restarts has time to come back. `out` is the request as last sent; its
// Last-Event-ID is replaced, and the transport avoids the server that failed.
boost::asio::awaitable<ResumeOutcome> resume_sse(Transport& via, Exchange& ex, Request& out,
                                                 const SseGate& gate, unsigned& attempts,
                                                 const SseResumeSettings& settings);

}  // namespace sluice
