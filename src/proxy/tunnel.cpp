#include "proxy/tunnel.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "common/nothrow.hpp"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

namespace {

constexpr std::size_t kTunnelBuffer = 16 * 1024;

// What both directions share. One io_context thread runs both: no lock needed.
struct TunnelState {
  Exchange& ex;
  std::chrono::nanoseconds idle_timeout;
  Clock::time_point last_activity = Clock::now();
  bool finished = false;   // one direction failed or timed out: the other must stop too
  TunnelEnd end = TunnelEnd::closed;

  void fail(TunnelEnd why, tcp::socket& a, tcp::socket& b) {
    if (!finished) end = why;
    finished = true;
    boost::system::error_code ignored;
    // Shutting both sockets down wakes the other direction's wait: it reads EOF and ends.
    a.shutdown(tcp::socket::shutdown_both, ignored);
    b.shutdown(tcp::socket::shutdown_both, ignored);
  }
};

// Writes all of `data` to `to`, racing the idle deadline and the stop signal: a peer that stops
// reading cannot pin the tunnel, even after the other direction ended (a half-closed client that
// never reads, an upstream that stopped reading). Cancelling a half-done write is harmless:
// the tunnel is being torn down then. False when the tunnel must end.
asio::awaitable<bool> write_bounded(TunnelState& state, tcp::socket& from, tcp::socket& to,
                                    asio::const_buffer data) {
  asio::steady_timer deadline(to.get_executor());
  deadline.expires_after(state.idle_timeout);
  auto [order, wec, n, tec, sec] =
      co_await make_parallel_group(asio::async_write(to, data, asio::deferred),
                                   deadline.async_wait(asio::deferred),
                                   state.ex.stop_signal().async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  if (order[0] == 1) {
    state.fail(TunnelEnd::idle_timeout, from, to);
    co_return false;
  }
  if (order[0] == 2) {
    state.fail(TunnelEnd::shutdown, from, to);
    co_return false;
  }
  if (wec) {
    state.fail(TunnelEnd::error, from, to);
    co_return false;
  }
  state.last_activity = Clock::now();
  co_return true;
}

// Copies `from` -> `to` until EOF on `from` (then half-closes `to`), an error, the idle timeout
// or the stop signal. Each round waits once and reads once: bounded by the bytes and the timer.
asio::awaitable<void> copy_direction(TunnelState& state, tcp::socket& from, tcp::socket& to,
                                     std::string pending) {
  if (!pending.empty()) {
    const bool written = co_await write_bounded(state, from, to, asio::buffer(pending));
    if (!written) co_return;
  }
  std::array<char, kTunnelBuffer> buf;
  asio::steady_timer idle(from.get_executor());
  for (;;) {
    if (state.finished) co_return;
    idle.expires_at(state.last_activity + state.idle_timeout);
    auto [order, wec, tec, sec] =
        co_await make_parallel_group(from.async_wait(tcp::socket::wait_read, asio::deferred),
                                     idle.async_wait(asio::deferred),
                                     state.ex.stop_signal().async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    if (order[0] == 2) {
      state.fail(TunnelEnd::shutdown, from, to);
      co_return;
    }
    if (order[0] == 1) {
      // The other direction may have moved last_activity on: only a real silence ends it.
      if (Clock::now() - state.last_activity >= state.idle_timeout) {
        state.fail(TunnelEnd::idle_timeout, from, to);
        co_return;
      }
      continue;
    }
    if (state.finished) co_return;
    boost::system::error_code rec;
    const std::size_t n = from.read_some(asio::buffer(buf), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) continue;
    if (rec == asio::error::eof) {
      // SPEC 37 (Go 1.23+): half-close. The peer learns this side is done; the other
      // direction goes on until it ends too.
      boost::system::error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (rec) {
      state.fail(TunnelEnd::error, from, to);
      co_return;
    }
    state.last_activity = Clock::now();
    const bool written = co_await write_bounded(state, from, to, asio::buffer(buf.data(), n));
    if (!written) co_return;
  }
}

}  // namespace

asio::awaitable<TunnelEnd> run_tunnel(Exchange& ex, UpstreamConnection& up,
                                      std::string client_pending,
                                      std::chrono::nanoseconds idle_timeout) {
  TunnelState state{ex, idle_timeout};
  tcp::socket& client = ex.client_socket();
  std::string upstream_pending(static_cast<const char*>(up.buffer.data().data()),
                               up.buffer.size());
  up.buffer.consume(up.buffer.size());
  auto executor = co_await asio::this_coro::executor;
  // Both directions are joined: neither coroutine outlives this frame (STYLE §4.3).
  co_await make_parallel_group(
      asio::co_spawn(executor, copy_direction(state, client, up.socket, std::move(client_pending)),
                     asio::deferred),
      asio::co_spawn(executor, copy_direction(state, up.socket, client, std::move(upstream_pending)),
                     asio::deferred))
      .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  co_return state.end;
}

}  // namespace sluice
