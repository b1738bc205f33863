#include "proxy/splice_relay.hpp"

#include <fcntl.h>

#include <algorithm>
#include <boost/asio/deferred.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <system_error>

#include "common/nothrow.hpp"
#include "net/byte_stream.hpp"
#include "net/race.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// One pass moves at most this much before it is handed on (the pipe holds about as much).
constexpr std::size_t kPassBytes = 1 << 20;
// Passes that never had to wait, in a row, before yielding to the worker's other connections.
constexpr int kPassesBeforeYield = 16;

enum class Woke { upstream, client, timer, stop };

// Waits until the upstream is readable (the kernel then moves the bytes), the client may have
// left, the flush timer fires or the server stops.
asio::awaitable<Woke> wait_readable(Exchange& ex, ByteStream& upstream, FlushWriter& flush) {
  if (ex.client_watchable()) {
    auto [order, uec, cec, tec, sec] =
        co_await race(flush.timer(), ex.stop_signal(),
                      upstream.async_wait(ByteStream::Ready::read, asio::deferred),
                      ex.async_wait_client(asio::deferred));
    static constexpr Woke kWoke[] = {Woke::upstream, Woke::client, Woke::timer, Woke::stop};
    co_return kWoke[order[0]];
  }
  auto [order, uec, tec, sec] =
      co_await race(flush.timer(), ex.stop_signal(),
                    upstream.async_wait(ByteStream::Ready::read, asio::deferred));
  static constexpr Woke kWoke[] = {Woke::upstream, Woke::timer, Woke::stop};
  co_return kWoke[order[0]];
}

}  // namespace

asio::awaitable<PumpResult> splice_body(Exchange& ex, detail::SpliceSink& sink,
                                        detail::SpliceSource& source, FlushWriter& flush,
                                        std::chrono::nanoseconds idle_timeout, SplicePipe& pipe) {
  // What was held (the head, a first piece of body) goes out before the spliced bytes.
  const auto flushed = co_await ex.flush();
  flush.settle();  // the chunks copied before the splice took over are delivered now
  if (flushed) co_return PumpResult{PumpEnd::client_gone, flushed};
  const auto executor = ex.executor();
  auto last_progress = Clock::now();
  int busy_passes = 0;
  const int upstream_fd = source.fd();

  // Each round fills the pipe from the upstream, empties it to the client, or waits once: the
  // body's length and the idle timeout bound the loop.
  for (;;) {
    if (source.remaining() == 0 && pipe.held == 0) co_return PumpResult{PumpEnd::complete, {}};
    bool upstream_dry = false;
    bool upstream_eof = false;
    if (source.remaining() > 0) {
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(source.remaining(), kPassBytes));
      const ssize_t got = ::splice(upstream_fd, nullptr, pipe.write_fd(), nullptr, want,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (got > 0) {
        pipe.held += static_cast<std::size_t>(got);
        source.consumed(static_cast<std::uint64_t>(got));
        last_progress = Clock::now();
      } else if (got == 0) {
        upstream_eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Nothing from the upstream, or the pipe is full: emptying it comes first either way.
        upstream_dry = pipe.held == 0;
      } else if (errno != EINTR) {
        co_return PumpResult{PumpEnd::upstream_error,
                             std::error_code(errno, std::system_category())};
      }
    }
    if (pipe.held > 0) {
      // Bytes that arrived before an upstream end still reach the client first.
      const std::size_t n = pipe.held;
      const auto ec = co_await sink.write_body_spliced(pipe.read_fd(), n);
      if (ec) co_return PumpResult{PumpEnd::client_gone, ec};
      pipe.held = 0;
    }
    // A close-delimited body never comes here: this body had a length, so an end is a cut.
    if (upstream_eof)
      co_return PumpResult{PumpEnd::upstream_error, make_error_code(errc::upstream_closed)};
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
    const auto idle_deadline = arm_wait(flush, idle_timeout, last_progress);
    const Woke woke = co_await wait_readable(ex, source.stream(), flush);
    switch (woke) {
      case Woke::stop: co_return PumpResult{PumpEnd::shutdown, aborted_error()};
      case Woke::client:
        if (ex.client_gone_now())
          co_return PumpResult{PumpEnd::client_gone, make_error_code(errc::client_gone)};
        continue;
      case Woke::timer: {
        auto ended = co_await after_timer(flush, idle_deadline);
        if (ended) co_return *ended;
        continue;
      }
      case Woke::upstream: continue;
    }
  }
}

}  // namespace sluice
