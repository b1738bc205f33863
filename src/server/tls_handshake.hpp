#pragma once
// The start of a TLS client connection: its first bytes and its handshake, within
// header_timeout (a client that stalls mid-handshake is closed then, and holds nothing but its
// socket and its SSL object meanwhile), raced with the server's stop. A graceful stop closes a
// connection that is still handshaking, as it closes an idle one.
//
// Plain HTTP sent to the TLS port is answered in clear text with a 400, as nginx does, and
// closed; the listener goes on serving.
#include <boost/asio/awaitable.hpp>

#include "net/tls_stream.hpp"
#include "server/session_io.hpp"

namespace sluice::detail {

enum class TlsStart {
  ready,       // the connection is ready for its first request
  plain_http,  // plain HTTP came: answered with a 400 (the session logs it), to be closed
  failed,      // timed out, stopped, not TLS, or the handshake failed: to be closed
};
boost::asio::awaitable<TlsStart> start_tls(SessionIo& io, TlsStream& tls);

}  // namespace sluice::detail
