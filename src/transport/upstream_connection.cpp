#include "transport/upstream_connection.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/connect.hpp>
#include <charconv>
#include <span>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "common/nothrow.hpp"
#include "sluice/error.hpp"
#include "sluice/exchange.hpp"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

namespace {

// parallel_group cancellation condition: every completion ends the race, except a readiness
// wait that turned out spurious: its second value (`real`: the client is gone, the upstream
// has bytes or closed) is false.
struct CancelUnlessSpurious {
  template <typename... Args>
  asio::cancellation_type_t operator()(const Args&...) const {
    return asio::cancellation_type::all;
  }
  asio::cancellation_type_t operator()(boost::system::error_code, bool real) const {
    return real ? asio::cancellation_type::all : asio::cancellation_type::none;
  }
};

// The upstream answered for real while the body is being sent: bytes that are not an interim
// 1xx (Go's transport keeps sending the body across a 100 or 102; read_head forwards those
// later), or the peer closed/reset. EAGAIN is a spurious wake.
bool answered_before_body_end(tcp::socket& s) {
  char head[12];
  const ssize_t r = ::recv(s.native_handle(), head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (r < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  if (r == 0) return true;
  const std::string_view got(head, static_cast<std::size_t>(r));
  if (got.size() < 10) {
    // Too few bytes to tell: an answer that begins like a status line is decided on the next
    // body write's wake; anything else is an answer (bad bytes, which read_head turns into 502).
    return !std::string_view("HTTP/1.").starts_with(got.substr(0, std::min<std::size_t>(got.size(), 7)));
  }
  const bool interim = got.starts_with("HTTP/1.") && got[8] == ' ' && got[9] == '1' &&
                       !got.substr(9).starts_with("101");
  return !interim;
}

}  // namespace

UpstreamConnection::UpstreamConnection(tcp::socket&& s, std::string pool_key)
    : socket(std::move(s)), buffer(1 << 20), key(std::move(pool_key)) {}

asio::awaitable<WaitResult> wait_and_read(UpstreamConnection& up, Exchange& ex, bool watch_client,
                                          asio::steady_timer& timer, asio::mutable_buffer into) {
  // parallel_group waits for the losers' cancellations to complete before it returns, which
  // is what makes the timer and `into` safe: no handler runs after this frame moves on.
  if (watch_client) {
    char peeked = 0;
    const asio::mutable_buffer peek_into = asio::buffer(&peeked, 1);
    auto [order, rec, n, cec, cn, tec, sec] =
        co_await make_parallel_group(
            up.socket.async_read_some(into, asio::deferred),
            ex.client_socket().async_receive(peek_into, tcp::socket::message_peek, asio::deferred),
            timer.async_wait(asio::deferred), ex.stop_signal().async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    static constexpr Wake kWakes[] = {Wake::upstream, Wake::client, Wake::timer, Wake::stop};
    const bool read_done = rec != asio::error::operation_aborted;
    co_return WaitResult{kWakes[order[0]], read_done ? rec : boost::system::error_code{}, n};
  }
  auto [order, rec, n, tec, sec] =
      co_await make_parallel_group(up.socket.async_read_some(into, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   ex.stop_signal().async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  static constexpr Wake kWakes[] = {Wake::upstream, Wake::timer, Wake::stop};
  const bool read_done = rec != asio::error::operation_aborted;
  co_return WaitResult{kWakes[order[0]], read_done ? rec : boost::system::error_code{}, n};
}

asio::awaitable<Wake> wait_readable(UpstreamConnection& up, Exchange& ex, bool watch_client,
                                    asio::steady_timer& timer) {
  if (watch_client) {
    char peeked = 0;
    const asio::mutable_buffer peek_into = asio::buffer(&peeked, 1);
    auto [order, uec, cec, cn, tec, sec] =
        co_await make_parallel_group(
            up.socket.async_wait(tcp::socket::wait_read, asio::deferred),
            ex.client_socket().async_receive(peek_into, tcp::socket::message_peek, asio::deferred),
            timer.async_wait(asio::deferred), ex.stop_signal().async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    static constexpr Wake kWakes[] = {Wake::upstream, Wake::client, Wake::timer, Wake::stop};
    co_return kWakes[order[0]];
  }
  auto [order, uec, tec, sec] =
      co_await make_parallel_group(up.socket.async_wait(tcp::socket::wait_read, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   ex.stop_signal().async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  static constexpr Wake kWakes[] = {Wake::upstream, Wake::timer, Wake::stop};
  co_return kWakes[order[0]];
}

std::pair<boost::system::error_code, std::size_t> read_available(UpstreamConnection& up,
                                                                std::size_t max) {
  boost::system::error_code ec;
  auto room = up.buffer.max_size() - up.buffer.size();
  if (room == 0) return {asio::error::no_buffer_space, 0};
  std::size_t n = up.socket.read_some(up.buffer.prepare(std::min(max, room)), ec);
  up.buffer.commit(n);
  return {ec, n};
}

asio::awaitable<std::pair<std::error_code, std::unique_ptr<UpstreamConnection>>> connect_upstream(
    Exchange& ex, std::string host, std::string port,
    std::chrono::nanoseconds timeout) {
  using Result = std::pair<std::error_code, std::unique_ptr<UpstreamConnection>>;
  auto executor = co_await asio::this_coro::executor;
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  asio::steady_timer timer(executor);
  timer.expires_after(timeout);
  tcp::resolver::results_type endpoints;
  boost::system::error_code literal_ec;
  const auto address = asio::ip::make_address(bare, literal_ec);
  unsigned short port_number = 0;
  // A rewrite hook may have put anything in out.url: a bad port is a failed connect, not a throw.
  if (auto [end, pec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
      pec != std::errc{} || end != port.data() + port.size() || port_number == 0) {
    co_return Result{errc::upstream_connect_failed, nullptr};
  }
  if (!literal_ec) {
    // An IP literal needs no resolver: the common case for an upstream, and the only one that
    // the timeout and the stop signal can always interrupt (see below).
    endpoints = tcp::resolver::results_type::create(tcp::endpoint(address, port_number), bare, port);
  } else {
    // Boost 1.81's async_resolve cannot be cancelled: the group still waits for getaddrinfo
    // to return, so a slow DNS server can delay the 504 past connect_timeout.
    tcp::resolver resolver(executor);
    auto [order, rec, found, tec, sec] =
        co_await make_parallel_group(resolver.async_resolve(bare, port, asio::deferred),
                                     timer.async_wait(asio::deferred),
                                     ex.stop_signal().async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    if (order[0] == 1) co_return Result{errc::upstream_connect_timeout, nullptr};
    if (order[0] == 2) co_return Result{aborted_error(), nullptr};
    if (rec) co_return Result{errc::upstream_connect_failed, nullptr};
    endpoints = std::move(found);
  }

  tcp::socket socket(executor);
  std::error_code failure;
  if (ex.client_watchable()) {
    // SPEC 34: a client that leaves while we connect cancels the connect (Go dials with the
    // request's context). The client wait reports whether the client is really gone; a wake
    // that is not a close (readiness can be spurious) cancels nothing, so the connect the
    // upstream already accepted is never thrown away.
    auto client_closed = ex.client_socket().async_wait(
        tcp::socket::wait_read, asio::deferred([&ex](boost::system::error_code ec) {
          return asio::deferred.values(ec, !ec && ex.client_gone_now());
        }));
    auto [order, cec, endpoint, wec, gone, tec, sec] =
        co_await make_parallel_group(asio::async_connect(socket, endpoints, asio::deferred),
                                     std::move(client_closed), timer.async_wait(asio::deferred),
                                     ex.stop_signal().async_wait(asio::deferred))
            .async_wait(CancelUnlessSpurious{}, asio::use_awaitable);
    // The first operation to finish that was not a client wake that found the client still there.
    const std::size_t first = order[0] == 1 && !gone ? order[1] : order[0];
    if (first == 1) failure = errc::client_gone;
    if (first == 2) failure = errc::upstream_connect_timeout;
    if (first == 3) failure = aborted_error();
    if (first == 0 && cec) failure = errc::upstream_connect_failed;
  } else {
    auto [order, cec, endpoint, tec, sec] =
        co_await make_parallel_group(asio::async_connect(socket, endpoints, asio::deferred),
                                     timer.async_wait(asio::deferred),
                                     ex.stop_signal().async_wait(asio::deferred))
            .async_wait(wait_for_one(), asio::use_awaitable);
    if (order[0] == 1) failure = errc::upstream_connect_timeout;
    if (order[0] == 2) failure = aborted_error();
    if (order[0] == 0 && cec) failure = errc::upstream_connect_failed;
  }
  if (failure) co_return Result{failure, nullptr};

  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);
  auto conn = std::make_unique<UpstreamConnection>(std::move(socket), host + ":" + port);
  co_return Result{std::error_code{}, std::move(conn)};
}

asio::awaitable<std::error_code> write_upstream(UpstreamConnection& up, Exchange& ex,
                                                const std::vector<asio::const_buffer>& buffers,
                                                std::chrono::nanoseconds timeout,
                                                bool stop_if_answered) {
  // The socket is non-blocking: most writes complete at once, with no timer and no race.
  // Bounded: each try either progresses or stops.
  const std::size_t total = asio::buffer_size(buffers);
  // A view, not a copy: `buffers` outlives this call.
  boost::beast::buffers_suffix<std::span<const asio::const_buffer>> rest(
      std::span<const asio::const_buffer>(buffers.data(), buffers.size()));
  std::size_t sent = 0;
  boost::system::error_code sec_try;
  for (int tries = 0; tries < 4 && sent < total; ++tries) {
    const std::size_t n = up.socket.send(rest, 0, sec_try);
    sent += n;
    rest.consume(n);
    if (sec_try || n == 0) break;
  }
  if (sent == total) co_return std::error_code{};
  if (sec_try && sec_try != asio::error::would_block && sec_try != asio::error::try_again) {
    // An upstream that answered and closed (a 413, say) is relayed, not reported as a failed
    // write.
    if (stop_if_answered && answered_before_body_end(up.socket)) {
      co_return make_error_code(errc::upstream_answered_early);
    }
    co_return to_std(sec_try);
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  if (stop_if_answered) {
    auto answered = up.socket.async_wait(
        tcp::socket::wait_read, asio::deferred([&up](boost::system::error_code ec) {
          return asio::deferred.values(ec, !ec && answered_before_body_end(up.socket));
        }));
    auto [order, wec, n, aec, real, tec, sec] =
        co_await make_parallel_group(asio::async_write(up.socket, rest, asio::deferred),
                                     std::move(answered), timer.async_wait(asio::deferred),
                                     ex.stop_signal().async_wait(asio::deferred))
            .async_wait(CancelUnlessSpurious{}, asio::use_awaitable);
    const std::size_t first = order[0] == 1 && !real ? order[1] : order[0];
    if (first == 1) co_return make_error_code(errc::upstream_answered_early);
    if (first == 2) co_return to_std(asio::error::timed_out);
    if (first == 3) co_return aborted_error();
    co_return to_std(wec);
  }
  auto [order, wec, n, tec, sec] =
      co_await make_parallel_group(asio::async_write(up.socket, rest, asio::deferred),
                                   timer.async_wait(asio::deferred),
                                   ex.stop_signal().async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  if (order[0] == 1) co_return to_std(asio::error::timed_out);
  if (order[0] == 2) co_return aborted_error();
  co_return to_std(wec);
}

}  // namespace sluice
