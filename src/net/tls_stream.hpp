#pragma once
// The ByteStream of a TLS connection: OpenSSL driven non-blockingly over the socket's own
// descriptor (SSL_set_fd), as nginx and HAProxy do, rather than asio::ssl::stream
// (docs/architecture.md, "TLS"). Every try is one SSL call that returns at once; a wait is a
// readiness wait on the socket in the direction OpenSSL asked for (WANT_READ / WANT_WRITE).
// Bytes OpenSSL already holds (decrypted, or whole records it read ahead) make a read wait
// complete at once, so the "try, else wait for readiness" pattern of the codecs holds.
//
// Read-ahead (SSL_CTX_set_read_ahead) lets OpenSSL read as much as the socket has in one call
// instead of a record header and then its body (2 syscalls a record).
//
// Buffers: SSL_MODE_RELEASE_BUFFERS gives OpenSSL's 16 KiB record buffers back whenever they
// are empty, so an idle connection keeps only the SSL object.
//
// Writes: OpenSSL requires a write that returned would_block to be retried with the same bytes
// (more may follow); every writer here retries from the same cursor, or closes the connection.
// Gathered buffers are coalesced into one record up to 16 KiB (a record per buffer would cost
// 22 bytes and an encryption call each).
//
// Endings: shutdown_write() sends close_notify, then FIN: a complete response. shutdown_both()
// and close() never send it, so a response cut short looks cut (RFC 9112 §9.8). A peer that
// closes without close_notify reads as ssl::error::stream_truncated, not eof.
#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "net/byte_stream.hpp"

namespace sluice {

class TlsStream final : public ByteStream {
 public:
  // Takes the connected socket and `ssl` (freed with the stream; its role, context and
  // verification already set). `owner` keeps whatever `ssl`'s callbacks use alive.
  TlsStream(boost::asio::ip::tcp::socket socket, SSL* ssl, std::shared_ptr<const void> owner);
  ~TlsStream() override;

  // Runs the handshake: (ec) once it is done. Race it with a deadline; a verification failure
  // is certificate_verify_error(), anything else OpenSSL's reason (net/tls_error.hpp).
  template <typename Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_handshake(WaitHandler(std::move(handler))); }, token);
  }

  // Before the handshake: the bytes the peer sent first, still in the kernel (plain HTTP sent
  // to a TLS port is answered in clear text).
  std::size_t peek_raw(boost::asio::mutable_buffer into, boost::system::error_code& ec);
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  SSL* native_handle() { return ssl_; }

  // After the handshake.
  std::string alpn() const;
  bool session_reused() const;
  bool kernel_tls_send() const;

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

  // What an SSL call left to do, for the composed operations of tls_stream.cpp.
  enum class Want { nothing, read, write };
  enum class Op { read, write, handshake };
  Want attempt(Op op, boost::asio::mutable_buffer into,
               std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec,
               std::size_t& n);

 protected:
  void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) override;
  void start_write_some(std::span<const boost::asio::const_buffer> data,
                        ReadHandler handler) override;
  void start_wait(Ready what, WaitHandler handler) override;
  void start_wait_peer(WaitHandler handler) override;
  void start_handshake(WaitHandler handler);

 private:
  // True (with the error in `ec`) when no SSL call may run: the socket is closed, or
  // (`after_fatal_error`) an earlier call failed for good. Else clears `ec`.
  bool unusable(bool after_fatal_error, boost::system::error_code& ec) const;
  // Whether a read would not block although the socket may have nothing: OpenSSL holds
  // decrypted bytes, or whole records it read ahead.
  bool readable_without_socket();
  // The result of a failed SSL call `ret`: what to wait for, or the error (and whether the
  // connection is now unusable for close_notify).
  Want failure(int ret, boost::system::error_code& ec);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
  std::shared_ptr<const void> owner_;
  bool handshake_done_ = false;
  bool fatal_ = false;  // an SSL error or a reset: no close_notify may follow
  bool close_notified_ = false;
  // The last read or peek could not go on before writing (WANT_WRITE): read waits wait for
  // room until a read gets further.
  bool read_wants_write_ = false;
};

}  // namespace sluice
