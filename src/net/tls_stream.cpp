#include "net/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/append.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>

#include "net/tcp_stream.hpp"
#include "net/tls_error.hpp"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One TLS record's worth of plaintext: gathered buffers are coalesced up to it (per worker
// thread, so no connection keeps a buffer of its own).
constexpr std::size_t kRecordBytes = 16 * 1024;
thread_local std::array<char, kRecordBytes> coalesce_scratch;

// One SSL operation as an Asio operation: try; if OpenSSL wants the socket, wait for that
// readiness and try again. A result found at once is posted, never delivered inside the
// initiating call. Cancellation reaches the socket wait (the handler's slot is forwarded by
// async_compose), and a cancelled operation has read nothing.
template <TlsStream::Op kOp>
struct TlsOperation {
  TlsOperation(TlsStream* s, tcp::socket* sock, asio::mutable_buffer in,
               std::span<const asio::const_buffer> out)
      : stream(s), socket(sock), into(in), data(out) {}

  TlsStream* stream;
  tcp::socket* socket;
  asio::mutable_buffer into;
  std::span<const asio::const_buffer> data;
  bool waited = false;
  bool done = false;
  boost::system::error_code result;
  std::size_t n = 0;

  template <typename Self>
  void operator()(Self& self, boost::system::error_code wait_ec = {}) {
    // A cancellation that came after the socket wait completed found nothing to cancel: it is
    // only recorded here. Honour it before waiting again, or a race's deadline would wait for
    // the socket (nothing was read yet; a cancelled write is followed by a cut).
    if (!done && !wait_ec && waited && self.cancelled() != asio::cancellation_type::none) {
      wait_ec = asio::error::operation_aborted;
    }
    if (!done && !wait_ec) {
      const auto want = stream->attempt(kOp, into, data, result, n);
      if (want != TlsStream::Want::nothing) {
        waited = true;
        socket->async_wait(
            want == TlsStream::Want::read ? tcp::socket::wait_read : tcp::socket::wait_write,
            std::move(self));
        return;
      }
      done = true;
      if (!waited) {
        waited = true;
        asio::post(socket->get_executor(), std::move(self));
        return;
      }
    } else if (wait_ec) {
      result = wait_ec;
      n = 0;
    }
    if constexpr (kOp == TlsStream::Op::handshake) {
      self.complete(result);
    } else {
      self.complete(result, n);
    }
  }
};

}  // namespace

TlsStream::TlsStream(tcp::socket socket, SSL* ssl, std::shared_ptr<const void> owner)
    : socket_(std::move(socket)), ssl_(ssl), owner_(std::move(owner)) {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  SSL_set_fd(ssl_, socket_.native_handle());
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                         SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

TlsStream::Want TlsStream::failure(int ret, boost::system::error_code& ec) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: ec = asio::error::would_block; return Want::read;
    case SSL_ERROR_WANT_WRITE: ec = asio::error::would_block; return Want::write;
    case SSL_ERROR_ZERO_RETURN:  // close_notify: the peer ended the stream properly
      ec = asio::error::eof;
      return Want::nothing;
    case SSL_ERROR_SYSCALL:
      fatal_ = true;
      ERR_clear_error();
      ec = saved_errno != 0
               ? boost::system::error_code(saved_errno, boost::system::system_category())
               : boost::system::error_code(asio::ssl::error::stream_truncated);
      return Want::nothing;
    default: {
      fatal_ = true;
      const unsigned long e = ERR_peek_error();
      if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
          ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        ec = asio::ssl::error::stream_truncated;
      } else if (const long verify = SSL_get_verify_result(ssl_);
                 !handshake_done_ && verify != X509_V_OK) {
        ERR_clear_error();
        ec = certificate_verify_error(verify);
      } else {
        ec = tls_error_from_queue();
      }
      return Want::nothing;
    }
  }
}

bool TlsStream::unusable(bool after_fatal_error, boost::system::error_code& ec) const {
  ec = {};
  // SSL keeps the descriptor's number: once the socket is closed that number may already belong
  // to another connection, so OpenSSL must never touch it again.
  if (!socket_.is_open()) {
    ec = asio::error::bad_descriptor;
  } else if (after_fatal_error && fatal_) {
    ec = asio::error::connection_aborted;
  }
  return static_cast<bool>(ec);
}

