#pragma once
// One client connection: read a request head (limits, deadlines), hand an Exchange to the
// handler, repeat while keep-alive allows (SPEC R24, R25, L7).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <list>

#include <memory>

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

// Starts a session on a connection: a new one (counted now, SPEC L2), or a parked keep-alive
// connection whose next request began to arrive (`resumed`: it keeps the parked count).
void spawn_session(std::unique_ptr<ByteStream> stream, SessionEnv& env,
                   boost::asio::ip::tcp::endpoint remote, bool resumed);

}  // namespace sluice::detail
