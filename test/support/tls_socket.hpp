#pragma once
// What the TLS test client and the TLS fake upstream share: OpenSSL over a non-blocking
// loopback socket, every wait a poll() bounded by a deadline (and, on the upstream's side, by a
// stop signal). Written on OpenSSL directly, independent of sluice's src/net TLS code, so that
// it shares no bugs with the code under test.
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_wire.hpp"

namespace sluice::test {

// How a TLS operation ended.
enum class TlsIo {
  ok,            // progress (or the handshake finished)
  close_notify,  // the peer sent close_notify: a proper end of its stream (SSL_ERROR_ZERO_RETURN)
  eof,           // the peer's FIN came without close_notify (OpenSSL: unexpected EOF)
  reset,         // the connection was reset (ECONNRESET, EPIPE)
  error,         // a TLS failure (alert, bad record, verification): see TlsSocket::last_error()
  timeout,       // the deadline passed first
  stopped,       // the stop signal was raised first
  closed,        // this side already closed
};

const char* to_string(TlsIo io);

// The subject names of a certificate, for tests that check which certificate a peer chose.
struct CertificateNames {
  std::string common_name;
  std::vector<std::string> dns;  // subjectAltName DNS entries, in order
  std::vector<std::string> ip;   // subjectAltName IP entries, as text
  bool has_dns(std::string_view name) const;
};
CertificateNames certificate_names(X509* cert);

// "TLSv1.3" style name of a protocol version number (TLS1_2_VERSION...).
std::string tls_version_name(int version);

// Every error in this thread's OpenSSL queue (then empty), "; "-separated, for messages.
std::string take_openssl_errors();

namespace detail {

// One SSL object over one connected socket, driven by one thread. close/shutdown_both may be
// called from another thread (to wake the driving thread's poll and tell the peer).
class TlsSocket {
 public:
  // Takes ownership of `fd` (non-blocking) and `ssl` (its role set, not yet bound to a
  // descriptor). `stop` may be null.
  TlsSocket(int fd, SSL* ssl, std::shared_ptr<StopSignal> stop);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  TlsIo handshake(Clock::time_point deadline);
  // Appends at least one decrypted byte to buffer(). Once the peer ended (close_notify, eof,
  // reset, error), returns that again at once.
  TlsIo fill(Clock::time_point deadline);
  TlsIo write_all(std::string_view bytes, Clock::time_point deadline);
  // Bytes straight onto the socket, no TLS (a partial ClientHello, plain HTTP).
  TlsIo write_raw(std::string_view bytes, Clock::time_point deadline);
  // Sends close_notify once (best effort, bounded), then FIN.
  void close_notify(Clock::time_point deadline);
  // FIN without close_notify.
  void shutdown_write();
  // RST: SO_LINGER {1, 0}, then close.
  void reset();
  // Closes the descriptor (no close_notify); FIN unless unread bytes turn it into RST.
  void close();
  // Discards what already arrived in the kernel (non-blocking), so that a close() after it
  // sends FIN, not RST (which could destroy what the peer has not read yet).
  void drain();
  // shutdown(SHUT_RDWR) without closing (safe from another thread).
  void shutdown_both();

  SSL* ssl() const { return ssl_; }
  int fd() const { return fd_; }
  std::string& buffer() { return buffer_; }
  const std::string& buffer() const { return buffer_; }
  // How the peer ended its stream, once it did (ok while it has not).
  TlsIo peer_end() const { return peer_end_; }
  // OpenSSL's or the system's reason for the last error/reset, e.g.
  // "SSL routines::tlsv1 alert unknown ca".
  const std::string& last_error() const { return last_error_; }
  std::string describe(TlsIo io) const;

 private:
  enum class Want { read, write };
  // The result of a failed SSL call: the readiness to wait for (ok), or how it ended.
  TlsIo classify(int ret, Want& want);
  TlsIo wait(Want want, Clock::time_point deadline);

  mutable std::mutex fd_mutex_;  // fd_ closed here vs shutdown_both() from another thread
  int fd_;
  SSL* ssl_;
  std::shared_ptr<StopSignal> stop_;
  std::string buffer_;
  TlsIo peer_end_ = TlsIo::ok;
  std::string last_error_;
  std::atomic<bool> closed_{false};
};

// A non-blocking TCP connection to 127.0.0.1:port, or -1 with `error` set.
int connect_loopback(std::uint16_t port, Clock::time_point deadline, std::string& error);

}  // namespace detail
}  // namespace sluice::test
