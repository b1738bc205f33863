#include "support/tls_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace sluice::test {

using detail::Clock;
using detail::format_ms;
using detail::MessageParser;

// ---------------------------------------------------------------------------------------------
// TlsUpstreamConn

TlsUpstreamConn::TlsUpstreamConn(int fd, SSL* ssl, std::shared_ptr<detail::StopSignal> stop,
                                 std::size_t index)
    : socket_(fd, ssl, std::move(stop)), index_(index) {}

TlsUpstreamConn::~TlsUpstreamConn() = default;

testing::AssertionResult TlsUpstreamConn::read_request(RecordedRequest& out,
                                                       std::chrono::milliseconds deadline) {
  out = RecordedRequest{};
  const auto until = Clock::now() + deadline;
  MessageParser parser(MessageParser::Kind::request);
  auto& buffer = socket_.buffer();
  while (true) {
    const auto status = parser.advance(buffer, false);
    if (status == MessageParser::Status::complete) break;
    if (status == MessageParser::Status::error) {
      out.raw = buffer;
      return testing::AssertionFailure()
             << "TLS upstream connection #" << index_ << ": malformed request: " << parser.error()
             << "\nbytes received:\n"
             << printable(buffer);
    }
    if (const TlsIo io = socket_.fill(until); io != TlsIo::ok) {
      out.raw = buffer;
      auto failure = testing::AssertionFailure() << "TLS upstream connection #" << index_ << ": ";
      if (io == TlsIo::timeout) {
        failure << "no complete request within " << format_ms(deadline);
      } else {
        failure << (buffer.empty() ? "ended before a request: " : "request incomplete: ")
                << socket_.describe(io);
      }
      return failure << "; " << buffer.size() << " bytes received:\n" << printable(buffer);
    }
  }
  auto& msg = parser.message();
  out.raw = buffer.substr(0, parser.consumed());
  out.method = std::move(msg.method);
  out.target = std::move(msg.target);
  out.version = std::move(msg.version);
  out.headers = std::move(msg.headers);
  out.body = std::move(msg.body);
  out.chunked = msg.chunked;
  out.trailers = std::move(msg.trailers);
  buffer.erase(0, parser.consumed());
  return testing::AssertionSuccess();
}

bool TlsUpstreamConn::send(std::string_view bytes, std::chrono::milliseconds deadline) {
  return socket_.write_all(bytes, Clock::now() + deadline) == TlsIo::ok;
}

void TlsUpstreamConn::close_notify() {
  socket_.close_notify(Clock::now() + kDeadline);
  socket_.drain();
  socket_.close();
}

void TlsUpstreamConn::close() {
  socket_.shutdown_write();
  socket_.drain();
  socket_.close();
}

void TlsUpstreamConn::reset() { socket_.reset(); }

testing::AssertionResult TlsUpstreamConn::wait_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (true) {
    socket_.buffer().clear();
    const TlsIo io = socket_.fill(until);
    if (io == TlsIo::close_notify || io == TlsIo::eof || io == TlsIo::reset || io == TlsIo::error) {
      return testing::AssertionSuccess();
    }
    if (io != TlsIo::ok) {
      return testing::AssertionFailure()
             << "TLS upstream connection #" << index_ << ": peer did not close within "
             << format_ms(deadline) << " (" << socket_.describe(io) << ")";
    }
  }
}

