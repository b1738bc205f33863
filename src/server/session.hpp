#pragma once
// One client connection: read a request head (limits, deadlines), hand an Exchange to the
// handler, repeat while keep-alive allows (SPEC R24, R25, L7).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <optional>

#include "net/byte_stream.hpp"
#include "server/idle_sessions.hpp"
#include "server/session_io.hpp"
#include "sluice/server.hpp"

namespace sluice::detail {

// What every session of one worker shares. Touched only on that worker's thread, except
// `on_session_end`, which the server uses to wake its stop sequence.
struct SessionEnv {
  const ServerOptions& options;
  const Handler& handler;
  std::list<SessionIo*>& registry;  // live sessions of this worker, for the stop sequence
  IdleSessions& idle;               // its parked keep-alive connections
  std::function<void(int delta)> on_session_count;
};

// How a session starts on its connection.
struct SessionStart {
  // A parked keep-alive connection whose next request began to arrive: no TLS handshake, and
  // not a first request.
  bool resumed = false;
  // Its place in the session count (SPEC L2) is taken already (it was parked).
  bool counted = false;
  // Bytes are there: read before waiting.
  bool readable = false;
  // A new connection's first request head (and TLS handshake) must be whole by then: accepted
  // + header_timeout (SPEC L7, R34). Unset: header_timeout from the session's start.
  std::optional<std::chrono::steady_clock::time_point> first_deadline;
};

// An accepted client socket as the session reads it: a TlsStream on a TLS listener (null when
// its SSL object could not be made; the socket is closed then), else a TcpStream.
std::unique_ptr<ByteStream> client_stream(boost::asio::ip::tcp::socket socket,
                                          const ServerOptions& options);

// Starts a session on a connection: a new one, or a parked one whose bytes arrived.
void spawn_session(std::unique_ptr<ByteStream> stream, SessionEnv& env,
                   boost::asio::ip::tcp::endpoint remote, SessionStart start);

}  // namespace sluice::detail
