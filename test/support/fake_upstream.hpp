#pragma once
// An in-process, scripted HTTP/1 backend on 127.0.0.1:<ephemeral>. Plain POSIX sockets and
// std::thread, so it shares no code (and no bugs) with the proxy under test.
//
// Scripted mode (default): the test takes each accepted connection with accept() and drives it
// byte by byte: read_request(), send(), close()/reset() at exactly the point the test is about.
// Handler mode: set_handler() before any traffic; every connection then runs the handler on its
// own thread, for tests that just need a backend that answers.
//
// Every wait is bounded by a deadline. The destructor raises a stop signal that makes every
// blocked read/write/accept return at once, joins every thread and closes every socket.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/deadline.hpp"
#include "support/http_wire.hpp"

namespace sluice::test {

// One request exactly as the upstream received it.
struct RecordedRequest : HeaderLookup<RecordedRequest> {
  std::string raw;  // every byte of the request, head and framed body, as received
  std::string method, target, version;
  HeaderList headers;  // in wire order, Host included
  std::string body;    // decoded: chunk framing removed
  bool chunked = false;
  HeaderList trailers;
};

// One accepted connection, driven by one thread (the test thread in scripted mode, the handler
// thread in handler mode). Not thread-safe apart from what FakeUpstream itself does to it.
class UpstreamConn {
 public:
  ~UpstreamConn();
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  // Reads one request: head, then the body by Content-Length or chunked (decoded, trailers
  // kept). Bytes after it stay buffered for the next call (keep-alive, pipelining). Fails on EOF,
  // timeout, stop, or framing a strict RFC 9112 server would reject; `out.raw` then holds the
  // bytes seen so far.
  testing::AssertionResult read_request(RecordedRequest& out,
                                        std::chrono::milliseconds deadline = kDeadline);
  // Raw bytes (tunnels after a 101): reads until pred(received) holds; fails at the deadline or
  // when the peer closes first. received() keeps what arrived; take() returns and clears it.
  testing::AssertionResult read_until(std::function<bool(std::string_view received)> pred,
                                      std::chrono::milliseconds deadline = kDeadline);
  const std::string& received() const { return socket_.buffer(); }
  std::string take();
  // Writes all of `bytes`; false when the peer is gone, the deadline passed (the peer stopped
  // reading: backpressure) or the upstream is stopping.
  bool send(std::string_view bytes, std::chrono::milliseconds deadline = kDeadline);
  // FIN (after draining what already arrived, so the kernel does not turn it into RST).
  void close();
  // FIN on the sending side only; reads still work.
  void shutdown_write();
  // RST: SO_LINGER {1, 0}, then close.
  void reset();
  // Waits until the peer closed or reset the connection, discarding whatever it sends meanwhile.
  testing::AssertionResult wait_closed(std::chrono::milliseconds deadline = kDeadline);
  // Non-blocking: true when the peer already closed or reset. Bytes that arrived are kept for
  // read_request(). False once this side closed the connection.
  bool peer_closed_now();

  // 0 for the first connection the upstream accepted, 1 for the second, ...
  std::size_t index() const { return index_; }
  // Bytes handed to the kernel so far by send().
  std::size_t bytes_sent() const { return socket_.bytes_sent(); }

 private:
  friend class FakeUpstream;
  UpstreamConn(int fd, std::shared_ptr<detail::StopSignal> stop, std::size_t index);

  detail::Socket socket_;
  std::size_t index_;
};

class FakeUpstream {
 public:
  using Handler = std::function<void(UpstreamConn&)>;

  // Binds 127.0.0.1:0 and starts accepting. Throws std::system_error when the socket fails.
  FakeUpstream();
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path.
  std::string url(std::string_view path = "") const;

  // Switches to handler mode; call before any traffic. The handler runs on a thread of its own
  // per connection; when it returns the connection is closed (FIN). It must end when the
  // upstream stops: every read/write/wait on the connection fails at once then.
  void set_handler(Handler handler);

  // Scripted mode: hands over the next accepted connection, in accept order.
  testing::AssertionResult accept(std::shared_ptr<UpstreamConn>& out,
                                  std::chrono::milliseconds deadline = kDeadline);

  // Every connection ever accepted, in both modes.
  std::size_t accepted_count() const { return accepted_.load(); }

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void accept_loop();
  void join_finished_workers();

  std::shared_ptr<detail::StopSignal> stop_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};

  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<std::shared_ptr<UpstreamConn>> queue_;  // accepted, not yet taken by accept()
  std::vector<std::weak_ptr<UpstreamConn>> live_;    // shut down by the destructor if still alive
  Handler handler_;

  std::vector<Worker> workers_;  // accept thread only (and the destructor after joining it)
  std::thread accept_thread_;
};

// "HTTP/1.1 <status> <reason>\r\n" + headers + "\r\n" + body. Adds Content-Length: <body size>
// unless `headers` already has Content-Length or Transfer-Encoding, or the status never has a
// body (1xx, 204, 304).
std::string response(int status, std::vector<std::pair<std::string, std::string>> headers = {},
                     std::string_view body = "");

// One chunk of a chunked body: "<hex size>\r\n<data>\r\n". Do not pass "" (that is kLastChunk).
std::string chunk(std::string_view data);

// The last chunk with no trailers. With trailers, send "0\r\nName: value\r\n\r\n" instead.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace sluice::test
