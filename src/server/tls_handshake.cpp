#include "server/tls_handshake.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string_view>

#include "net/race.hpp"

namespace sluice::detail {

namespace asio = boost::asio;

namespace {

// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, content type 22).
constexpr unsigned char kHandshakeRecord = 0x16;

constexpr std::string_view kPlainHttpAnswer =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 49\r\n"
    "Connection: close\r\n\r\nThe plain HTTP request was sent to an HTTPS port\n";
static_assert(kPlainHttpAnswer.size() - kPlainHttpAnswer.find("\r\n\r\n") - 4 == 49);

// One non-blocking send, then FIN: the answer fits in any socket buffer; a client that sent
// more than the kernel holds gets a reset instead, which is also a clean end.
void answer_plain_http(TlsStream& tls) {
  const int fd = tls.socket().native_handle();
  [[maybe_unused]] const auto sent =
      ::send(fd, kPlainHttpAnswer.data(), kPlainHttpAnswer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  // Drain what the client already sent (bounded), so that closing does not turn into a reset
  // that could destroy the answer before the client reads it.
  std::array<char, 4096> sink;
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) <= 0) break;
  }
}

}  // namespace

asio::awaitable<TlsStart> start_tls(SessionIo& io, TlsStream& tls) {
  asio::steady_timer deadline(tls.get_executor());
  // A new connection's handshake counts from its accept (it may have waited parked for its
  // first byte), else from now.
  if (io.first_deadline) {
    deadline.expires_at(*io.first_deadline);
  } else {
    deadline.expires_after(io.options.header_timeout);
  }
  io.idle = true;  // nothing of a request yet: a graceful stop may close it

  unsigned char first = 0;
  boost::system::error_code pec;
  // The ClientHello has usually arrived by the time the connection is accepted: look first.
  if (tls.peek_raw(asio::buffer(&first, 1), pec) != 1) {
    if (!would_block(pec)) co_return TlsStart::failed;
    auto [order, wec, dec, sec] = co_await race(
        deadline, io.stop_signal, tls.async_wait(ByteStream::Ready::read, asio::deferred));
    if (!winner_of(order).is(0) || wec || io.stopping || io.draining) co_return TlsStart::failed;
    if (tls.peek_raw(asio::buffer(&first, 1), pec) != 1) co_return TlsStart::failed;
  }
  if (first != kHandshakeRecord) {
    if (first < 'A' || first > 'Z') co_return TlsStart::failed;
    answer_plain_http(tls);
    co_return TlsStart::plain_http;
  }

  auto [horder, hec, hdec, hsec] =
      co_await race(deadline, io.stop_signal, tls.async_handshake(asio::deferred));
  const bool ready = winner_of(horder).is(0) && !hec && !io.stopping && !io.draining;
  co_return ready ? TlsStart::ready : TlsStart::failed;
}

}  // namespace sluice::detail