std::string TlsUpstreamConn::sni() const {
  const char* name = SSL_get_servername(socket_.ssl(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? name : "";
}

bool TlsUpstreamConn::session_reused() const { return SSL_session_reused(socket_.ssl()) == 1; }

std::string TlsUpstreamConn::version() const { return SSL_get_version(socket_.ssl()); }

// ---------------------------------------------------------------------------------------------
// TlsUpstream

TlsUpstream::TlsUpstream(const std::string& cert_path, const std::string& key_path, Handler handler)
    : stop_(std::make_shared<detail::StopSignal>()), handler_(std::move(handler)) {
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (ctx_ == nullptr)
    throw std::runtime_error("TlsUpstream: SSL_CTX_new: " + take_openssl_errors());
  auto fail = [this](const std::string& what) {
    SSL_CTX_free(ctx_);
    throw std::runtime_error("TlsUpstream: " + what + ": " + take_openssl_errors());
  };
  if (SSL_CTX_use_certificate_chain_file(ctx_, cert_path.c_str()) != 1) fail(cert_path);
  if (SSL_CTX_use_PrivateKey_file(ctx_, key_path.c_str(), SSL_FILETYPE_PEM) != 1) fail(key_path);
  if (SSL_CTX_check_private_key(ctx_) != 1) fail("key does not match");
  static constexpr unsigned char kSessionContext[] = "sluice-test-upstream";
  SSL_CTX_set_session_id_context(ctx_, kSessionContext, sizeof kSessionContext - 1);
  // Resumption: OpenSSL's defaults (stateless tickets, the server-side cache for TLS 1.2).

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, SOMAXCONN) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(listen_fd_);
    fail("bind/listen: " + why);
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

TlsUpstream::~TlsUpstream() {
  stop_->raise();
  accept_thread_.join();
  {
    std::lock_guard lock(mutex_);
    for (const auto& weak : live_) {
      if (auto conn = weak.lock()) conn->socket_.shutdown_both();
    }
  }
  for (auto& worker : workers_)
    worker.thread.join();
  ::close(listen_fd_);
  SSL_CTX_free(ctx_);
}

std::string TlsUpstream::url(std::string_view path, std::string_view host) const {
  return "https://" + std::string(host) + ":" + std::to_string(port_) + std::string(path);
}

std::string TlsUpstream::last_handshake_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void TlsUpstream::note(std::atomic<std::size_t>& counter) {
  {
    std::lock_guard lock(mutex_);
    counter.fetch_add(1);
  }
  changed_.notify_all();
}

testing::AssertionResult TlsUpstream::wait_finished(std::size_t n,
                                                    std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex_);
  if (changed_.wait_for(lock, deadline, [&] { return finished_.load() >= n; })) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure()
         << "TLS upstream: " << finished_.load() << " connections ended within "
         << format_ms(deadline) << ", expected " << n << " (" << accepted_.load() << " accepted)";
}

testing::AssertionResult TlsUpstream::wait_failed_handshakes(std::size_t n,
                                                             std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex_);
  if (changed_.wait_for(lock, deadline, [&] { return failed_.load() >= n; })) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure()
         << "TLS upstream: " << failed_.load() << " failed handshakes within "
         << format_ms(deadline) << ", expected " << n << " (" << handshakes_.load()
         << " succeeded)";
}

void TlsUpstream::accept_loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_->fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {  // the destructor's stop signal ends this wait
      if (errno == EINTR) continue;
      std::perror("TlsUpstream: poll");
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      std::perror("TlsUpstream: accept");
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::size_t index = accepted_.load();
    note(accepted_);
    // Finished workers are joined as new ones start: a long test does not pile up threads.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back(Worker{std::thread([this, fd, index, done] {
                                serve(fd, index);
                                done->store(true);
                              }),
                              done});
  }
}

void TlsUpstream::serve(int fd, std::size_t index) {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) {
    ::close(fd);
    ADD_FAILURE() << "TlsUpstream: SSL_new: " << take_openssl_errors();
    note(finished_);
    return;
  }
  SSL_set_accept_state(ssl);
  auto conn = std::shared_ptr<TlsUpstreamConn>(new TlsUpstreamConn(fd, ssl, stop_, index));
  {
    std::lock_guard lock(mutex_);
    std::erase_if(live_, [](const auto& weak) { return weak.expired(); });
    live_.push_back(conn);
  }
  const TlsIo io = conn->socket_.handshake(Clock::now() + kDeadline);
  if (io != TlsIo::ok) {
    {
      std::lock_guard lock(mutex_);
      last_error_ = conn->socket_.describe(io);
    }
    note(failed_);
    conn->socket_.close();
    note(finished_);
    return;
  }
  if (conn->session_reused()) note(resumed_);
  note(handshakes_);
  try {
    handler_(*conn);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "TlsUpstream handler threw: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "TlsUpstream handler threw a non-std exception";
  }
  conn->close_notify();  // a no-op when the handler already closed or reset it
  note(finished_);
}

}  // namespace sluice::test
