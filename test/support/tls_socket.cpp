#include "support/tls_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace sluice::test {

const char* to_string(TlsIo io) {
  switch (io) {
    case TlsIo::ok: return "ok";
    case TlsIo::close_notify: return "close_notify";
    case TlsIo::eof: return "EOF without close_notify";
    case TlsIo::reset: return "reset";
    case TlsIo::error: return "TLS error";
    case TlsIo::timeout: return "timeout";
    case TlsIo::stopped: return "stopped";
    case TlsIo::closed: return "closed by this side";
  }
  return "?";
}

bool CertificateNames::has_dns(std::string_view name) const {
  return std::find(dns.begin(), dns.end(), name) != dns.end();
}

CertificateNames certificate_names(X509* cert) {
  CertificateNames out;
  if (cert == nullptr) return out;
  char cn[256];
  const int len =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (len > 0) out.common_name.assign(cn, static_cast<std::size_t>(len));
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS) {
      const auto* data = ASN1_STRING_get0_data(gn->d.dNSName);
      out.dns.emplace_back(reinterpret_cast<const char*>(data),
                           static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      const auto* data = ASN1_STRING_get0_data(gn->d.iPAddress);
      const int n = ASN1_STRING_length(gn->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      if (n == 4) ::inet_ntop(AF_INET, data, text, sizeof text);
      if (n == 16) ::inet_ntop(AF_INET6, data, text, sizeof text);
      out.ip.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(sans);
  return out;
}

std::string tls_version_name(int version) {
  switch (version) {
    case TLS1_VERSION: return "TLSv1";
    case TLS1_1_VERSION: return "TLSv1.1";
    case TLS1_2_VERSION: return "TLSv1.2";
    case TLS1_3_VERSION: return "TLSv1.3";
    default: return "version " + std::to_string(version);
  }
}

std::string take_openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

namespace detail {

namespace {

// OpenSSL writes to the socket with write(2): a peer that is gone raises SIGPIPE, which would
// kill the test process. Each SSL call runs with SIGPIPE blocked in its thread, and a SIGPIPE it
// raised is consumed before the mask is restored (the EPIPE is what the caller sees).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

std::string openssl_reason(unsigned long e) {
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

TlsSocket::TlsSocket(int fd, SSL* ssl, std::shared_ptr<StopSignal> stop)
    : fd_(fd), ssl_(ssl), stop_(std::move(stop)) {
  SSL_set_fd(ssl_, fd_);
}

TlsSocket::~TlsSocket() {
  close();
  SSL_free(ssl_);
}

TlsIo TlsSocket::classify(int ret, Want& want) {
  const int saved_errno = errno;
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ: want = Want::read; return TlsIo::ok;
    case SSL_ERROR_WANT_WRITE: want = Want::write; return TlsIo::ok;
    case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return TlsIo::close_notify;
    case SSL_ERROR_SYSCALL: {
      ERR_clear_error();
      if (saved_errno == 0) {
        last_error_ = "EOF without close_notify";
        return TlsIo::eof;
      }
      last_error_ = std::strerror(saved_errno);
      if (saved_errno == ECONNRESET || saved_errno == EPIPE) return TlsIo::reset;
      return TlsIo::error;
    }
    default: {
      const unsigned long e = ERR_peek_error();
      if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
          ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        last_error_ = "EOF without close_notify";
        return TlsIo::eof;
      }
      last_error_.clear();
      while (const unsigned long next = ERR_get_error()) {
        if (!last_error_.empty()) last_error_ += "; ";
        last_error_ += openssl_reason(next);
      }
      if (const long verify = SSL_get_verify_result(ssl_); verify != X509_V_OK) {
        last_error_ += std::string(" (verify: ") + X509_verify_cert_error_string(verify) + ")";
      }
      if (last_error_.empty()) last_error_ = "SSL error " + std::to_string(err);
      return TlsIo::error;
    }
  }
}

TlsIo TlsSocket::wait(Want want, Clock::time_point deadline) {
  while (true) {
    int fd = -1;
    {
      std::lock_guard lock(fd_mutex_);
      fd = fd_;
    }
    if (fd < 0 || closed_) return TlsIo::closed;
    if (stop_ && stop_->raised()) return TlsIo::stopped;
    pollfd fds[2] = {{fd, static_cast<short>(want == Want::read ? POLLIN : POLLOUT), 0},
                     {stop_ ? stop_->fd() : -1, POLLIN, 0}};
    const nfds_t count = stop_ ? 2 : 1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int timeout_ms =
        left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), INT_MAX));
    const int ready = ::poll(fds, count, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      last_error_ = std::string("poll: ") + std::strerror(errno);
      return TlsIo::error;
    }
    if (count == 2 && fds[1].revents != 0) return TlsIo::stopped;
    if (fds[0].revents != 0) return TlsIo::ok;
    if (timeout_ms == 0) return TlsIo::timeout;
  }
}

