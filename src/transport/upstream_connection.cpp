#include "transport/upstream_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <span>

#include "common/duration.hpp"
#include "common/nothrow.hpp"
#include "net/bounded_io.hpp"
#include "net/race.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_contexts.hpp"
#include "net/tls_error.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class AnsweredEarlyCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.transport"; }
  std::string message(int) const override {
    return "the upstream answered before the request body was sent";
  }
};

// The upstream answered for real while the body is being sent: bytes that are not an interim
// 1xx (Go's transport keeps sending the body across a 100 or 102; read_head forwards those
// later), or the peer closed/reset. Nothing there is a spurious wake.
bool answered_before_body_end(ByteStream& s) {
  char head[12];
  boost::system::error_code ec;
  const std::size_t r = s.peek(asio::buffer(head), ec);
  if (would_block(ec)) return false;
  if (ec) return true;  // closed or reset
  const std::string_view got(head, r);
  if (got.size() < 10) {
    // Too few bytes to tell: an answer that begins like a status line is decided on the next
    // body write's wake; anything else is an answer (bad bytes, which read_head turns into 502).
    return !std::string_view("HTTP/1.").starts_with(
        got.substr(0, std::min<std::size_t>(got.size(), 7)));
  }
  const bool interim = got.starts_with("HTTP/1.") && got[8] == ' ' && got[9] == '1' &&
                       !got.substr(9).starts_with("101");
  return !interim;
}

}  // namespace

std::error_code answered_early() {
  static const AnsweredEarlyCategory category;
  return {1, category};
}

UpstreamConnection::UpstreamConnection(std::unique_ptr<ByteStream> s, std::string pool_key)
    : stream(std::move(s)), buffer(1 << 20), key(std::move(pool_key)) {}

asio::awaitable<WaitResult> wait_and_read(UpstreamConnection& up, RequestContext& ctx,
                                          bool watch_client, asio::steady_timer& timer,
                                          asio::mutable_buffer into) {
  // A read rather than a readiness wait: Asio re-arms epoll (epoll_ctl) for every readiness
  // wait, while a read that finds nothing is parked without a syscall.
  if (watch_client) {
    auto [order, rec, n, cec, tec, sec] =
        co_await race(timer, ctx.stop_signal(), up.stream->async_read_some(into, asio::deferred),
                      ctx.async_wait_client(asio::deferred));
    static constexpr Wake kWakes[] = {Wake::upstream, Wake::client, Wake::timer, Wake::stop};
    const bool read_done = rec != asio::error::operation_aborted;
    co_return WaitResult{kWakes[order[0]], read_done ? rec : boost::system::error_code{}, n};
  }
  auto [order, rec, n, tec, sec] =
      co_await race(timer, ctx.stop_signal(), up.stream->async_read_some(into, asio::deferred));
  static constexpr Wake kWakes[] = {Wake::upstream, Wake::timer, Wake::stop};
  const bool read_done = rec != asio::error::operation_aborted;
  co_return WaitResult{kWakes[order[0]], read_done ? rec : boost::system::error_code{}, n};
}

