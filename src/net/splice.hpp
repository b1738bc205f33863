#pragma once
// The zero-copy capability of the two sides of a response body: bytes move upstream socket ->
// pipe -> client socket with splice(2), never through the proxy's memory. Offered only where
// the bytes need no user-space layer (plain TCP, a known length, nothing buffered), and used
// only where both sides offer it (src/proxy/splice_relay.cpp).
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace sluice {
class ByteStream;
}

namespace sluice::detail {

// The upstream side: the rest of a known-length body, readable from `fd()`.
class SpliceSource {
 public:
  virtual ~SpliceSource() = default;
  virtual int fd() const = 0;
  virtual std::uint64_t remaining() const = 0;
  // The relay moved `n` bytes out of fd().
  virtual void consumed(std::uint64_t n) = 0;
  // For readiness waits on fd().
  virtual ByteStream& stream() = 0;
};

// The client side: takes body bytes from a pipe.
class SpliceSink {
 public:
  virtual ~SpliceSink() = default;
  // Whether the response takes spliced bytes now (a known-length body still open).
  virtual bool accepts_spliced_body() const = 0;
  // Sends what is held, then moves exactly `n` bytes from `pipe_fd` to the client, each wait
  // for room bounded by the write timeout. The same accounting, limits and client_write events
  // as a body write.
  virtual boost::asio::awaitable<std::error_code> write_body_spliced(int pipe_fd,
                                                                     std::size_t n) = 0;
};

}  // namespace sluice::detail
