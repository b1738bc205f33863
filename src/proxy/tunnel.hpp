#pragma once
// The two-way byte tunnel after a 101 Switching Protocols (SPEC 36, 37): client <-> upstream
// until both directions ended. A half-close on one side is passed on with shutdown(SHUT_WR)
// (Go 1.23+'s CloseWrite); an error on either side, the idle timeout or the server's stop ends
// both. Bytes already buffered on either side at the switch are delivered first.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "sluice/exchange.hpp"
#include "transport/upstream_connection.hpp"

namespace sluice {

enum class TunnelEnd {
  closed,        // both directions reached EOF (or one closed and the other followed)
  error,         // a read or write failed (reset): both sides were closed
  idle_timeout,  // no byte in either direction within the idle timeout
  shutdown,      // the server stopped
};

// `client_pending`: bytes the client sent after its request head, already read by the session.
// Upstream bytes after the 101 head are in up.buffer.
boost::asio::awaitable<TunnelEnd> run_tunnel(Exchange& ex, UpstreamConnection& up,
                                             std::string client_pending,
                                             std::chrono::nanoseconds idle_timeout);

}  // namespace sluice