asio::awaitable<ConnectResult> connect_upstream(RequestContext& ctx, std::string host,
                                                std::string port, std::chrono::nanoseconds timeout,
                                                UpstreamTls* tls, std::string key,
                                                std::string_view alpn) {
  // What the error log names: "connect 127.0.0.1:9: Connection refused". Built on failure only.
  auto failed = [&host, &port](std::error_code ec, std::string_view step,
                               const std::string& reason) {
    return ConnectResult{ec, nullptr, std::string(step) + " " + host + ":" + port + ": " + reason};
  };
  auto timed_out = [timeout] { return "timed out after " + format_duration(timeout); };
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
    co_return failed(errc::upstream_connect_failed, "connect", "invalid port");
  }
  if (!literal_ec) {
    // An IP literal needs no resolver: the common case for an upstream, and the only one that
    // the timeout and the stop signal can always interrupt (see below).
    endpoints =
        tcp::resolver::results_type::create(tcp::endpoint(address, port_number), bare, port);
  } else {
    // Boost 1.81's async_resolve cannot be cancelled: the race still waits for getaddrinfo
    // to return, so a slow DNS server can delay the 504 past connect_timeout.
    tcp::resolver resolver(executor);
    auto [order, rec, found, tec, sec] =
        co_await race(timer, ctx.stop_signal(), resolver.async_resolve(bare, port, asio::deferred));
    const Winner w = winner_of(order);
    if (w.deadline()) co_return failed(errc::upstream_connect_timeout, "resolve", timed_out());
    if (w.stop()) co_return ConnectResult{aborted_error(), nullptr, {}};
    if (rec) co_return failed(errc::upstream_connect_failed, "resolve", rec.message());
    endpoints = std::move(found);
  }

  tcp::socket socket(executor);
  std::error_code failure;
  std::string reason;
  if (ctx.client_watchable()) {
    // SPEC 34: a client that leaves while we connect cancels the connect (Go dials with the
    // request's context). The client wait reports whether the client is really gone; a wake
    // that is not a close (readiness can be spurious) cancels nothing, so the connect the
    // upstream already accepted is never thrown away.
    auto client_closed = ctx.async_wait_client(asio::deferred([&ctx](boost::system::error_code ec) {
      // (A peer that closed completes the wait with eof: that is the news, not a failure.)
      return asio::deferred.values(ec,
                                   ec != asio::error::operation_aborted && ctx.client_gone_now());
    }));
    auto [order, cec, endpoint, wec, gone, tec, sec] = co_await race_unless_spurious(
        timer, ctx.stop_signal(), asio::async_connect(socket, endpoints, asio::deferred),
        client_closed);
    // The first operation to finish that was not a client wake that found the client still there.
    const std::size_t first = order[0] == 1 && !gone ? order[1] : order[0];
    if (first == 1) failure = errc::client_gone;
    if (first == 2) failure = errc::upstream_connect_timeout;
    if (first == 3) failure = aborted_error();
    if (first == 0 && cec) failure = errc::upstream_connect_failed;
    if (first == 0 && cec) reason = cec.message();
  } else {
    auto [order, cec, endpoint, tec, sec] = co_await race(
        timer, ctx.stop_signal(), asio::async_connect(socket, endpoints, asio::deferred));
    const Winner w = winner_of(order);
    if (w.deadline()) failure = errc::upstream_connect_timeout;
    if (w.stop()) failure = aborted_error();
    if (w.is(0) && cec) failure = errc::upstream_connect_failed;
    if (w.is(0) && cec) reason = cec.message();
  }
  if (failure == errc::upstream_connect_timeout) reason = timed_out();
  if (failure == errc::client_gone) reason = "the client left first";
  if (failure) co_return failed(failure, "connect", reason);

  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (tls == nullptr) {
    auto conn = std::make_unique<UpstreamConnection>(std::make_unique<TcpStream>(std::move(socket)),
                                                     std::move(key));
    co_return ConnectResult{std::error_code{}, std::move(conn), {}};
  }
  auto stream = tls->impl().connect(std::move(socket), host, key);
  if (!stream) {
    co_return failed(errc::upstream_connect_failed, "TLS setup for",
                     describe_tls_failure("SSL object"));
  }
  if (!alpn.empty()) {
    SSL_set_alpn_protos(stream->native_handle(),
                        reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  }
  auto [order, hec, tec, sec] =
      co_await race(timer, ctx.stop_signal(), stream->async_handshake(asio::deferred));
  const Winner w = winner_of(order);
  if (w.deadline())
    co_return failed(errc::upstream_connect_timeout, "TLS handshake with", timed_out());
  if (w.stop()) co_return ConnectResult{aborted_error(), nullptr, {}};
  if (hec) co_return failed(to_std(hec), "TLS handshake with", hec.message());
  if (stream->session_reused()) tls->impl().resumed.fetch_add(1);
  co_return ConnectResult{std::error_code{},
                          std::make_unique<UpstreamConnection>(std::move(stream), std::move(key)),
                          {}};
}

asio::awaitable<std::error_code> write_upstream(UpstreamConnection& up, RequestContext& ctx,
                                                const std::vector<asio::const_buffer>& buffers,
                                                std::chrono::nanoseconds timeout,
                                                bool stop_if_answered) {
  ByteStream& stream = *up.stream;
  BufferCursor cursor(std::span<const asio::const_buffer>(buffers.data(), buffers.size()));
  boost::system::error_code ec;
  // The stream is non-blocking: most writes complete at once, with no timer and no race.
  std::size_t sent = write_now(stream, cursor, ec);
  if (sent == cursor.total()) co_return std::error_code{};
  if (ec && !would_block(ec)) {
    // An upstream that answered and closed (a 413, say) is relayed, not reported as a failed
    // write.
    if (stop_if_answered && answered_before_body_end(stream)) co_return answered_early();
    co_return to_std(ec);
  }
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  deadline.expires_after(timeout);
  // Each round writes at least a byte, or ends; the deadline bounds the rounds.
  while (sent < cursor.total()) {
    if (stop_if_answered) {
      // A spurious answer wake (the upstream sent a 100 or 102, which read_head forwards
      // later) lets the write go on: the readiness of those bytes says nothing new until they
      // are read, so the rest of this write does not watch for answers again.
      auto answered = stream.async_wait(
          ByteStream::Ready::read, asio::deferred([&stream](boost::system::error_code wec) {
            return asio::deferred.values(wec, !wec && answered_before_body_end(stream));
          }));
      auto [order, wec, n, aec, real, dec, sec] = co_await race_unless_spurious(
          deadline, ctx.stop_signal(), stream.async_write_some(cursor.rest(), asio::deferred),
          std::move(answered));
      sent += n;
      cursor.consume(n);
      const std::size_t first = order[0] == 1 && !real ? order[1] : order[0];
      if (first == 1) co_return answered_early();
      if (first == 2) co_return to_std(asio::error::timed_out);
      if (first == 3) co_return aborted_error();
      if (wec) co_return to_std(wec);
      if (order[0] == 1) stop_if_answered = false;
      continue;
    }
    auto [order, wec, n, dec, sec] = co_await race(
        deadline, ctx.stop_signal(), stream.async_write_some(cursor.rest(), asio::deferred));
    sent += n;
    cursor.consume(n);
    const Winner w = winner_of(order);
    if (w.deadline()) co_return to_std(asio::error::timed_out);
    if (w.stop()) co_return aborted_error();
    if (wec) co_return to_std(wec);
  }
  co_return std::error_code{};
}

}  // namespace sluice
