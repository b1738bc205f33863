#include "proxy/tunnel.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/nothrow.hpp"
#include "net/bounded_io.hpp"
#include "net/race.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kTunnelBuffer = 16 * 1024;

// What both directions share. One io_context thread runs both: no lock needed.
struct TunnelState {
  std::chrono::nanoseconds idle_timeout;
  StopSignal& stop;
  Clock::time_point last_activity = Clock::now();
  bool finished = false;  // one direction failed or timed out: the other must stop too
  TunnelEnd end = TunnelEnd::closed;

  void fail(TunnelEnd why, ByteStream& a, ByteStream& b) {
    if (!finished) end = why;
    finished = true;
    // Shutting both streams down wakes the other direction's wait: it reads EOF and ends.
    a.shutdown_both();
    b.shutdown_both();
  }
};

// Writes all of `data` to `to` within the idle timeout, racing the stop signal: a peer that
// stops reading cannot pin the tunnel, even after the other direction ended (a half-closed
// client that never reads, an upstream that stopped reading). Cancelling a half-done write is
// harmless: the tunnel is being torn down then. False when the tunnel must end.
asio::awaitable<bool> write_bounded(TunnelState& state, ByteStream& from, ByteStream& to,
                                    asio::const_buffer data) {
  const std::array<asio::const_buffer, 1> bufs{data};
  auto [ec, n] = co_await write_within(to, bufs, state.idle_timeout, state.stop);
  if (ec == asio::error::timed_out) {
    state.fail(TunnelEnd::idle_timeout, from, to);
    co_return false;
  }
  if (ec == asio::error::operation_aborted) {
    state.fail(TunnelEnd::shutdown, from, to);
    co_return false;
  }
  if (ec) {
    state.fail(TunnelEnd::error, from, to);
    co_return false;
  }
  state.last_activity = Clock::now();
  co_return true;
}

// Copies `from` -> `to` until EOF on `from` (then half-closes `to`), an error, the idle timeout
// or the stop signal. Each round waits once and reads once: bounded by the bytes and the timer.
asio::awaitable<void> copy_direction(TunnelState& state, ByteStream& from, ByteStream& to,
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
        co_await race(idle, state.stop, from.async_wait(ByteStream::Ready::read, asio::deferred));
    const Winner w = winner_of(order);
    if (w.stop()) {
      state.fail(TunnelEnd::shutdown, from, to);
      co_return;
    }
    if (w.deadline()) {
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
    if (would_block(rec)) continue;
    if (rec == asio::error::eof) {
      // SPEC 37 (Go 1.23+): half-close. The peer learns this side is done; the other
      // direction goes on until it ends too.
      to.shutdown_write();
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

asio::awaitable<TunnelEnd> run_tunnel(ByteStream& client, std::string client_pending,
                                      ByteStream& upstream, std::string upstream_pending,
                                      std::chrono::nanoseconds idle_timeout, StopSignal& stop) {
  TunnelState state{idle_timeout, stop};
  auto executor = co_await asio::this_coro::executor;
  // Both directions are joined: neither coroutine outlives this frame (STYLE §4.3).
  co_await asio::experimental::make_parallel_group(
      asio::co_spawn(executor, copy_direction(state, client, upstream, std::move(client_pending)),
                     asio::deferred),
      asio::co_spawn(executor, copy_direction(state, upstream, client, std::move(upstream_pending)),
                     asio::deferred))
      .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  co_return state.end;
}

}  // namespace sluice
