#include "net/tcp_stream.hpp"

#include <sys/socket.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <cerrno>

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TcpStream::TcpStream(tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

std::size_t TcpStream::read_some(asio::mutable_buffer into, boost::system::error_code& ec) {
  return socket_.read_some(into, ec);
}

std::size_t TcpStream::write_some(std::span<const asio::const_buffer> data,
                                  boost::system::error_code& ec) {
  return socket_.send(data, 0, ec);
}

std::size_t peek_socket(int fd, asio::mutable_buffer into, boost::system::error_code& ec) {
  const ssize_t r = ::recv(fd, into.data(), into.size(), MSG_PEEK | MSG_DONTWAIT);
  if (r > 0) {
    ec = {};
    return static_cast<std::size_t>(r);
  }
  if (r == 0) {
    ec = asio::error::eof;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    ec = asio::error::would_block;
  } else {
    ec = boost::system::error_code(errno, boost::system::system_category());
  }
  return 0;
}

std::size_t TcpStream::peek(asio::mutable_buffer into, boost::system::error_code& ec) {
  return peek_socket(socket_.native_handle(), into, ec);
}

void TcpStream::shutdown_write() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void TcpStream::shutdown_both() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
}

void TcpStream::cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void TcpStream::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

int TcpStream::native_fd() const { return const_cast<tcp::socket&>(socket_).native_handle(); }

void TcpStream::start_read_some(asio::mutable_buffer into, ReadHandler handler) {
  socket_.async_read_some(into, std::move(handler));
}

void TcpStream::start_write_some(std::span<const asio::const_buffer> data, ReadHandler handler) {
  socket_.async_write_some(data, std::move(handler));
}

void TcpStream::start_wait(Ready what, WaitHandler handler) {
  socket_.async_wait(what == Ready::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                     std::move(handler));
}

void TcpStream::start_wait_peer(WaitHandler handler) {
  // A one-byte MSG_PEEK read rather than a readiness wait: Asio parks a read that finds nothing
  // without another epoll_ctl, and the byte stays for the next request's parser.
  // The adapter drops the byte count; it must carry the handler's cancellation slot and
  // executor, or a race could not cancel this wait.
  auto slot = asio::get_associated_cancellation_slot(handler);
  auto executor = asio::get_associated_executor(handler, socket_.get_executor());
  socket_.async_receive(
      asio::buffer(&peek_byte_, 1), tcp::socket::message_peek,
      asio::bind_cancellation_slot(
          slot, asio::bind_executor(executor, [h = std::move(handler)](boost::system::error_code ec,
                                                                       std::size_t) mutable {
            std::move(h)(ec);
          })));
}

}  // namespace sluice
