#include "proxy/flush_writer.hpp"

#include <utility>

#include "common/nothrow.hpp"

namespace sluice {

namespace asio = boost::asio;

FlushWriter::FlushWriter(Exchange& ex, std::chrono::nanoseconds interval, const Observer& observer,
                         std::atomic<std::int64_t>& armed)
    : ex_(ex), interval_(interval), observer_(observer), armed_(armed), timer_(ex.executor()) {}

FlushWriter::~FlushWriter() {
  // Reached without an explicit stop only when the frame is torn down from outside: the
  // server stopped (its io_context destroyed the suspended coroutine) or an exception unwound it.
  stop(FlushStopReason::shutdown);
}

asio::awaitable<std::error_code> FlushWriter::start() {
  if (started_ || stopped_ || interval_.count() == 0) co_return std::error_code{};
  started_ = true;
  ++armed_;
  if (observer_.flush_timer_started) {
    try {
      observer_.flush_timer_started(ex_.id());
    } catch (...) {  // an observer's bug must not unwind the response (events.hpp)
    }
  }
  if (interval_.count() < 0) co_return co_await ex_.flush();
  due_ = Clock::now() + interval_;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> FlushWriter::write(asio::const_buffer data) {
  if (stopped_) co_return aborted_error();
  const auto ec = co_await ex_.write_body(data);
  if (ec) co_return ec;
  if (!started_) co_return std::error_code{};
  if (interval_.count() < 0) co_return co_await ex_.flush();
  if (!due_) due_ = Clock::now() + interval_;
  co_return std::error_code{};
}

std::optional<FlushWriter::Clock::time_point> FlushWriter::flush_due() const {
  if (stopped_) return std::nullopt;
  return due_;
}

asio::awaitable<std::error_code> FlushWriter::flush_now() {
  // Go's flushPending guard: a stop that came first wins, and nothing is flushed after it.
  if (stopped_ || !due_) co_return std::error_code{};
  due_.reset();
  co_return co_await ex_.flush();
}

void FlushWriter::stop(FlushStopReason reason) {
  if (std::exchange(stopped_, true)) return;
  due_.reset();
  timer_.cancel();
  if (!started_) return;
  --armed_;
  if (!observer_.flush_timer_stopped) return;
  try {
    observer_.flush_timer_stopped(ex_.id(), reason);
  } catch (...) {  // stop() runs from the destructor too: an observer's throw must not escape
  }
}

}  // namespace sluice
