#include "support/fake_upstream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <system_error>

namespace sluice::test {

using detail::Clock;
using detail::format_ms;
using detail::Io;
using detail::MessageParser;

// ---------------------------------------------------------------------------------------------
// UpstreamConn

UpstreamConn::UpstreamConn(int fd, std::shared_ptr<detail::StopSignal> stop, std::size_t index)
    : socket_(fd, std::move(stop)), index_(index) {}

UpstreamConn::~UpstreamConn() = default;

testing::AssertionResult UpstreamConn::read_request(RecordedRequest& out,
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
             << "upstream connection #" << index_ << ": malformed request: " << parser.error()
             << "\nbytes received:\n"
             << printable(buffer);
    }
    if (const Io io = socket_.fill(until); io != Io::ok) {
      out.raw = buffer;
      auto failure = testing::AssertionFailure() << "upstream connection #" << index_ << ": ";
      if (io == Io::timeout) {
        failure << "no complete request within " << format_ms(deadline);
      } else if (buffer.empty() && (io == Io::eof || io == Io::error)) {
        failure << "closed by the peer before a request (" << socket_.describe(io) << ")";
      } else {
        failure << "request incomplete: " << socket_.describe(io);
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

testing::AssertionResult UpstreamConn::read_until(std::function<bool(std::string_view)> pred,
                                                  std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (true) {
    if (pred(socket_.buffer())) return testing::AssertionSuccess();
    const Io io = socket_.fill(until);
    if (io == Io::ok) continue;
    return testing::AssertionFailure() << "upstream read_until: " << socket_.describe(io) << "; "
                                       << socket_.buffer().size() << " bytes received:\n"
                                       << printable(socket_.buffer());
  }
}

std::string UpstreamConn::take() {
  std::string bytes = std::move(socket_.buffer());
  socket_.buffer().clear();
  return bytes;
}

bool UpstreamConn::send(std::string_view bytes, std::chrono::milliseconds deadline) {
  return socket_.write_all(bytes, Clock::now() + deadline) == Io::ok;
}

void UpstreamConn::close() { socket_.close_graceful(); }

void UpstreamConn::shutdown_write() { socket_.shutdown_write(); }

void UpstreamConn::reset() { socket_.reset(); }

testing::AssertionResult UpstreamConn::wait_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  std::size_t discarded = 0;
  while (true) {
    discarded += socket_.buffer().size();
    socket_.buffer().clear();
    const Io io = socket_.fill(until);
    if (io == Io::eof || io == Io::error) return testing::AssertionSuccess();
    if (io != Io::ok) {
      return testing::AssertionFailure()
             << "upstream connection #" << index_ << ": peer did not close within "
             << format_ms(deadline) << " (" << socket_.describe(io) << "; " << discarded
             << " bytes discarded meanwhile)";
    }
  }
}

bool UpstreamConn::peer_closed_now() { return socket_.peer_closed_now(); }

// ---------------------------------------------------------------------------------------------
// FakeUpstream

FakeUpstream::FakeUpstream() : stop_(std::make_shared<detail::StopSignal>()) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, SOMAXCONN) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(listen_fd_);
    throw std::system_error(err, std::generic_category(), "FakeUpstream bind/listen");
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

FakeUpstream::~FakeUpstream() {
  stop_->raise();
  accept_thread_.join();
  // Scripted connections the test still holds: tell the peer now, not when the test lets go.
  std::vector<std::shared_ptr<UpstreamConn>> alive;
  {
    std::lock_guard lock(mutex_);
    for (const auto& weak : live_) {
      if (auto conn = weak.lock()) alive.push_back(std::move(conn));
    }
  }
  for (const auto& conn : alive)
    conn->socket_.shutdown_both();
  alive.clear();
  for (auto& worker : workers_)
    worker.thread.join();
  {
    std::lock_guard lock(mutex_);
    queue_.clear();
  }
  ::close(listen_fd_);
}

std::string FakeUpstream::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void FakeUpstream::set_handler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

testing::AssertionResult FakeUpstream::accept(std::shared_ptr<UpstreamConn>& out,
                                              std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex_);
  if (!queued_.wait_for(lock, deadline, [this] { return !queue_.empty(); })) {
    return testing::AssertionFailure()
           << "fake upstream on port " << port_ << ": no connection within " << format_ms(deadline)
           << " (" << accepted_count() << " accepted so far"
           << (handler_ ? ", but handler mode is on: accept() only sees scripted connections)"
                        : ")");
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  return testing::AssertionSuccess();
}

void FakeUpstream::join_finished_workers() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void FakeUpstream::accept_loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_->fd(), POLLIN, 0}};
    // No timeout needed: the destructor's stop signal is what ends this wait.
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("FakeUpstream: poll");
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const bool transient =
          errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED;
      if (transient) continue;
      std::perror("FakeUpstream: accept");
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::size_t index = accepted_.load();
    auto conn = std::shared_ptr<UpstreamConn>(new UpstreamConn(fd, stop_, index));
    join_finished_workers();

    Handler handler;
    {
      std::lock_guard lock(mutex_);
      std::erase_if(live_, [](const auto& weak) { return weak.expired(); });
      live_.push_back(conn);
      handler = handler_;
      if (!handler) queue_.push_back(conn);
      // Counted under the lock, with the queue push, so accept() never sees a count that lags.
      accepted_.fetch_add(1);
    }
    if (!handler) {
      queued_.notify_all();
      continue;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back(
        Worker{std::thread([conn = std::move(conn), handler = std::move(handler), done] {
                 try {
                   handler(*conn);
                 } catch (const std::exception& e) {
                   ADD_FAILURE() << "FakeUpstream handler threw: " << e.what();
                 } catch (...) {
                   ADD_FAILURE() << "FakeUpstream handler threw a non-std exception";
                 }
                 conn->close();
                 done->store(true);
               }),
               done});
  }
}

// ---------------------------------------------------------------------------------------------
// Response builders

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace

std::string response(int status, std::vector<std::pair<std::string, std::string>> headers,
                     std::string_view body) {
  const bool bodyless = status / 100 == 1 || status == 204 || status == 304;
  if (!bodyless && header_values(headers, "Content-Length").empty() &&
      header_values(headers, "Transfer-Encoding").empty()) {
    headers.emplace_back("Content-Length", std::to_string(body.size()));
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& [name, value] : headers)
    out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out += data;
  out += "\r\n";
  return out;
}

}  // namespace sluice::test
