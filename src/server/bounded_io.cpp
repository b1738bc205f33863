#include "server/bounded_io.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "common/nothrow.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

namespace {

bool would_block(boost::system::error_code ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

IoResult outcome(std::size_t winner, boost::system::error_code io_ec, std::size_t n) {
  if (winner == 1) return {asio::error::timed_out, n};
  if (winner == 2) return {asio::error::operation_aborted, n};
  return {io_ec, n};
}

}  // namespace

asio::awaitable<IoResult> write_within(SessionIo& io, std::span<const asio::const_buffer> data,
                                       std::chrono::nanoseconds timeout) {
  boost::beast::buffers_suffix<std::span<const asio::const_buffer>> rest(data);
  const std::size_t total = asio::buffer_size(data);
  std::size_t sent = 0;
  boost::system::error_code ec;
  // Most writes complete at once: no timer, no race. Bounded: each try progresses or stops.
  for (int tries = 0; tries < 4 && sent < total; ++tries) {
    const std::size_t n = io.socket.send(rest, 0, ec);
    sent += n;
    rest.consume(n);
    if (ec || n == 0) break;
  }
  if (sent == total || (ec && !would_block(ec))) co_return IoResult{ec, sent};
  asio::steady_timer timer(io.socket.get_executor());
  timer.expires_after(timeout);
  auto [order, wec, n, tec, sec] =
      co_await make_parallel_group(asio::async_write(io.socket, rest, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   io.stop_signal.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  co_return outcome(order[0], wec, sent + n);
}

asio::awaitable<IoResult> read_within(SessionIo& io, asio::mutable_buffer into,
                                      std::chrono::nanoseconds timeout) {
  boost::system::error_code ec;
  const std::size_t got = io.socket.read_some(into, ec);  // bytes already there: no timer
  if (!would_block(ec)) co_return IoResult{ec, got};
  asio::steady_timer timer(io.socket.get_executor());
  timer.expires_after(timeout);
  auto [order, rec, n, tec, sec] =
      co_await make_parallel_group(io.socket.async_read_some(into, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   io.stop_signal.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  co_return outcome(order[0], rec, n);
}

asio::awaitable<std::error_code> wait_writable_within(SessionIo& io,
                                                      std::chrono::nanoseconds timeout) {
  asio::steady_timer timer(io.socket.get_executor());
  timer.expires_after(timeout);
  auto [order, wec, tec, sec] =
      co_await make_parallel_group(
          io.socket.async_wait(asio::ip::tcp::socket::wait_write, asio::deferred),
          timer.async_wait(asio::deferred), io.stop_signal.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  co_return to_std(outcome(order[0], wec, 0).first);
}

}  // namespace sluice::detail