TlsStream::Want TlsStream::attempt(Op op, asio::mutable_buffer into,
                                   std::span<const asio::const_buffer> data,
                                   boost::system::error_code& ec, std::size_t& n) {
  n = 0;
  if (unusable(op != Op::handshake, ec)) return Want::nothing;
  clear_tls_errors();
  errno = 0;
  int ret = 0;
  switch (op) {
    case Op::handshake:
      ret = SSL_do_handshake(ssl_);
      if (ret == 1) {
        handshake_done_ = true;
        return Want::nothing;
      }
      break;
    case Op::read: {
      if (into.size() == 0) return Want::nothing;
      ret = SSL_read_ex(ssl_, into.data(), into.size(), &n);
      if (ret == 1) {
        read_wants_write_ = false;
        return Want::nothing;
      }
      const Want want = failure(ret, ec);
      read_wants_write_ = want == Want::write;
      return want;
    }
    case Op::write: {
      // The first buffer alone when it fills a record (no copy), else the buffers coalesced up
      // to one record. A retry after would_block sees the same leading bytes, so it coalesces
      // the same record (OpenSSL checks that the retried write is at least as long).
      const void* bytes = nullptr;
      std::size_t len = 0;
      std::size_t count = 0;
      for (const auto& b : data) {
        if (b.size() > 0) ++count;
      }
      if (count == 0) return Want::nothing;
      for (const auto& b : data) {
        if (b.size() == 0) continue;
        if (count == 1 || b.size() >= kRecordBytes) {
          if (len == 0) {
            bytes = b.data();
            len = b.size();
          }
          break;
        }
        const std::size_t take = std::min(b.size(), kRecordBytes - len);
        std::memcpy(coalesce_scratch.data() + len, b.data(), take);
        len += take;
        bytes = coalesce_scratch.data();
        if (len == kRecordBytes) break;
      }
      ret = SSL_write_ex(ssl_, bytes, len, &n);
      if (ret == 1) return Want::nothing;
      n = 0;
      break;
    }
  }
  return failure(ret, ec);
}

std::size_t TlsStream::read_some(asio::mutable_buffer into, boost::system::error_code& ec) {
  std::size_t n = 0;
  attempt(Op::read, into, {}, ec, n);
  return n;
}

std::size_t TlsStream::write_some(std::span<const asio::const_buffer> data,
                                  boost::system::error_code& ec) {
  std::size_t n = 0;
  attempt(Op::write, {}, data, ec, n);
  return n;
}

std::size_t TlsStream::peek(asio::mutable_buffer into, boost::system::error_code& ec) {
  if (unusable(true, ec) || into.size() == 0) return 0;
  clear_tls_errors();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_peek_ex(ssl_, into.data(), into.size(), &n);
  if (ret == 1) {
    read_wants_write_ = false;
    return n;
  }
  read_wants_write_ = failure(ret, ec) == Want::write;
  return 0;
}

std::size_t TlsStream::peek_raw(asio::mutable_buffer into, boost::system::error_code& ec) {
  if (unusable(false, ec)) return 0;
  return peek_socket(socket_.native_handle(), into, ec);
}

std::string TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

bool TlsStream::session_reused() const { return SSL_session_reused(ssl_) == 1; }

bool TlsStream::kernel_tls_send() const { return BIO_get_ktls_send(SSL_get_wbio(ssl_)) == 1; }

void TlsStream::shutdown_write() {
  if (socket_.is_open() && handshake_done_ && !fatal_ && !close_notified_) {
    close_notified_ = true;
    // One try: close_notify fits in any socket buffer that is not full; a peer that stopped
    // reading gets the FIN alone.
    clear_tls_errors();
    SSL_shutdown(ssl_);
    clear_tls_errors();
  }
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void TlsStream::shutdown_both() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
}

void TlsStream::cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void TlsStream::close() {
  // OpenSSL marks the session of a connection freed without close_notify as not resumable
  // (ssl_clear_bad_session), and a client's cached session is that very object: a connection
  // that ended without a TLS error keeps its session usable for the next one.
  if (handshake_done_ && !fatal_)
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void TlsStream::start_read_some(asio::mutable_buffer into, ReadHandler handler) {
  asio::async_compose<ReadHandler, void(boost::system::error_code, std::size_t)>(
      TlsOperation<Op::read>(this, &socket_, into, {}), handler, socket_);
}

void TlsStream::start_write_some(std::span<const asio::const_buffer> data, ReadHandler handler) {
  asio::async_compose<ReadHandler, void(boost::system::error_code, std::size_t)>(
      TlsOperation<Op::write>(this, &socket_, {}, data), handler, socket_);
}

void TlsStream::start_handshake(WaitHandler handler) {
  asio::async_compose<WaitHandler, void(boost::system::error_code)>(
      TlsOperation<Op::handshake>(this, &socket_, {}, {}), handler, socket_);
}

bool TlsStream::readable_without_socket() {
  if (!socket_.is_open()) return false;
  if (SSL_pending(ssl_) > 0) return true;  // decrypted, not read yet
  if (SSL_has_pending(ssl_) != 1) return false;
  // Raw bytes OpenSSL read ahead: whole records (a read would not block) or the start of one
  // (it would). A peek tells, processing records without consuming any plaintext; when it
  // would block, OpenSSL has drained the socket, so waiting on the socket is right.
  char byte;
  boost::system::error_code ec;
  peek(asio::buffer(&byte, 1), ec);
  return !would_block(ec);
}

void TlsStream::start_wait(Ready what, WaitHandler handler) {
  // Bytes already inside OpenSSL: the socket may never become readable for them.
  if (what == Ready::read && readable_without_socket()) {
    asio::post(socket_.get_executor(),
               asio::append(std::move(handler), boost::system::error_code{}));
    return;
  }
  // A read that must first write (a KeyUpdate answer into a full send buffer) waits for room:
  // waiting for readability would wake at once, again and again, with nothing to read.
  const bool for_read = what == Ready::read && !read_wants_write_;
  socket_.async_wait(for_read ? tcp::socket::wait_read : tcp::socket::wait_write,
                     std::move(handler));
}

void TlsStream::start_wait_peer(WaitHandler handler) {
  start_wait(Ready::read, std::move(handler));
}

}  // namespace sluice
