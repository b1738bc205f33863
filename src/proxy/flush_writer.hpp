#pragma once
// FlushWriter: the flush schedule of one response (SPEC 24-28, L1, L3) — Go's maxLatencyWriter.
//
// It owns the response's flush timer. The timer is never waited on by a detached handler: the
// body pump races it together with the upstream read (net/race.hpp, body_pump.cpp), and that
// race returns only after every racing operation has finished. So no
// timer completion can run after the response ended — the Asio rule that an expired timer's
// handler "can no longer be cancelled" has nothing left to reach.
//
// stop() is idempotent and the destructor calls it: whatever way the copy ends (complete,
// upstream error, client gone, shutdown, an exception unwinding the frame), the
// flush_timer_stopped event fires exactly once, and after it write() and flush_due() do nothing.
//
// With metrics, it also keeps the sluice_flush_timers_active gauge (up in start, down in the
// same stop) and samples sluice_added_latency_seconds: each chunk written is timed from its read
// from the upstream (`read_at`) to the end of the client write that carried it, which is known
// when Exchange::body_bytes_delivered() passes the chunk's last byte.
//
// With a BodyEncoder (ReverseProxy::compress) the bytes are compressed on their way to the
// exchange, and every flush flushes the encoder first: the client decodes at each flush all that
// the uncompressed response would have delivered at that moment.
#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "proxy/body_encoder.hpp"
#include "sluice/events.hpp"
#include "sluice/exchange.hpp"

namespace sluice {

namespace detail {
class MetricShards;
}

class FlushWriter {
 public:
  using Clock = std::chrono::steady_clock;

  // `interval` is the one flush_interval_for() selected: 0 none, < 0 every write, > 0 periodic.
  // `armed` is the live counter of armed flush timers (SPEC L2).
  // `metrics`, `encoder`: may be null; the encoder must outlive the writer.
  FlushWriter(Exchange& ex, std::chrono::nanoseconds interval, const Observer& observer,
              std::atomic<std::int64_t>& armed, detail::MetricShards* metrics = nullptr,
              BodyEncoder* encoder = nullptr);
  ~FlushWriter();
  FlushWriter(const FlushWriter&) = delete;
  FlushWriter& operator=(const FlushWriter&) = delete;

  // Starts the schedule once the head is buffered. Negative: the head goes out now, even if no
  // body ever comes (SPEC L3). Positive: a flush is due one interval from now, so the head
  // reaches the client within one interval even when the first body byte is late (SPEC 26).
  // `body_follows` false: nothing need wait for the upstream before the first body write or
  // the end (the response is whole, or its first body bytes are already here), so with a
  // negative interval the head goes out with them instead of on its own: one write for a small
  // response, and over HTTP/2 a bodiless response stays one HEADERS frame (gRPC's
  // Trailers-Only form).
  boost::asio::awaitable<std::error_code> start(bool body_follows = true);

  // Buffers body bytes; flushes at once when the interval is negative; with a positive interval
  // makes a flush due `interval` from now unless one is already due (max latency, not debounce).
  // `read_at`: when the bytes were read from the upstream.
  boost::asio::awaitable<std::error_code> write(boost::asio::const_buffer data,
                                                Clock::time_point read_at = Clock::now());

  // An SSE heartbeat comment, written and flushed at once (the caller chose the moment: idle, at
  // an event boundary). Refused after stop(): no heartbeat outlives the response.
  boost::asio::awaitable<std::error_code> heartbeat();

  // Before Exchange::end_response: the encoder's last bytes (a no-op without one).
  boost::asio::awaitable<std::error_code> finish_body();

  // True when the body is compressed on its way (no zero-copy then).
  bool encoding() const { return encoder_ != nullptr; }

  // When the next scheduled flush is due, if one is.
  std::optional<Clock::time_point> flush_due() const;
  // Performs the due flush (called when the timer fired).
  boost::asio::awaitable<std::error_code> flush_now();

  // The response's timer, for the body pump's race. Only ever waited on inside that race.
  boost::asio::steady_timer& timer() { return timer_; }

  // Idempotent. Fires flush_timer_stopped (once, if started) and disables further flushing.
  void stop(FlushStopReason reason);

  // Samples the added latency of the chunks the client has now received (after a write the
  // exchange made outside this writer: the splice relay's flush, end_response).
  void settle();
  // Forgets the chunks not yet delivered: the response they belonged to was discarded.
  void discard_pending() { pending_count_ = 0; }

 private:
  // Chunks written and not yet known to be delivered, oldest first. More than fit are folded
  // into the newest entry (timed from its read: at most an overestimate).
  struct Pending {
    Clock::time_point read_at;
    std::uint64_t end;  // body offset after the chunk's last byte
    std::uint32_t chunks;
  };
  static constexpr std::size_t kMaxPending = 16;
  void note_written(Clock::time_point read_at);
  // The body bytes as they go to the exchange: through the encoder when there is one, which
  // `op` flushes or finishes.
  boost::asio::awaitable<std::error_code> write_through(boost::asio::const_buffer data,
                                                        BodyEncoder::Op op);
  // Exchange::flush, after flushing the encoder.
  boost::asio::awaitable<std::error_code> flush_exchange();

  Exchange& ex_;
  std::chrono::nanoseconds interval_;
  const Observer& observer_;
  std::atomic<std::int64_t>& armed_;
  boost::asio::steady_timer timer_;
  std::optional<Clock::time_point> due_;
  detail::MetricShards* metrics_;
  BodyEncoder* encoder_;
  std::string encoded_;  // the encoder's output on its way to the exchange, reused
  std::array<Pending, kMaxPending> pending_{};
  std::size_t pending_count_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sluice
