#pragma once
// An HTTPS backend on 127.0.0.1:<ephemeral> for the https:// upstream tests: an accept thread,
// a thread per connection that runs SSL_accept with the given certificate and then the test's
// handler. OpenSSL and POSIX sockets directly, so it shares no code with the proxy's TLS.
//
// Every wait is bounded by a deadline; the destructor raises a stop signal that ends every
// blocked read/write/handshake at once, and joins every thread.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/tls_socket.hpp"

namespace sluice::test {

// One accepted connection after its handshake, driven by its handler thread.
class TlsUpstreamConn {
 public:
  ~TlsUpstreamConn();
  TlsUpstreamConn(const TlsUpstreamConn&) = delete;
  TlsUpstreamConn& operator=(const TlsUpstreamConn&) = delete;

  // One request (head and body, decoded); what follows stays buffered. Fails on the peer's end,
  // timeout, stop or malformed bytes.
  testing::AssertionResult read_request(RecordedRequest& out,
                                        std::chrono::milliseconds deadline = kDeadline);
  bool send(std::string_view bytes, std::chrono::milliseconds deadline = kDeadline);
  // close_notify, then FIN: a proper end.
  void close_notify();
  // FIN without close_notify (a truncation, for the peer).
  void close();
  // RST.
  void reset();
  // Until the peer ended the connection (any way), discarding what it sends.
  testing::AssertionResult wait_closed(std::chrono::milliseconds deadline = kDeadline);
  TlsIo peer_end() const { return socket_.peer_end(); }

  std::size_t index() const { return index_; }
  std::string sni() const;  // the server_name the client sent; "" = none
  bool session_reused() const;
  std::string version() const;

 private:
  friend class TlsUpstream;
  TlsUpstreamConn(int fd, SSL* ssl, std::shared_ptr<detail::StopSignal> stop, std::size_t index);

  detail::TlsSocket socket_;
  std::size_t index_;
};

class TlsUpstream {
 public:
  // Runs on the connection's thread after a successful handshake; when it returns the
  // connection ends with close_notify (unless the handler closed or reset it). It must return
  // once the upstream stops: every wait on the connection fails at once then.
  using Handler = std::function<void(TlsUpstreamConn&)>;

  // Serves `cert_path`/`key_path` (PEM). Throws std::runtime_error when they do not load or the
  // socket fails.
  TlsUpstream(const std::string& cert_path, const std::string& key_path, Handler handler);
  ~TlsUpstream();
  TlsUpstream(const TlsUpstream&) = delete;
  TlsUpstream& operator=(const TlsUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  // "https://<host>:PORT" + path.
  std::string url(std::string_view path = "", std::string_view host = "127.0.0.1") const;

  // TCP connections accepted, handshakes that completed / failed, and of those that completed,
  // how many resumed a session. Handlers that returned.
  std::size_t accepted_count() const { return accepted_.load(); }
  std::size_t handshakes() const { return handshakes_.load(); }
  std::size_t failed_handshakes() const { return failed_.load(); }
  std::size_t resumed_handshakes() const { return resumed_.load(); }
  std::size_t finished_connections() const { return finished_.load(); }
  // OpenSSL's reason for the last failed handshake (e.g. "tlsv1 alert unknown ca").
  std::string last_handshake_error() const;

  // Waits until at least n connections ended (their handler returned and the socket closed).
  testing::AssertionResult wait_finished(std::size_t n,
                                         std::chrono::milliseconds deadline = kDeadline);
  // Waits until at least n handshakes failed.
  testing::AssertionResult wait_failed_handshakes(std::size_t n,
                                                  std::chrono::milliseconds deadline = kDeadline);

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void accept_loop();
  void serve(int fd, std::size_t index);
  void note(std::atomic<std::size_t>& counter);

  std::shared_ptr<detail::StopSignal> stop_;
  SSL_CTX* ctx_ = nullptr;
  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> handshakes_{0};
  std::atomic<std::size_t> failed_{0};
  std::atomic<std::size_t> resumed_{0};
  std::atomic<std::size_t> finished_{0};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string last_error_;
  std::vector<std::weak_ptr<TlsUpstreamConn>> live_;  // shut down by the destructor

  std::vector<Worker> workers_;  // accept thread only (and the destructor after joining it)
  std::thread accept_thread_;
};

}  // namespace sluice::test