TlsIo TlsSocket::handshake(Clock::time_point deadline) {
  const SigpipeGuard no_sigpipe;
  while (true) {
    if (closed_) return TlsIo::closed;
    if (stop_ && stop_->raised()) return TlsIo::stopped;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_do_handshake(ssl_);
    if (ret == 1) return TlsIo::ok;
    Want want = Want::read;
    if (const TlsIo io = classify(ret, want); io != TlsIo::ok) {
      peer_end_ = io;
      return io;
    }
    if (const TlsIo io = wait(want, deadline); io != TlsIo::ok) return io;
  }
}

TlsIo TlsSocket::fill(Clock::time_point deadline) {
  const SigpipeGuard no_sigpipe;
  while (true) {
    if (closed_) return TlsIo::closed;
    if (peer_end_ != TlsIo::ok) return peer_end_;
    if (stop_ && stop_->raised()) return TlsIo::stopped;
    char chunk[64 * 1024];
    std::size_t n = 0;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_read_ex(ssl_, chunk, sizeof chunk, &n);
    if (ret == 1) {
      buffer_.append(chunk, n);
      return TlsIo::ok;
    }
    Want want = Want::read;
    if (const TlsIo io = classify(ret, want); io != TlsIo::ok) {
      peer_end_ = io;
      return io;
    }
    if (const TlsIo io = wait(want, deadline); io != TlsIo::ok) return io;
  }
}

TlsIo TlsSocket::write_all(std::string_view bytes, Clock::time_point deadline) {
  const SigpipeGuard no_sigpipe;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    if (closed_) return TlsIo::closed;
    if (stop_ && stop_->raised()) return TlsIo::stopped;
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE a write is whole or retried with the same bytes.
    const std::size_t len = std::min<std::size_t>(bytes.size() - offset, 16 * 1024);
    std::size_t n = 0;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_write_ex(ssl_, bytes.data() + offset, len, &n);
    if (ret == 1) {
      offset += n;
      continue;
    }
    Want want = Want::write;
    if (const TlsIo io = classify(ret, want); io != TlsIo::ok) return io;
    if (const TlsIo io = wait(want, deadline); io != TlsIo::ok) return io;
  }
  return TlsIo::ok;
}

TlsIo TlsSocket::write_raw(std::string_view bytes, Clock::time_point deadline) {
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    if (closed_) return TlsIo::closed;
    const ssize_t n = ::send(fd_, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      offset += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (const TlsIo io = wait(Want::write, deadline); io != TlsIo::ok) return io;
      continue;
    }
    last_error_ = std::strerror(errno);
    return errno == ECONNRESET || errno == EPIPE ? TlsIo::reset : TlsIo::error;
  }
  return TlsIo::ok;
}

void TlsSocket::close_notify(Clock::time_point deadline) {
  const SigpipeGuard no_sigpipe;
  const bool usable = !closed_ && SSL_is_init_finished(ssl_) && peer_end_ != TlsIo::reset &&
                      peer_end_ != TlsIo::error && peer_end_ != TlsIo::eof;
  while (usable) {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_shutdown(ssl_);
    if (ret >= 0) break;  // 0: sent (the peer's may follow), 1: both sent
    Want want = Want::write;
    if (classify(ret, want) != TlsIo::ok) break;
    if (wait(want, deadline) != TlsIo::ok) break;
  }
  ERR_clear_error();
  shutdown_write();
}

void TlsSocket::shutdown_write() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TlsSocket::reset() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ < 0) return;
  const linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
}

void TlsSocket::close() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
}

void TlsSocket::drain() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ < 0) return;
  char sink[16 * 1024];
  for (int i = 0; i < 64; ++i) {
    if (::recv(fd_, sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  }
}

void TlsSocket::shutdown_both() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

std::string TlsSocket::describe(TlsIo io) const {
  std::string out = to_string(io);
  if ((io == TlsIo::error || io == TlsIo::reset) && !last_error_.empty()) {
    out += " (" + last_error_ + ")";
  }
  return out;
}

int connect_loopback(std::uint16_t port, Clock::time_point deadline, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const std::string where = "connect 127.0.0.1:" + std::to_string(port) + ": ";
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      error = where + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    while (true) {
      pollfd pfd{fd, POLLOUT, 0};
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      const int ms = static_cast<int>(std::max<long long>(left.count(), 0));
      const int ready = ::poll(&pfd, 1, ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        error = where + (ready == 0 ? "timed out" : std::strerror(errno));
        ::close(fd);
        return -1;
      }
      break;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      error = where + std::strerror(err);
      ::close(fd);
      return -1;
    }
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace detail
}  // namespace sluice::test
