#pragma once
// Exchange: one request and its response, as a handler sees it, whatever protocol carries it.
// The server creates it (HTTP/1 today: src/server/http1_exchange.hpp; an HTTP/2 stream next);
// the handler reads the request (head, then the body as a stream) and writes one response,
// either whole (`respond`) or streamed (`begin_response` / `write_body` / `flush` /
// `end_response`, or `abort` to cut it).
//
// Bytes written are buffered, and reach the client when the buffer would overflow, on `flush`,
// or at the end: that buffer is what `flush_interval` schedules. How the response is framed
// (Content-Length, chunked, close-delimited, DATA frames) is the implementation's business; a
// response can never be framed wrong: bytes past an announced length are refused, and a short
// one is cut instead of completed.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sluice/events.hpp"
#include "sluice/message.hpp"
#include "sluice/metrics.hpp"
#include "sluice/request_context.hpp"

namespace sluice {

class ByteStream;  // a connected byte stream (src/net): what an upgraded connection becomes
namespace detail {
class SpliceSink;  // zero-copy body bytes from a pipe (src/net/splice.hpp)
}

class Exchange : public RequestContext {
 public:
  explicit Exchange(Request&& request);
  ~Exchange() override;

  const Request& request() const { return request_; }
  ResponseId id() const { return id_; }
  // The proxy that serves this exchange reports its client writes here (SPEC L1). May be null.
  void set_observer(const Observer* observer) { observer_ = observer; }

  // ---- Request body (SPEC 14): streamed, never held whole.
  // Reads up to `buf` bytes of the body (framing removed). {ec, 0} with no error means the body
  // has ended. Errors: errc::client_body_invalid (malformed framing, SPEC R17-R21),
  // errc::client_body_too_large (ServerOptions::max_body_bytes), errc::client_body_failed (the
  // client left or stalled). Sends "100 Continue" first when the client asked for it.
  virtual boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body(
      boost::asio::mutable_buffer buf) = 0;
  // True when sluice itself sent "100 Continue" to the client (read_body, Expect:
  // 100-continue): a 100 from the upstream is then not passed on a second time.
  virtual bool continue_sent() const = 0;

  // ---- Response, whole. Taken by value: a coroutine must own its arguments.
  boost::asio::awaitable<std::error_code> respond(SimpleResponse res);

  // ---- Response, streamed. `trailer_names` are announced (SPEC 20) where the framing has
  // trailers.
  virtual void begin_response(const Response& res,
                              const std::vector<std::string>& trailer_names = {}) = 0;
  virtual boost::asio::awaitable<std::error_code> write_body(boost::asio::const_buffer data) = 0;
  virtual boost::asio::awaitable<std::error_code> flush() = 0;
  // Completes the response with `trailers` (SPEC 21, 22), then flushes. A response that got
  // fewer bytes than it announced is aborted instead.
  virtual boost::asio::awaitable<std::error_code> end_response(
      const Fields* trailers = nullptr) = 0;
  // SPEC 33 / L4: the response cannot be completed; the client sees it cut (HTTP/1: the
  // connection closes without the final chunk or the missing bytes).
  virtual void abort() = 0;
  // Forgets a response that began but of which nothing was sent yet. Requires !head_sent().
  virtual void discard_response() = 0;

  // ---- Informational responses (SPEC 23): one 1xx head (never 101), sent at once, with
  // `fields` as given (the caller strips hop-by-hop fields). Nothing is sent, successfully, to
  // a client that cannot take one (HTTP/1.0). Refused once the final response began. A 1xx
  // does not count as head_sent().
  virtual boost::asio::awaitable<std::error_code> write_informational(unsigned status,
                                                                      Fields fields) = 0;

  // ---- Protocol switch (SPEC 36). Sends the 101 with `res.header` at once; the client's byte
  // stream then belongs to the caller's tunnel until the exchange ends. `buffered`: bytes the
  // client sent after its request head, already read. Only for a request that asked to upgrade.
  struct Switched {
    std::error_code ec;
    ByteStream* stream = nullptr;
    std::string buffered;
  };
  virtual boost::asio::awaitable<Switched> switch_protocols(Response res) = 0;

  // ---- Zero-copy body bytes, where the client side can take them from a pipe (plain TCP);
  // null otherwise.
  virtual detail::SpliceSink* splice_sink() { return nullptr; }

  // ---- State.
  bool response_started() const { return started_; }
  bool response_ended() const { return ended_; }
  bool aborted() const { return aborted_; }
  unsigned status() const { return status_; }
  std::uint64_t body_bytes_sent() const { return body_bytes_; }
  // Of those, the bytes a completed write handed to the client (the rest are buffered).
  std::uint64_t body_bytes_delivered() const { return body_delivered_; }
  // True once any byte of the response head reached the client: until then a failed response
  // can still be replaced by an error response (`discard_response`).
  bool head_sent() const { return head_sent_; }

  // ---- For the access log and the metrics: what the handler reports (a ReverseProxy fills
  // it; another handler may leave it as it is), and what the exchange counted itself.
  struct Report {
    // Index of the route in the MetricsLayout (the Server counts requests under it).
    std::size_t route = kNoRoute;
    // The names the JSON access log shows, filled only when `want_names` (the server sets it
    // when that log is on): a log line may allocate, a metric may not. Copies, so that they
    // outlive whoever served the request. Error lines name the server whatever this says.
    bool want_names = false;
    std::string route_name;
    std::string upstream_name;
    std::string server;  // the upstream server's URL, "http://10.0.0.7:9000"
    std::optional<std::chrono::nanoseconds> upstream_connect;     // a new connection's
    std::optional<std::chrono::nanoseconds> upstream_first_byte;  // request sent -> head
    std::optional<std::chrono::nanoseconds> upstream_total;       // request sent -> body end
    std::optional<ResponseOutcome> outcome;
    std::string error;  // what failed, with the upstream address and the OS or TLS reason
  };
  Report& report() { return report_; }
  const Report& report() const { return report_; }
  // Request body bytes read so far.
  std::uint64_t body_bytes_received() const { return body_bytes_received_; }
  // Writes that carried bytes of the response to the client (1xx, head, body, trailers).
  std::uint32_t client_writes() const { return client_writes_; }

 protected:
  // Reports `bytes` of this response handed to the client (SPEC L1). An observer's exception
  // is swallowed: it must not unwind the response.
  void notify_client_write(std::size_t bytes) const;

  Request request_;
  const Observer* observer_ = nullptr;
  ResponseId id_;
  bool started_ = false;
  bool ended_ = false;
  bool aborted_ = false;
  bool head_sent_ = false;
  unsigned status_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t body_delivered_ = 0;
  std::uint64_t body_bytes_received_ = 0;
  mutable std::uint32_t client_writes_ = 0;
  Report report_;
};

}  // namespace sluice
