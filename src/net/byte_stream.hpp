#pragma once
// ByteStream: a connected, non-blocking byte stream, as the HTTP/1 codecs, the tunnel and the
// zero-copy paths need one. Every operation is tried at once (read_some, write_some, peek); only
// what would block waits: for readiness (async_wait) or for bytes, read as they arrive
// (async_read_some: a read that finds nothing is parked by Asio without re-arming epoll, which a
// readiness wait costs every time).
//
// TcpStream (tcp_stream.hpp) is the implementation today; a TLS stream driving OpenSSL over the
// same fd is the next one, and test/support/memory_stream.hpp the test double. The waits are
// type-erased (any_completion_handler) so that the codecs above are written once, not as
// templates over the stream; they work with any completion token (deferred, use_awaitable) and
// honour per-operation cancellation, so they can run inside a race (net/race.hpp).
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <span>
#include <system_error>

namespace sluice {

class ByteStream {
 public:
  enum class Ready { read, write };
  using ReadHandler =
      boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
  using WaitHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  virtual ~ByteStream() = default;
  ByteStream() = default;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  virtual boost::asio::any_io_executor get_executor() = 0;

  // At once: the bytes that are there, else would_block; eof at the end of the stream.
  virtual std::size_t read_some(boost::asio::mutable_buffer into,
                                boost::system::error_code& ec) = 0;
  // At once: writes what fits (gathered), else would_block.
  virtual std::size_t write_some(std::span<const boost::asio::const_buffer> data,
                                 boost::system::error_code& ec) = 0;
  // At once, consuming nothing: the bytes waiting to be read (up to into.size()); would_block
  // when none, eof when the peer closed, another error when it reset.
  virtual std::size_t peek(boost::asio::mutable_buffer into, boost::system::error_code& ec) = 0;

  // No more bytes from this side (the peer reads EOF after what was written).
  virtual void shutdown_write() = 0;
  // Both directions: every pending wait wakes (reads EOF or an error).
  virtual void shutdown_both() = 0;
  // Pending waits complete with operation_aborted; the stream stays usable.
  virtual void cancel() = 0;
  virtual void close() = 0;
  virtual bool is_open() const = 0;

  // The descriptor splice(2) may move bytes through, when the bytes need no user-space layer
  // (plain TCP; TLS only with kernel TLS); -1 otherwise.
  virtual int native_fd() const { return -1; }

  // Waits for bytes and reads them: (ec, n) with n > 0, or eof / an error.
  template <typename Token>
  auto async_read_some(boost::asio::mutable_buffer into, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, boost::asio::mutable_buffer b) {
          start_read_some(b, ReadHandler(std::move(handler)));
        },
        token, into);
  }
  // Waits for room and writes what fits: (ec, n) with n > 0, or an error. `data` must stay valid
  // until it completes.
  template <typename Token>
  auto async_write_some(std::span<const boost::asio::const_buffer> data, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, std::span<const boost::asio::const_buffer> d) {
          start_write_some(d, ReadHandler(std::move(handler)));
        },
        token, data);
  }
  // Waits until reading (or writing) would not block.
  template <typename Token>
  auto async_wait(Ready what, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, Ready w) { start_wait(w, WaitHandler(std::move(handler))); }, token,
        what);
  }
  // Waits until the peer sent a byte or closed, consuming nothing: how a client that leaves is
  // noticed while its response is awaited. Follow it with peek() to tell which.
  template <typename Token>
  auto async_wait_peer(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_wait_peer(WaitHandler(std::move(handler))); }, token);
  }

 protected:
  virtual void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) = 0;
  virtual void start_write_some(std::span<const boost::asio::const_buffer> data,
                                ReadHandler handler) = 0;
  virtual void start_wait(Ready what, WaitHandler handler) = 0;
  virtual void start_wait_peer(WaitHandler handler) = 0;
};

inline bool would_block(boost::system::error_code ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}
// The same for a code already converted (a boost code wrapped in std would not compare equal).
inline bool would_block(std::error_code ec) {
  return ec == std::error_code(boost::system::error_code(boost::asio::error::would_block)) ||
         ec == std::error_code(boost::system::error_code(boost::asio::error::try_again));
}

}  // namespace sluice
