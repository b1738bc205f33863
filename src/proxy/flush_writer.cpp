#include "proxy/flush_writer.hpp"

#include <algorithm>
#include <utility>

#include "common/metric_shards.hpp"
#include "common/nothrow.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;

FlushWriter::FlushWriter(Exchange& ex, std::chrono::nanoseconds interval, const Observer& observer,
                         std::atomic<std::int64_t>& armed, detail::MetricShards* metrics,
                         BodyEncoder* encoder)
    : ex_(ex),
      interval_(interval),
      observer_(observer),
      armed_(armed),
      timer_(ex.executor()),
      metrics_(metrics),
      encoder_(encoder) {}

FlushWriter::~FlushWriter() {
  // Reached without an explicit stop only when the frame is torn down from outside: the
  // server stopped (its io_context destroyed the suspended coroutine) or an exception unwound it.
  stop(FlushStopReason::shutdown);
}

asio::awaitable<std::error_code> FlushWriter::start(bool body_follows) {
  if (started_ || stopped_ || interval_.count() == 0) co_return std::error_code{};
  started_ = true;
  ++armed_;
  if (metrics_) metrics_->add_flush_timers(+1);
  if (observer_.flush_timer_started) {
    try {
      observer_.flush_timer_started(ex_.id());
    } catch (...) {  // an observer's bug must not unwind the response (events.hpp)
    }
  }
  if (interval_.count() < 0) {
    // Without a body to wait for, the first write (flushed at once) or the end takes the head.
    if (body_follows) co_return co_await flush_exchange();
    co_return std::error_code{};
  }
  due_ = Clock::now() + interval_;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> FlushWriter::write(asio::const_buffer data,
                                                    Clock::time_point read_at) {
  if (stopped_) co_return aborted_error();
  const std::uint64_t before = ex_.body_bytes_sent();
  // Flushed at once: the encoder's flush goes with the write, one pass instead of two.
  const bool flush_now = started_ && interval_.count() < 0;
  auto ec =
      co_await write_through(data, flush_now ? BodyEncoder::Op::flush : BodyEncoder::Op::write);
  // (Bytes a bodiless response drops, HEAD or 204, are no chunk the client gets.)
  if (!ec && metrics_ && ex_.body_bytes_sent() > before) note_written(read_at);
  if (!ec && started_) {
    if (flush_now) {
      ec = co_await ex_.flush();
    } else if (!due_) {
      due_ = Clock::now() + interval_;
    }
  }
  settle();
  co_return ec;
}

asio::awaitable<std::error_code> FlushWriter::write_through(asio::const_buffer data,
                                                            BodyEncoder::Op op) {
  if (!encoder_) co_return co_await ex_.write_body(data);
  encoded_.clear();
  const std::span<const char> in(static_cast<const char*>(data.data()), data.size());
  if (!encoder_->encode(in, op, encoded_)) {
    co_return make_error_code(errc::encoder_failed);
  }
  if (encoded_.empty()) co_return std::error_code{};
  co_return co_await ex_.write_body(asio::buffer(encoded_));
}

asio::awaitable<std::error_code> FlushWriter::flush_exchange() {
  if (encoder_) {
    const auto ec = co_await write_through({}, BodyEncoder::Op::flush);
    if (ec) co_return ec;
  }
  co_return co_await ex_.flush();
}

asio::awaitable<std::error_code> FlushWriter::heartbeat() {
  if (stopped_) co_return aborted_error();
  static constexpr char kComment[] = ":\n\n";
  auto ec =
      co_await write_through(asio::buffer(kComment, sizeof kComment - 1), BodyEncoder::Op::flush);
  if (!ec) ec = co_await ex_.flush();
  settle();
  if (!ec && observer_.sse_heartbeat) {
    try {
      observer_.sse_heartbeat(ex_.id());
    } catch (...) {  // an observer's bug must not unwind the response (events.hpp)
    }
  }
  co_return ec;
}

asio::awaitable<std::error_code> FlushWriter::finish_body() {
  if (!encoder_) co_return std::error_code{};
  if (stopped_) co_return aborted_error();
  co_return co_await write_through({}, BodyEncoder::Op::finish);
}

void FlushWriter::note_written(Clock::time_point read_at) {
  const std::uint64_t end = ex_.body_bytes_sent();
  if (pending_count_ == kMaxPending) {
    Pending& newest = pending_[kMaxPending - 1];
    newest.end = end;
    ++newest.chunks;
    return;
  }
  pending_[pending_count_++] = Pending{read_at, end, 1};
}

void FlushWriter::settle() {
  if (!metrics_ || pending_count_ == 0) return;
  const std::uint64_t delivered = ex_.body_bytes_delivered();
  std::size_t done = 0;
  const auto now = Clock::now();
  while (done < pending_count_ && pending_[done].end <= delivered) {
    for (std::uint32_t i = 0; i < pending_[done].chunks; ++i)
      metrics_->added_latency(now - pending_[done].read_at);
    ++done;
  }
  if (done == 0) return;
  std::copy(pending_.begin() + static_cast<std::ptrdiff_t>(done),
            pending_.begin() + static_cast<std::ptrdiff_t>(pending_count_), pending_.begin());
  pending_count_ -= done;
}

std::optional<FlushWriter::Clock::time_point> FlushWriter::flush_due() const {
  if (stopped_) return std::nullopt;
  return due_;
}

asio::awaitable<std::error_code> FlushWriter::flush_now() {
  // Go's flushPending guard: a stop that came first wins, and nothing is flushed after it.
  if (stopped_ || !due_) co_return std::error_code{};
  due_.reset();
  const auto ec = co_await flush_exchange();
  settle();
  co_return ec;
}

void FlushWriter::stop(FlushStopReason reason) {
  if (std::exchange(stopped_, true)) return;
  settle();  // what end_response delivered; chunks never delivered are not samples
  pending_count_ = 0;
  due_.reset();
  timer_.cancel();
  if (!started_) return;
  --armed_;
  if (metrics_) metrics_->add_flush_timers(-1);
  if (!observer_.flush_timer_stopped) return;
  try {
    observer_.flush_timer_stopped(ex_.id(), reason);
  } catch (...) {  // stop() runs from the destructor too: an observer's throw must not escape
  }
}

}  // namespace sluice
