#pragma once
// Client-socket I/O that must progress within a timeout and ends when the server stops (SPEC
// L7, R35). The socket is non-blocking, so each operation is first tried at once; only what
// would block races a timer and the session's stop signal, and every racer has finished when
// these return. A timeout is asio::error::timed_out, a stop operation_aborted; the caller then
// cuts the connection (a write or read cancelled half-way leaves it unusable).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <span>
#include <system_error>
#include <utility>

#include "server/session_io.hpp"

namespace sluice::detail {

using IoResult = std::pair<boost::system::error_code, std::size_t>;

// Writes all of `data`; the count is what was written, also on an error.
boost::asio::awaitable<IoResult> write_within(SessionIo& io,
                                              std::span<const boost::asio::const_buffer> data,
                                              std::chrono::nanoseconds timeout);

// Reads what arrives first (at least one byte, or an error such as eof).
boost::asio::awaitable<IoResult> read_within(SessionIo& io, boost::asio::mutable_buffer into,
                                             std::chrono::nanoseconds timeout);

// Waits until the socket has room for more bytes.
boost::asio::awaitable<std::error_code> wait_writable_within(SessionIo& io,
                                                             std::chrono::nanoseconds timeout);

}  // namespace sluice::detail
