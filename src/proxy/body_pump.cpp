#include "proxy/body_pump.hpp"

#include <algorithm>
#include <boost/asio/deferred.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>

#include "common/nothrow.hpp"
#include "net/byte_stream.hpp"
#include "net/race.hpp"
#include "net/splice.hpp"
#include "proxy/splice_relay.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Reads and writes that complete at once never suspend the pump: after this many rounds in a
// row it yields, so one fast transfer cannot starve the worker's other connections.
constexpr int kRoundsBeforeYield = 16;

PumpResult client_gone(std::error_code ec) { return PumpResult{PumpEnd::client_gone, ec}; }
PumpResult upstream_failed(std::error_code ec) { return PumpResult{PumpEnd::upstream_error, ec}; }

enum class Woke { upstream, client, timer, stop };

struct BodyWait {
  Woke woke;
  std::error_code read_error;  // of the upstream read, when it completed
  std::size_t got = 0;         // body bytes the read put into `into`
};

// Waits for upstream bytes (read as they arrive), the client leaving (when it can be watched),
// the flush timer (armed for the next flush or the idle limit) and the stop signal: one race,
// after which nothing of it is pending. `got` counts the bytes that arrived whichever won.
asio::awaitable<BodyWait> wait_for_body(Exchange& ex, ResponseBody& body, FlushWriter& flush,
                                        asio::mutable_buffer into) {
  if (ex.client_watchable()) {
    auto [order, rec, n, cec, tec, sec] =
        co_await race(flush.timer(), ex.stop_signal(), body.async_read_some(into, asio::deferred),
                      ex.async_wait_client(asio::deferred));
    static constexpr Woke kWoke[] = {Woke::upstream, Woke::client, Woke::timer, Woke::stop};
    co_return BodyWait{kWoke[order[0]], rec == aborted_error() ? std::error_code{} : rec, n};
  }
  auto [order, rec, n, tec, sec] =
      co_await race(flush.timer(), ex.stop_signal(), body.async_read_some(into, asio::deferred));
  static constexpr Woke kWoke[] = {Woke::upstream, Woke::timer, Woke::stop};
  co_return BodyWait{kWoke[order[0]], rec == aborted_error() ? std::error_code{} : rec, n};
}

// The rest of a large known-length body moved by the kernel, when both sides can: a result
// when it was (whatever its ending), nullopt when the copy goes on.
asio::awaitable<std::optional<PumpResult>> try_splice(Exchange& ex, ResponseBody& body,
                                                      FlushWriter& flush,
                                                      std::chrono::nanoseconds idle_timeout) {
  detail::SpliceSource* source = body.splice_source();
  detail::SpliceSink* sink = ex.splice_sink();
  // A compressed body must pass through the encoder: no kernel copy.
  if (flush.encoding() || !source || !sink || source->remaining() < kSpliceMinBytes ||
      !sink->accepts_spliced_body()) {
    co_return std::nullopt;
  }
  auto pipe = SplicePipe::take();
  if (!pipe) co_return std::nullopt;  // no descriptor for a pipe: copy instead
  PumpResult spliced = co_await splice_body(ex, *sink, *source, flush, idle_timeout, *pipe);
  SplicePipe::give_back(std::move(pipe));
  co_return spliced;
}

}  // namespace

Clock::time_point arm_wait(FlushWriter& flush, std::chrono::nanoseconds idle_timeout,
                           Clock::time_point last_progress, const SseGate* sse) {
  const auto idle_deadline =
      idle_timeout.count() > 0 ? last_progress + idle_timeout : Clock::time_point::max();
  auto deadline = idle_deadline;
  if (auto due = flush.flush_due()) deadline = std::min(deadline, *due);
  if (sse) {
    if (auto due = sse->heartbeat_due()) deadline = std::min(deadline, *due);
  }
  flush.timer().expires_at(deadline);
  return idle_deadline;
}

