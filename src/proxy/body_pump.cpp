#include "proxy/body_pump.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>

#include "proxy/splice_relay.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

Clock::time_point arm_wait(FlushWriter& flush, const TransportOptions& options,
                           Clock::time_point last_progress) {
  const auto idle_deadline = options.idle_read_timeout.count() > 0
                                 ? last_progress + options.idle_read_timeout
                                 : Clock::time_point::max();
  auto deadline = idle_deadline;
  if (auto due = flush.flush_due()) deadline = std::min(deadline, *due);
  flush.timer().expires_at(deadline);
  return idle_deadline;
}

asio::awaitable<std::optional<PumpResult>> after_timer(FlushWriter& flush,
                                                       Clock::time_point idle_deadline) {
  const auto now = Clock::now();
  if (auto due = flush.flush_due(); due && now >= *due) {
    const auto ec = co_await flush.flush_now();
    if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
  }
  if (now >= idle_deadline) {
    co_return PumpResult{PumpEnd::upstream_timeout, "no upstream body byte within the idle timeout"};
  }
  co_return std::nullopt;
}

asio::awaitable<PumpResult> pump_body(Exchange& ex, UpstreamConnection& up, ResponseParser& parser,
                                      FlushWriter& flush, const TransportOptions& options,
                                      std::span<char> body) {
  parser.eager(true);
  auto last_progress = Clock::now();
  bool need_input = up.buffer.size() == 0;
  // Direct mode: once a Content-Length body has nothing left in up.buffer, the rest is read
  // from the socket straight into `body` (bounded by what remains, so nothing past the body is
  // ever read) and handed on from there: no parser copy. `remaining` then replaces the parser.
  bool direct = false;
  std::uint64_t remaining = 0;
  // Reads and writes that complete at once never suspend this coroutine: after this many rounds
  // in a row it yields, so one fast transfer cannot starve the worker's other connections.
  constexpr int kRoundsBeforeYield = 16;
  int busy_rounds = 0;
  bool last_read_filled = true;
  bool splice_tried = false;
  const auto executor = ex.executor();

  // Each round parses buffered input, or reads once, or waits once: the body's own length and
  // the idle timeout bound the loop (a stream may be endless, but never silent for long).
  for (;;) {
    if (direct ? remaining == 0 : parser.is_done()) co_return PumpResult{PumpEnd::complete, {}};
    if (direct && !splice_tried && remaining >= kSpliceMinBytes && ex.accepts_spliced_body()) {
      // A large rest of a Content-Length body: moved by the kernel, never copied (splice_relay).
      splice_tried = true;
      auto pipe = SplicePipe::take();
      if (pipe) {
        PumpResult spliced = co_await splice_body(ex, up, flush, options, remaining, *pipe);
        SplicePipe::give_back(std::move(pipe));
        co_return spliced;
      }
    }

    if (!direct && !need_input) {
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
      if (need_input && up.buffer.size() == 0 && !parser.is_done() && !parser.chunked()) {
        if (const auto left = parser.content_length_remaining(); left && *left > 0) {
          direct = true;
          remaining = *left;
        }
      }
      continue;
    }

    // A flush that fell due while the upstream kept us busy (no wait below saw the timer).
    if (auto due = flush.flush_due(); due && Clock::now() >= *due) {
      const auto ec = co_await flush.flush_now();
      if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
    }

    if (++busy_rounds >= kRoundsBeforeYield) {
      busy_rounds = 0;
      co_await asio::post(executor, asio::use_awaitable);
    }

    // One read per round, into the body buffer (direct) or up.buffer (for the parser).
    const std::size_t room =
        direct ? static_cast<std::size_t>(std::min<std::uint64_t>(remaining, body.size()))
               : std::min(kReadChunk, up.buffer.max_size() - up.buffer.size());
    if (room == 0) co_return PumpResult{PumpEnd::upstream_error, "upstream read: no buffer space"};
    const asio::mutable_buffer into = direct ? asio::buffer(body.data(), room) : up.buffer.prepare(room);
    boost::system::error_code rec;
    std::size_t n = 0;
    // Read first when the last read filled its buffer: a busy upstream has more ready, and then
    // no wait is armed at all. Otherwise the wait's own first read attempt is the try.
    if (last_read_filled) n = up.socket.read_some(into, rec);
    if (!last_read_filled || rec == asio::error::would_block || rec == asio::error::try_again) {
      // Nothing ready: wait for upstream bytes (read as they arrive), the client leaving, the
      // next flush, or the idle limit.
      const auto idle_deadline = arm_wait(flush, options, last_progress);
      busy_rounds = 0;
      const WaitResult got =
          co_await wait_and_read(up, ex, ex.client_watchable(), flush.timer(), into);
      if (got.wake == Wake::stop) co_return PumpResult{PumpEnd::shutdown, {}};
      rec = got.read_error;
      n = got.read;
      if (n == 0 && got.wake == Wake::client) {
        if (ex.client_gone_now()) co_return PumpResult{PumpEnd::client_gone, "client closed"};
        continue;
      }
      if (n == 0 && got.wake == Wake::timer) {
        auto ended = co_await after_timer(flush, idle_deadline);
        if (ended) co_return std::move(*ended);
        continue;
      }
      // Bytes came (a flush that fell due meanwhile is seen at the top of the loop), or the
      // read itself ended.
    }
    last_read_filled = n == into.size();
    if (n > 0) {
      last_progress = Clock::now();
      if (direct) {
        remaining -= n;
        const auto ec = co_await flush.write(asio::buffer(body.data(), n));
        if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
      } else {
        up.buffer.commit(n);
        need_input = false;
      }
      continue;
    }
    if (rec == asio::error::eof) {
      // A close-delimited body ends here (SPEC R44); any other body was cut short (SPEC 33).
      if (direct) co_return PumpResult{PumpEnd::upstream_error, "upstream closed mid-body"};
      boost::system::error_code pec;
      parser.put_eof(pec);
      if (pec) co_return PumpResult{PumpEnd::upstream_error, "upstream closed mid-body"};
      continue;
    }
    if (rec) co_return PumpResult{PumpEnd::upstream_error, "upstream read: " + rec.message()};
  }
}

}  // namespace sluice
