#pragma once
// Transport: how a proxy reaches its upstream (Go's http.RoundTripper). A round trip takes the
// outbound request, a source for its body and a callback for 1xx responses, and returns the
// response head with a body reader that owns the upstream connection. The proxy never sees a
// connection or a parser; the transport never sees the client's Exchange, only the request's
// context (stop signal, client liveness).
//
// make_http1_transport() is the default: HTTP/1.1 over TCP with keep-alive pools (SPEC 14, 15,
// 23, 34, 35, L6, R40-R45). A ReverseProxy with a null `transport` uses one of its own.
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "sluice/message.hpp"
#include "sluice/request_context.hpp"
#include "sluice/tls.hpp"

namespace sluice {

using namespace std::chrono_literals;

class ByteStream;
namespace detail {
class SpliceSource;  // zero-copy body bytes into a pipe (src/net/splice.hpp)
}

struct TransportOptions {
  std::chrono::nanoseconds connect_timeout = 5s;           // -> 504
  std::chrono::nanoseconds response_header_timeout = 30s;  // request sent -> head complete; -> 504
  // Longest wait for the next upstream body byte (and for each upstream write); then the
  // response is cut (SPEC L7, R39), or answered 504 if nothing was sent yet. Long enough that a
  // stream with heartbeats lives forever.
  std::chrono::nanoseconds idle_read_timeout = 60s;
  // Per worker: the idle connections a pool keeps. A burst's surplus above it (connections
  // released while as many were busy a moment ago) stays for idle_surplus_linger, the oldest
  // closed first, so that a burst of more requests than this is not served by a connect and a
  // close per request (measured: a third of the CPU per request with 1,000 in flight); 0 closes
  // the oldest at once on release.
  std::size_t max_idle_connections = 128;
  std::chrono::nanoseconds idle_surplus_linger = 1s;
  std::chrono::nanoseconds pool_idle_timeout = 90s;  // idle pooled connections are closed after it
  std::uint32_t max_response_header_bytes = 64 * 1024;  // larger heads -> 502
  // An upgraded connection (WebSocket...) with no byte in either direction for this long is
  // closed (SPEC 37). Long: tunnels often idle between messages.
  std::chrono::nanoseconds tunnel_idle_timeout = 300s;
  // For https:// upstreams: CA bundles, SNI name, verification (sluice/tls.hpp). Null: the
  // system CA bundle, loaded once per process when the first transport is made.
  std::shared_ptr<UpstreamTls> tls;
};

// The request body as the transport sends it: the client's, read on demand (SPEC 14).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Up to `buf` bytes; {ec, 0} with no error at the end. Errors are the client's
  // (errc::client_body_*): the transport passes them on as the round trip's error.
  virtual boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read(
      boost::asio::mutable_buffer buf) = 0;
};

// The response body of one round trip. It owns the upstream connection: destroyed without
// finish(true), the connection is closed, which is how an upstream learns that the client went.
class ResponseBody {
 public:
  using ReadHandler = boost::asio::any_completion_handler<void(std::error_code, std::size_t)>;

  virtual ~ResponseBody() = default;
  ResponseBody() = default;
  ResponseBody(const ResponseBody&) = delete;
  ResponseBody& operator=(const ResponseBody&) = delete;

  // At once: body bytes (framing removed) that are there, else would_block; {no error, 0} once
  // done(). Errors end the body: errc::upstream_closed (cut short), errc::upstream_body_invalid
  // (bad framing, SPEC R37), or the read's own.
  virtual std::size_t read_some(boost::asio::mutable_buffer into, std::error_code& ec) = 0;
  // Waits for upstream bytes: (ec, n) with n body bytes, possibly 0 when only framing came (call
  // read_some again). Race it; a cancelled read has read nothing.
  template <typename Token>
  auto async_read_some(boost::asio::mutable_buffer into, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, boost::asio::mutable_buffer b) {
          start_read_some(b, ReadHandler(std::move(handler)));
        },
        token, into);
  }
  // Bytes received and not yet handed out (read_some gives them without waiting).
  virtual std::size_t buffered_bytes() const = 0;
  virtual bool done() const = 0;
  // The trailer fields (SPEC 21), once done().
  virtual Fields trailers() = 0;
  // The exchange is over: with `reusable`, the connection may serve another request, which the
  // transport allows only for a response read to its end and well framed, on a request sent
  // whole (SPEC L6). Idempotent; the destructor is finish(false).
  virtual void finish(bool reusable) = 0;

  // Zero-copy: the rest of the body can be moved by the kernel (plain TCP, known length,
  // nothing buffered); null otherwise.
  virtual detail::SpliceSource* splice_source() { return nullptr; }

  // After a 101: the upstream connection as a byte stream for the tunnel (it stays owned by
  // this body and is never pooled), and the bytes that followed the 101 head.
  struct Upgraded {
    ByteStream* stream = nullptr;
    std::string buffered;
  };
  virtual Upgraded upgraded() { return {}; }

 protected:
  virtual void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) = 0;
};

