#pragma once
// The two-way byte tunnel after a 101 Switching Protocols (SPEC 36, 37): client <-> upstream
// until both directions ended. A half-close on one side is passed on with shutdown_write (Go
// 1.23+'s CloseWrite); an error on either side, the idle timeout or the server's stop ends
// both. Bytes already buffered on either side at the switch are delivered first.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "net/byte_stream.hpp"
#include "sluice/stop_signal.hpp"

namespace sluice {

enum class TunnelEnd {
  closed,        // both directions reached EOF (or one closed and the other followed)
  error,         // a read or write failed (reset): both sides were closed
  idle_timeout,  // no byte in either direction within the idle timeout
  shutdown,      // the server stopped
};

// Each side's `pending`: the bytes already read from it, delivered to the other side first.
// (Plain parameters: g++ 12 mishandles an aggregate coroutine parameter that holds a
// reference and a string, docs/architecture.md "Coroutine conventions".)
boost::asio::awaitable<TunnelEnd> run_tunnel(ByteStream& client, std::string client_pending,
                                             ByteStream& upstream, std::string upstream_pending,
                                             std::chrono::nanoseconds idle_timeout,
                                             StopSignal& stop);

}  // namespace sluice