asio::awaitable<PumpResult> pump_body(Exchange& ex, ResponseBody& body, FlushWriter& flush,
                                      std::chrono::nanoseconds idle_timeout, std::span<char> buffer,
                                      SseGate* sse) {
  const asio::mutable_buffer into = asio::buffer(buffer.data(), buffer.size());
  const auto executor = ex.executor();
  auto last_progress = Clock::now();
  int busy_rounds = 0;
  bool last_read_filled = true;
  bool splice_tried = false;

  // Each round hands on body bytes, or reads once, or waits once: the body's own length and
  // the idle timeout bound the loop (a stream may be endless, but never silent for long).
  for (;;) {
    if (body.done()) co_return PumpResult{PumpEnd::complete, {}};
    if (!splice_tried && body.splice_source()) {
      splice_tried = true;
      auto spliced = co_await try_splice(ex, body, flush, idle_timeout);
      if (spliced) co_return *spliced;
    }
    // A flush that fell due while the upstream kept us busy (no wait below saw the timer).
    if (auto due = flush.flush_due(); due && Clock::now() >= *due) {
      const auto ec = co_await flush.flush_now();
      if (ec) co_return client_gone(ec);
    }
    if (++busy_rounds >= kRoundsBeforeYield) {
      busy_rounds = 0;
      co_await asio::post(executor, asio::use_awaitable);
    }

    std::error_code rec;
    std::size_t n = 0;
    // Read first when bytes are buffered or the last read filled the buffer: a busy upstream
    // has more ready, and then no wait is armed at all. Otherwise the wait's own first read
    // attempt is the try.
    const bool from_buffer = body.buffered_bytes() > 0;
    const bool try_now = last_read_filled || from_buffer;
    bool had_to_wait = false;
    if (try_now) n = body.read_some(into, rec);
    if (!try_now || would_block(rec)) {
      had_to_wait = true;
      const auto idle_deadline = arm_wait(flush, idle_timeout, last_progress, sse);
      busy_rounds = 0;
      const BodyWait waited = co_await wait_for_body(ex, body, flush, into);
      if (waited.woke == Woke::stop) co_return PumpResult{PumpEnd::shutdown, aborted_error()};
      rec = waited.read_error;
      n = waited.got;
      if (n == 0 && !rec && waited.woke == Woke::client) {
        if (ex.client_gone_now()) co_return client_gone(make_error_code(errc::client_gone));
        continue;
      }
      if (n == 0 && !rec && waited.woke == Woke::timer) {
        auto ended = co_await after_timer(flush, idle_deadline, sse);
        if (ended) co_return *ended;
        continue;
      }
      // Bytes came (a flush that fell due meanwhile is seen at the top of the loop), or the
      // read itself ended.
    }
    // Bytes handed on from the buffer say nothing of the socket: it is tried at once next
    // (the rest of a body that came with its head is usually there already).
    if (had_to_wait || !from_buffer) last_read_filled = n == into.size();
    if (n > 0) {
      last_progress = Clock::now();
      const auto chunk = asio::buffer(buffer.data(), n);
      std::error_code ec;
      if (sse) {
        ec = co_await sse->write(chunk, last_progress);
      } else {
        ec = co_await flush.write(chunk, last_progress);
      }
      if (ec) co_return client_gone(ec);
    }
    // SPEC 33, R37, R44: the upstream closed short, sent bad framing, or failed.
    if (rec) co_return upstream_failed(rec);
  }
}

asio::awaitable<std::optional<PumpResult>> after_timer(FlushWriter& flush,
                                                       Clock::time_point idle_deadline,
                                                       SseGate* sse) {
  const auto now = Clock::now();
  if (auto due = flush.flush_due(); due && now >= *due) {
    const auto ec = co_await flush.flush_now();
    if (ec) co_return client_gone(ec);
  }
  if (sse && now < idle_deadline) {
    if (auto due = sse->heartbeat_due(); due && now >= *due) {
      const auto ec = co_await sse->heartbeat();
      if (ec) co_return client_gone(ec);
    }
  }
  if (now >= idle_deadline) {
    co_return PumpResult{PumpEnd::upstream_timeout, make_error_code(errc::upstream_idle_timeout)};
  }
  co_return std::nullopt;
}

}  // namespace sluice
