#include "server/bounded_io.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice::detail {

namespace asio = boost::asio;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

namespace {

IoResult outcome(std::size_t winner, boost::system::error_code io_ec, std::size_t n) {
  if (winner == 1) return {asio::error::timed_out, n};
  if (winner == 2) return {asio::error::operation_aborted, n};
  return {io_ec, n};
}

}  // namespace

asio::awaitable<IoResult> write_within(SessionIo& io, std::span<const asio::const_buffer> data,
                                       std::chrono::nanoseconds timeout) {
  asio::steady_timer timer(io.socket.get_executor());
  timer.expires_after(timeout);
  auto [order, wec, n, tec, sec] =
      co_await make_parallel_group(asio::async_write(io.socket, data, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   io.stop_signal.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  co_return outcome(order[0], wec, n);
}

asio::awaitable<IoResult> read_within(SessionIo& io, asio::mutable_buffer into,
                                      std::chrono::nanoseconds timeout) {
  asio::steady_timer timer(io.socket.get_executor());
  timer.expires_after(timeout);
  auto [order, rec, n, tec, sec] =
      co_await make_parallel_group(io.socket.async_read_some(into, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   io.stop_signal.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  co_return outcome(order[0], rec, n);
}

}  // namespace sluice::detail
