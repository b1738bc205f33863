#include "proxy/splice_relay.hpp"

#include <fcntl.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <system_error>

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// One pass moves at most this much before it is handed on (the pipe holds about as much).
constexpr std::size_t kPassBytes = 1 << 20;
// Passes that never had to wait, in a row, before yielding to the worker's other connections.
constexpr int kPassesBeforeYield = 16;
}  // namespace

asio::awaitable<PumpResult> splice_body(Exchange& ex, UpstreamConnection& up, FlushWriter& flush,
                                        const TransportOptions& options, std::uint64_t remaining,
                                        SplicePipe& pipe) {
  // What was held (the head, a first piece of body) goes out before the spliced bytes.
  const auto flushed = co_await ex.flush();
  if (flushed) co_return PumpResult{PumpEnd::client_gone, flushed.message()};
  const auto executor = ex.executor();
  auto last_progress = Clock::now();
  int busy_passes = 0;
  const int upstream_fd = up.socket.native_handle();

  // Each round fills the pipe from the upstream, empties it to the client, or waits once: the
  // body's length and the idle timeout bound the loop.
  for (;;) {
    if (remaining == 0 && pipe.held == 0) co_return PumpResult{PumpEnd::complete, {}};
    bool upstream_dry = false;
    bool upstream_eof = false;
    if (remaining > 0) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kPassBytes));
      const ssize_t got = ::splice(upstream_fd, nullptr, pipe.write_fd(), nullptr, want,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (got > 0) {
        pipe.held += static_cast<std::size_t>(got);
        remaining -= static_cast<std::uint64_t>(got);
        last_progress = Clock::now();
      } else if (got == 0) {
        upstream_eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Nothing from the upstream, or the pipe is full: emptying it comes first either way.
        upstream_dry = pipe.held == 0;
      } else if (errno != EINTR) {
        const std::error_code ec(errno, std::system_category());
        co_return PumpResult{PumpEnd::upstream_error, "upstream splice: " + ec.message()};
      }
    }
    if (pipe.held > 0) {
      // Bytes that arrived before an upstream end still reach the client first.
      const std::size_t n = pipe.held;
      const auto ec = co_await ex.write_body_spliced(pipe.read_fd(), n);
      if (ec) co_return PumpResult{PumpEnd::client_gone, ec.message()};
      pipe.held = 0;
    }
    // A close-delimited body never comes here: this body had a length, so an end is a cut.
    if (upstream_eof) co_return PumpResult{PumpEnd::upstream_error, "upstream closed mid-body"};
    if (!upstream_dry) {
      if (++busy_passes >= kPassesBeforeYield) {
        busy_passes = 0;
        co_await asio::post(executor, asio::use_awaitable);
      }
      continue;
    }

    // Nothing ready: wait for the upstream, the client leaving, a flush falling due (bytes the
    // writer still held: none here, but its timer is the one to wait on), or the idle limit.
    busy_passes = 0;
    const auto idle_deadline = arm_wait(flush, options, last_progress);
    const Wake wake = co_await wait_readable(up, ex, ex.client_watchable(), flush.timer());
    switch (wake) {
      case Wake::stop:
        co_return PumpResult{PumpEnd::shutdown, {}};
      case Wake::client:
        if (ex.client_gone_now()) co_return PumpResult{PumpEnd::client_gone, "client closed"};
        continue;
      case Wake::timer: {
        auto ended = co_await after_timer(flush, idle_deadline);
        if (ended) co_return std::move(*ended);
        continue;
      }
      case Wake::upstream:
        continue;
    }
  }
}

}  // namespace sluice
