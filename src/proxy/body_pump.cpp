#include "proxy/body_pump.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

asio::awaitable<PumpResult> pump_body(Exchange& ex, UpstreamConnection& up, ResponseParser& parser,
                                      FlushWriter& flush, const TransportOptions& options,
                                      std::span<char> body) {
  parser.eager(true);
  auto last_progress = Clock::now();
  bool need_input = up.buffer.size() == 0;

  // Each round parses buffered input, or waits once and reads once: the body's own length and
  // the idle timeout bound the loop (a stream may be endless, but never silent for long).
  for (;;) {
    if (parser.is_done()) co_return PumpResult{PumpEnd::complete, {}};

    if (!need_input) {
      auto& b = parser.get().body();
      b.data = body.data();
      b.size = body.size();
      b.more = true;
      boost::system::error_code pec;
      std::size_t used = parser.put(up.buffer.data(), pec);
      up.buffer.consume(used);
      const std::size_t got = body.size() - parser.get().body().size;
      if (pec == http::error::need_buffer) pec = {};
      const bool need_more = pec == http::error::need_more;
      if (pec && !need_more) {
        // SPEC R37: bad framing from the upstream; nothing after it reaches the client.
        co_return PumpResult{PumpEnd::upstream_error, "bad upstream body: " + pec.message()};
      }
      if (got > 0) {
        const auto ec = co_await flush.write(asio::buffer(body.data(), got));
        if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
      }
      if (need_more || up.buffer.size() == 0 || (used == 0 && got == 0)) need_input = true;
      continue;
    }

    // Wait for upstream bytes, the client leaving, the next flush, or the idle limit.
    const auto idle_deadline = options.idle_read_timeout.count() > 0
                                   ? last_progress + options.idle_read_timeout
                                   : Clock::time_point::max();
    auto deadline = idle_deadline;
    if (auto due = flush.flush_due()) deadline = std::min(deadline, *due);
    flush.timer().expires_at(deadline);
    const Wake wake = co_await wait_readable(up, ex, ex.client_watchable(), flush.timer());
    switch (wake) {
      case Wake::stop:
        co_return PumpResult{PumpEnd::shutdown, {}};
      case Wake::client:
        if (ex.client_gone_now()) co_return PumpResult{PumpEnd::client_gone, "client closed"};
        continue;
      case Wake::timer: {
        const auto now = Clock::now();
        if (auto due = flush.flush_due(); due && now >= *due) {
          const auto ec = co_await flush.flush_now();
          if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
        }
        if (now >= idle_deadline) {
          co_return PumpResult{PumpEnd::upstream_timeout, "no upstream body byte within the idle timeout"};
        }
        continue;
      }
      case Wake::upstream:
        break;
    }
    auto [rec, n] = read_available(up, kReadChunk);
    if (rec == asio::error::would_block) continue;
    if (n > 0) {
      last_progress = Clock::now();
      need_input = false;
    }
    if (rec == asio::error::eof) {
      boost::system::error_code pec;
      parser.put_eof(pec);
      // A close-delimited body ends here (SPEC R44); any other body was cut short (SPEC 33).
      if (pec) co_return PumpResult{PumpEnd::upstream_error, "upstream closed mid-body"};
      continue;
    }
    if (rec) co_return PumpResult{PumpEnd::upstream_error, "upstream read: " + rec.message()};
  }
}

}  // namespace sluice
