#pragma once
// Exchange: one request and its response on a client connection, as a handler sees it. The
// session that owns the connection creates it; the handler reads the request (head, then body as
// a stream) and writes one response, either whole (`respond`) or streamed
// (`begin_response` / `write_body` / `flush` / `end_response`, or `abort` to cut it).
//
// Response framing toward the client (SPEC 19): a known length is sent with Content-Length; an
// unknown length is chunked to HTTP/1.1 clients and close-delimited to HTTP/1.0 clients; HEAD,
// 1xx, 204 and 304 responses carry no body. Bytes written are buffered (kOutputBufferBytes) and
// reach the socket when the buffer would overflow (then the held bytes and the write go out
// together, the write not copied), on `flush`, or at the end: that buffer is what
// `flush_interval` schedules.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <string>
#include <utility>
#include <vector>

#include "sluice/events.hpp"
#include "sluice/message.hpp"

namespace sluice {

namespace detail {
struct SessionIo;  // the owning session's stream, read buffer and parser (src/server/session_io.hpp)
}

class Exchange {
 public:
  static constexpr std::size_t kOutputBufferBytes = 16 * 1024;
  // What a response's buffer starts with: enough for a typical head and a small body, so a small
  // response allocates once; it grows up to kOutputBufferBytes for buffered body bytes.
  static constexpr std::size_t kInitialOutputBytes = 1024;

  Exchange(detail::SessionIo& io, Request&& request);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  const Request& request() const { return request_; }
  ResponseId id() const { return id_; }
  boost::asio::any_io_executor executor() const;
  // The proxy that serves this exchange reports its client writes here (SPEC L1). May be null.
  void set_observer(const Observer* observer) { observer_ = observer; }

  // ---- Request body (SPEC 14): streamed, never held whole.
  // Reads up to `buf` bytes of the body (chunked framing already removed). {ec, 0} with no error
  // means the body has ended. Sends "100 Continue" first when the client asked for it (RFC 9110 §10.1.1).
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body(
      boost::asio::mutable_buffer buf);
  bool body_done() const;

  // ---- Response, whole.
  // Taken by value: a coroutine must own its arguments (a temporary passed by reference to a
  // coroutine is a dangling-reference trap, and GCC 12 mishandles some of them).
  boost::asio::awaitable<std::error_code> respond(SimpleResponse res);

  // ---- Response, streamed. `trailer_names` are announced in a Trailer field (SPEC 20) when
  // the response is chunked.
  void begin_response(const Response& res, const std::vector<std::string>& trailer_names = {});
  boost::asio::awaitable<std::error_code> write_body(boost::asio::const_buffer data);
  boost::asio::awaitable<std::error_code> flush();
  // Zero-copy body bytes: whether the response takes them (a Content-Length body still open),
  // and the write itself, which first sends what is held and then moves exactly `n` bytes from
  // the pipe `pipe_fd` (splice(2)) to the client, each wait for room bounded by write_timeout.
  // Same accounting, limits and client_write events as write_body.
  bool accepts_spliced_body() const;
  boost::asio::awaitable<std::error_code> write_body_spliced(int pipe_fd, std::size_t n);
  // Completes the response: the last chunk with `trailers` (SPEC 21, 22), then a flush. A
  // Content-Length response that got fewer bytes than it announced is aborted instead (and
  // write_body refuses bytes beyond it): the framing the client sees is never wrong.
  boost::asio::awaitable<std::error_code> end_response(const Fields* trailers = nullptr);
  // SPEC 33 / L4: the response cannot be completed; the connection is closed without the final
  // chunk or the missing Content-Length bytes, so the client sees a truncated response.
  void abort();

  // ---- Protocol switch (SPEC 36). Writes the 101 head at once, with `res.header` plus
  // "Connection: Upgrade"; the connection then belongs to the caller's tunnel and is closed when
  // the exchange ends. Only for a request that asked to upgrade.
  boost::asio::awaitable<std::error_code> write_switching_protocols(Response res);
  // Bytes the client sent after its request head that the session already read (they belong
  // to the tunnel after a switch). Empties the session's buffer.
  std::string take_buffered_input();
  bool upgraded() const { return upgraded_; }

  // ---- Informational responses (SPEC 23). Writes one 1xx head (100, 102, 103, ...; never 101)
  // to the client at once, not buffered with the final response, with `fields` as given (the
  // caller strips hop-by-hop fields; framing fields are never emitted). Sends nothing and
  // succeeds for an HTTP/1.0 client (RFC 9110 §15.2). Refused once the final response began.
  // A 1xx does not count as head_sent(): an error response may still follow it.
  boost::asio::awaitable<std::error_code> write_informational(unsigned status, Fields fields);
  // True when sluice itself sent "100 Continue" to the client (read_body, Expect: 100-continue):
  // a 100 from the upstream is then not passed on a second time.
  bool continue_sent() const;

  bool response_started() const { return started_; }
  bool response_ended() const { return ended_; }
  bool aborted() const { return aborted_; }
  unsigned status() const { return status_; }
  std::uint64_t body_bytes_sent() const { return body_bytes_; }
  // True once any byte of the response head reached the socket: until then a failed response
  // can still be replaced by an error response (`discard_response`).
  bool head_sent() const { return head_sent_; }
  // Forgets a response that began but of which nothing was sent yet. Requires !head_sent().
  void discard_response();

  // ---- Client liveness (SPEC 34). The socket is exposed only for readiness waits.
  boost::asio::ip::tcp::socket& client_socket();
  // False once bytes of a next (pipelined) request are known to be waiting: readability then
  // says nothing about the client going away.
  bool client_watchable() const;
  // Non-blocking check after the socket became readable: true when the client closed or reset.
  // When it finds pipelined bytes instead, the client stops being watchable.
  bool client_gone_now();
  // Completes (at once, for waits started later too) when the server stops for good: race it.
  boost::asio::steady_timer& stop_signal();
  bool server_stopping() const;

  // ---- For the access log.
  void note_upstream_time(std::chrono::steady_clock::duration d) { upstream_time_ = d; }
  std::optional<std::chrono::steady_clock::duration> upstream_time() const { return upstream_time_; }
  // Whether the connection may serve another request after this exchange.
  bool keep_alive() const;

 private:
  // The request body was read to its end (by the parser, or directly: read_body).
  bool request_body_read() const;
  boost::asio::awaitable<std::error_code> write_out(
      std::span<const boost::asio::const_buffer> extra = {});
  void append_head(const Response& res, const std::vector<std::string>& trailer_names);

  detail::SessionIo& io_;
  Request request_;
  const Observer* observer_ = nullptr;
  ResponseId id_;
  std::string out_;
  enum class Framing { none, length, chunked, close_delimited } framing_ = Framing::none;
  bool started_ = false;
  bool ended_ = false;
  bool aborted_ = false;
  bool continue_sent_ = false;
  bool head_sent_ = false;
  bool last_chunk_seen_ = false;  // the request body's last chunk was parsed (SPEC R22)
  bool body_complete_ = false;    // ... and its unparsable trailer section dropped
  bool direct_ = false;           // the rest of a Content-Length body is read unparsed
  std::uint64_t direct_left_ = 0;
  std::function<void(std::uint64_t, std::string_view, boost::beast::error_code&)> last_chunk_hook_;
  bool upgraded_ = false;
  bool will_close_ = false;
  bool pipelined_ = false;
  unsigned status_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::int64_t declared_length_ = kUnknownLength;  // Framing::length: what Content-Length said
  std::optional<std::chrono::steady_clock::duration> upstream_time_;
};

}  // namespace sluice
