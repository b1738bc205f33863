#pragma once
// I/O on a ByteStream that must progress within a timeout and ends when the server stops (SPEC
// L7, R35). Each operation is first tried at once; only what would block races a deadline and
// the stop signal (net/race.hpp). A timeout is asio::error::timed_out, a stop operation_aborted;
// the caller then cuts the connection (a write cancelled half-way leaves it unusable).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <span>
#include <system_error>
#include <utility>

#include "net/byte_stream.hpp"
#include "sluice/stop_signal.hpp"

namespace sluice {

using IoResult = std::pair<boost::system::error_code, std::size_t>;

// Writes all of `data` (at most 8 buffers); the count is what was written, also on an error.
boost::asio::awaitable<IoResult> write_within(ByteStream& stream,
                                              std::span<const boost::asio::const_buffer> data,
                                              std::chrono::nanoseconds timeout, StopSignal& stop);

// Reads what arrives first (at least one byte, or an error such as eof).
boost::asio::awaitable<IoResult> read_within(ByteStream& stream, boost::asio::mutable_buffer into,
                                             std::chrono::nanoseconds timeout, StopSignal& stop);

// Waits until the stream has room for more bytes.
boost::asio::awaitable<std::error_code> wait_writable_within(ByteStream& stream,
                                                             std::chrono::nanoseconds timeout,
                                                             StopSignal& stop);

// The buffers of a gathered write that are still to go, without copying a byte.
class BufferCursor {
 public:
  static constexpr std::size_t kMaxBuffers = 8;
  // Takes at most kMaxBuffers; callers gather a head, a body and a chunk's framing (<= 4).
  explicit BufferCursor(std::span<const boost::asio::const_buffer> data);
  std::span<const boost::asio::const_buffer> rest() const {
    return {bufs_.data() + first_, count_ - first_};
  }
  std::size_t total() const { return total_; }
  void consume(std::size_t n);

 private:
  std::array<boost::asio::const_buffer, kMaxBuffers> bufs_{};
  std::size_t first_ = 0;
  std::size_t count_ = 0;
  std::size_t total_ = 0;
};

// Writes what the stream takes at once (a few tries, each progressing or stopping), consuming
// it from `cursor`: the bytes written; `ec` says why it stopped short (would_block: wait).
std::size_t write_now(ByteStream& stream, BufferCursor& cursor, boost::system::error_code& ec);

}  // namespace sluice
