#pragma once
// What FakeUpstream and TestClient share, written once: header lookup, a strict HTTP/1 message
// parser and a non-blocking socket whose every wait is bounded by a deadline (and, on the fake
// upstream's side, by a stop signal, so that its destructor can end handler threads that are
// blocked in a read or a write).
//
// The parser is deliberately strict (CRLF only, token field names, no obs-fold, no control bytes
// in values, one Content-Length, no Transfer-Encoding next to Content-Length): the fake upstream
// and the test client stand for RFC 9112-strict peers, so anything sloppy the proxy emits shows up
// as a failure with the offending bytes instead of being silently accepted.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::test {

// Field lines in wire order, names as sent.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Every value of the fields named `name` (ASCII case-insensitive), in wire order.
std::vector<std::string> header_values(const HeaderList& headers, std::string_view name);

// header()/values()/count() for RecordedRequest and ParsedResponse, written once (CRTP: the
// message type only has to have a `headers` member).
template <typename Message>
struct HeaderLookup {
  // The first value of `name`, or nullopt when the message has no such field.
  std::optional<std::string> header(std::string_view name) const {
    auto all = values(name);
    if (all.empty()) return std::nullopt;
    return std::move(all.front());
  }
  std::vector<std::string> values(std::string_view name) const {
    return header_values(static_cast<const Message&>(*this).headers, name);
  }
  std::size_t count(std::string_view name) const { return values(name).size(); }
};

bool iequals(std::string_view a, std::string_view b);

// Bytes made readable in a failure message: CR and LF shown as \r \n (with a real line break
// after each \n), other control and non-ASCII bytes as \xNN, and input past `limit` cut off.
std::string printable(std::string_view bytes, std::size_t limit = 4096);

namespace detail {

using Clock = std::chrono::steady_clock;

// "200ms", for failure messages.
std::string format_ms(std::chrono::milliseconds d);

// A level-triggered "stop now" shared by a FakeUpstream and its connections. Once raised it stays
// raised (the pipe is never drained), so every later poll() that includes fd() returns at once.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void raise();
  bool raised() const { return raised_.load(); }
  int fd() const { return pipe_[0]; }

 private:
  int pipe_[2] = {-1, -1};
  std::atomic<bool> raised_{false};
};

enum class Io {
  ok,       // the operation made progress / the wait saw the event
  eof,      // the peer closed its sending side
  error,    // the socket failed (reset, EPIPE, ...): see Socket::last_error()
  timeout,  // the deadline passed first
  stopped,  // the StopSignal was raised first
  closed,   // this side already closed the socket
};

// A connected TCP socket, non-blocking, with a receive buffer. Driven by one thread; only
// shutdown_both() may be called from another one (to wake that thread and tell the peer).
class Socket {
 public:
  // Takes ownership of `fd`. `stop` may be null (no stop signal).
  Socket(int fd, std::shared_ptr<StopSignal> stop);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Waits until `events` (POLLIN/POLLOUT) are ready. Readiness includes POLLERR/POLLHUP: the
  // following recv/send reports what happened.
  Io wait(short events, Clock::time_point deadline);
  // Appends at least one received byte to buffer(). After eof/error once, returns it again at
  // once (peer_gone() is true).
  Io fill(Clock::time_point deadline);
  // Sends all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE).
  Io write_all(std::string_view bytes, Clock::time_point deadline);
  // Reads whatever is available right now into buffer(); true when that shows EOF or an error.
  bool peer_closed_now();

  void shutdown_write();
  // FIN after draining what already arrived: closing with unread bytes in the kernel buffer would
  // send RST instead, which can make the peer's kernel drop data it has not read yet.
  void close_graceful();
  // RST: SO_LINGER {1, 0} then close.
  void reset();
  // shutdown(SHUT_RDWR) without closing the descriptor (which another thread may be polling).
  void shutdown_both();

  bool is_open() const;
  bool peer_gone() const { return peer_gone_; }
  int last_error() const { return last_error_; }
  std::size_t bytes_sent() const { return bytes_sent_.load(); }
  std::string& buffer() { return buffer_; }
  const std::string& buffer() const { return buffer_; }
  // "connection reset by peer", "timed out", ... for failure messages.
  std::string describe(Io io) const;

 private:
  mutable std::mutex fd_mutex_;  // guards fd_ against close here vs shutdown_both elsewhere
  int fd_;
  std::shared_ptr<StopSignal> stop_;
  std::string buffer_;
  bool peer_gone_ = false;
  int last_error_ = 0;
  std::atomic<std::size_t> bytes_sent_{0};
};

// One HTTP/1 message as parsed: request or response fields are filled according to the kind.
struct ParsedMessage {
  std::string method, target;  // request line
  int status = 0;              // status line
  std::string reason;
  std::string version;
  HeaderList headers;
  std::string body;  // decoded (chunked framing removed); partial while the message is incomplete
  bool chunked = false;
  HeaderList trailers;
};

// Incremental, resumable parser for one message. Call advance() with the bytes received so far
// (the message starts at buf[0]; between calls buf may only grow); it picks up where it stopped,
// so a large body is scanned once, not once per read.
class MessageParser {
 public:
  enum class Kind { request, response };
  enum class Status { incomplete, complete, error };

  explicit MessageParser(Kind kind, bool head_request = false)
      : kind_(kind), head_request_(head_request) {}

  // `at_eof`: no byte will follow buf, which ends a close-delimited response body.
  Status advance(std::string_view buf, bool at_eof);

  // Bytes of buf that belong to the message (all of it once complete).
  std::size_t consumed() const { return pos_; }
  bool head_done() const { return head_done_; }
  const std::string& error() const { return error_; }
  const ParsedMessage& message() const { return msg_; }
  ParsedMessage& message() { return msg_; }

 private:
  enum class State {
    start_line,
    fields,
    body_length,
    body_until_close,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailer_fields,
    done,
    failed,
  };

  std::optional<std::string_view> next_line(std::string_view buf);
  bool parse_start_line(std::string_view line);
  bool parse_field(std::string_view line, HeaderList& into);
  bool parse_chunk_size(std::string_view line);
  bool begin_body();
  Status fail(std::string why);
  Status pending() const { return state_ == State::failed ? Status::error : Status::incomplete; }

  Kind kind_;
  bool head_request_;
  State state_ = State::start_line;
  std::size_t pos_ = 0;
  std::uint64_t remaining_ = 0;  // body or chunk bytes still to come
  bool head_done_ = false;
  std::string error_;
  ParsedMessage msg_;
};

}  // namespace detail
}  // namespace sluice::test