// A 1xx (not 101) as it arrived, before the final response (SPEC 23). An error stops the
// round trip (errc::client_gone).
using InformationalHandler =
    std::function<boost::asio::awaitable<std::error_code>(unsigned status, Fields fields)>;

struct RoundTripRequest {
  // scheme/host/port of out.url name the upstream. A transport that chooses among servers (the
  // fleet's balancing one) sets them to the server it sent the request to, so that what the
  // access log names is the server that answered; nothing else of `out` is changed.
  Request& out;
  BodySource* body = nullptr;  // null: none (out.content_length == 0)
  InformationalHandler on_informational;
  RequestContext& context;
  // A server not to send to when the transport has another available: the one a resumed SSE
  // stream just lost ("http://10.0.0.7:9000"). Empty: none. A single-server transport ignores it.
  std::string_view avoid = {};
};

// A request body still being sent upstream while the response streams back (HTTP/2 is full
// duplex: a gRPC bidi call sends and receives at once). The transport's sender reads the
// BodySource, which belongs to the caller, so the caller ends it before the source goes:
// stop_and_wait() stops the sending if it has not finished and returns once it has ended.
class RequestUpload {
 public:
  virtual ~RequestUpload() = default;
  virtual boost::asio::awaitable<void> stop_and_wait() = 0;
};

struct UpstreamResponse {
  // Set when no final response head was obtained: errc::upstream_* (connect, timeout, closed,
  // bad response, write failed), the body source's error, errc::client_gone, or
  // operation_aborted when the server stops.
  std::error_code ec;
  // As received: status, reason, every field (hop-by-hop ones included), and the body length
  // (-1 unknown: chunked or close-delimited; 0 for HEAD, 1xx, 204; HEAD and 304 carry the
  // representation's length).
  Response head;
  std::unique_ptr<ResponseBody> body;  // set when !ec
  // For the error log: with ec, what failed, naming the upstream address and the OS, resolver
  // or TLS reason ("connect 127.0.0.1:9: Connection refused"); may be empty.
  std::string error_detail;
  // For the access log and the metrics: the connect (and TLS handshake) time of a new
  // connection; absent when a pooled one was reused.
  std::optional<std::chrono::nanoseconds> connect_time;
  // Which of the upstream's servers answered (a balancing transport's index; 0 otherwise).
  std::size_t server = 0;
  // Set when the request body is still being sent (see RequestUpload); also with ec, in which
  // case it has ended already.
  std::shared_ptr<RequestUpload> upload;
};

// Live connection counts of a transport, summed over workers (SPEC L2).
struct TransportCounts {
  std::int64_t busy = 0;
  std::int64_t idle = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends the request and reads the final response head. Runs on the request's worker thread.
  virtual boost::asio::awaitable<UpstreamResponse> round_trip(RoundTripRequest request) = 0;
  // The bounds the proxy applies to the body and the tunnel (idle_read_timeout,
  // tunnel_idle_timeout) come from here.
  virtual const TransportOptions& options() const = 0;
  virtual TransportCounts counts() const { return {}; }
};

// HTTP/1.1 over TCP with one keep-alive pool per worker thread, owned by the transport: a
// transport destroyed while the server runs closes its idle connections, and a request in
// flight keeps what it uses alive until it ends.
std::shared_ptr<Transport> make_http1_transport(TransportOptions options = {});

// HTTP/2 to the upstream: with prior knowledge (h2c) to http:// servers, and over TLS to
// https:// servers that choose "h2" by ALPN (the only protocol offered; options.tls as for
// HTTP/1). One connection per worker and server carries many requests at once, up to the
// server's SETTINGS_MAX_CONCURRENT_STREAMS (then a second connection opens); a connection that
// got GOAWAY takes no new request. The request body streams while the response does
// (UpstreamResponse::upload).
std::shared_ptr<Transport> make_http2_transport(TransportOptions options = {});

// What Go's default transport does (`--upstream-protocol auto`): HTTP/1.1 to http:// servers;
// to https:// servers, "h2" and "http/1.1" offered by ALPN and the server's choice spoken, with
// make_http2_transport's connections or make_http1_transport's pool. A server's http/1.1 choice
// is remembered per worker for options.pool_idle_timeout (Go asks on every new connection), so
// its requests go straight to the HTTP/1 pool meanwhile. Upgrades (WebSocket) and CONNECT always
// go over HTTP/1.1.
std::shared_ptr<Transport> make_auto_transport(TransportOptions options = {});

}  // namespace sluice
