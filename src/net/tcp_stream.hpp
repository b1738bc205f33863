#pragma once
// The ByteStream of a TCP connection: Asio's socket in non-blocking mode.
#include <boost/asio/ip/tcp.hpp>

#include "net/byte_stream.hpp"

namespace sluice {

class TcpStream final : public ByteStream {
 public:
  // Puts the socket in non-blocking mode (every try in ByteStream returns at once).
  explicit TcpStream(boost::asio::ip::tcp::socket socket);

  boost::asio::any_io_executor get_executor() override { return socket_.get_executor(); }
  std::size_t read_some(boost::asio::mutable_buffer into, boost::system::error_code& ec) override;
  std::size_t write_some(std::span<const boost::asio::const_buffer> data,
                         boost::system::error_code& ec) override;
  std::size_t peek(boost::asio::mutable_buffer into, boost::system::error_code& ec) override;
  void shutdown_write() override;
  void shutdown_both() override;
  void cancel() override;
  void close() override;
  bool is_open() const override { return socket_.is_open(); }
  int native_fd() const override;

  // For what only TCP has (the peer's address, parking the bare socket).
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 protected:
  void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) override;
  void start_write_some(std::span<const boost::asio::const_buffer> data,
                        ReadHandler handler) override;
  void start_wait(Ready what, WaitHandler handler) override;
  void start_wait_peer(WaitHandler handler) override;

 private:
  boost::asio::ip::tcp::socket socket_;
  char peek_byte_ = 0;  // where async_wait_peer's one-byte MSG_PEEK read lands
};

// The bytes waiting on a socket, consuming nothing (recv MSG_PEEK): would_block when none, eof
// when the peer closed, another error when it reset.
std::size_t peek_socket(int fd, boost::asio::mutable_buffer into, boost::system::error_code& ec);

}  // namespace sluice
