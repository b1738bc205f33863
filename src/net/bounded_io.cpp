#include "net/bounded_io.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/nothrow.hpp"
#include "net/race.hpp"

namespace sluice {

namespace asio = boost::asio;

BufferCursor::BufferCursor(std::span<const asio::const_buffer> data) {
  for (const auto& b : data) {
    if (b.size() == 0 || count_ == kMaxBuffers) continue;
    bufs_[count_++] = b;
    total_ += b.size();
  }
}

void BufferCursor::consume(std::size_t n) {
  while (n > 0 && first_ < count_) {
    auto& b = bufs_[first_];
    const std::size_t used = std::min(n, b.size());
    b += used;
    n -= used;
    if (b.size() == 0) ++first_;
  }
}

std::size_t write_now(ByteStream& stream, BufferCursor& cursor, boost::system::error_code& ec) {
  std::size_t sent = 0;
  ec = {};
  for (int tries = 0; tries < 4 && sent < cursor.total(); ++tries) {
    const std::size_t n = stream.write_some(cursor.rest(), ec);
    sent += n;
    cursor.consume(n);
    if (ec || n == 0) break;
  }
  return sent;
}

namespace {

IoResult outcome(Winner w, boost::system::error_code io_ec, std::size_t n) {
  if (w.deadline()) return {asio::error::timed_out, n};
  if (w.stop()) return {asio::error::operation_aborted, n};
  return {io_ec, n};
}

}  // namespace

asio::awaitable<IoResult> write_within(ByteStream& stream, std::span<const asio::const_buffer> data,
                                       std::chrono::nanoseconds timeout, StopSignal& stop) {
  BufferCursor cursor(data);
  boost::system::error_code ec;
  // Most writes complete at once: no timer, no race.
  std::size_t sent = write_now(stream, cursor, ec);
  if (sent == cursor.total() || (ec && !would_block(ec))) co_return IoResult{ec, sent};
  asio::steady_timer deadline(stream.get_executor());
  deadline.expires_after(timeout);
  // Each round writes at least a byte or ends; the deadline bounds how long they may take.
  while (sent < cursor.total()) {
    auto [order, wec, n, dec, sec] =
        co_await race(deadline, stop, stream.async_write_some(cursor.rest(), asio::deferred));
    sent += n;
    cursor.consume(n);
    const Winner w = winner_of(order);
    if (!w.is(0) || wec) co_return outcome(w, wec, sent);
  }
  co_return IoResult{boost::system::error_code{}, sent};
}

asio::awaitable<IoResult> read_within(ByteStream& stream, asio::mutable_buffer into,
                                      std::chrono::nanoseconds timeout, StopSignal& stop) {
  boost::system::error_code ec;
  const std::size_t got = stream.read_some(into, ec);  // bytes already there: no timer
  if (!would_block(ec)) co_return IoResult{ec, got};
  asio::steady_timer deadline(stream.get_executor());
  deadline.expires_after(timeout);
  auto [order, rec, n, dec, sec] =
      co_await race(deadline, stop, stream.async_read_some(into, asio::deferred));
  co_return outcome(winner_of(order), rec, n);
}

asio::awaitable<std::error_code> wait_writable_within(ByteStream& stream,
                                                      std::chrono::nanoseconds timeout,
                                                      StopSignal& stop) {
  asio::steady_timer deadline(stream.get_executor());
  deadline.expires_after(timeout);
  auto [order, wec, dec, sec] =
      co_await race(deadline, stop, stream.async_wait(ByteStream::Ready::write, asio::deferred));
  co_return to_std(outcome(winner_of(order), wec, 0).first);
}

}  // namespace sluice
