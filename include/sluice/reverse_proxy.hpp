#pragma once
// ReverseProxy: Go's httputil.ReverseProxy for sluice. Set the hooks you need, then use `serve`
// as (or from) a Server handler. The hooks and options must not change once requests flow; the
// object is shared by every worker thread and must outlive the Server that calls it.
//
// Life of a request (docs/architecture.md): copy the inbound request -> director | rewrite, with
// hop-by-hop stripping between (SPEC 1-8) -> round trip through the Transport (SPEC 14, 15, 34,
// 35, L6) -> strip the response's hop-by-hop fields (SPEC 18) ->
// modify_response (SPEC 32) -> head, then the body through a FlushWriter on the flush interval
// selected for this response (SPEC 24-28, L1, L3) -> trailers (SPEC 20-22). A failure before the
// head is sent goes to error_handler (SPEC 30, 31); after it, the response is cut (SPEC 33, L4).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "sluice/content_coding.hpp"
#include "sluice/error.hpp"
#include "sluice/events.hpp"
#include "sluice/exchange.hpp"
#include "sluice/message.hpp"
#include "sluice/metrics.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/transport.hpp"

namespace sluice {

using namespace std::chrono_literals;

// SPEC 29 (Go's BufferPool): where the body pump's copy buffer comes from. get() is called
// once per proxied response body and put() once with the same span when the copy ends, however
// it ends; both run on worker threads, concurrently across workers.
class BufferPool {
 public:
  virtual ~BufferPool() = default;
  virtual std::span<char> get() = 0;  // must return a non-empty buffer
  virtual void put(std::span<char> buffer) = 0;
};

// Live counts for one ReverseProxy, summed over workers (SPEC L2).
struct ProxyCounts {
  std::int64_t in_flight_responses = 0;
  std::int64_t armed_flush_timers = 0;
  std::int64_t upstream_busy = 0;
  std::int64_t upstream_idle = 0;
};

class ReverseProxy {
 public:
  ReverseProxy();
  ~ReverseProxy();
  ReverseProxy(const ReverseProxy&) = delete;
  ReverseProxy& operator=(const ReverseProxy&) = delete;

  // Preferred routing hook (Go 1.20+ Rewrite). Runs after hop-by-hop and X-Forwarded-* fields
  // were removed from `out` and after the query was cleaned (SPEC 12); route with
  // `pr.set_url(target)`, add X-Forwarded-* with `pr.set_x_forwarded()`. Must not block: it runs
  // on a worker thread. Exactly one of rewrite/director must be set, else every request gets the
  // error handler with errc::no_route (SPEC 8). Exceptions go to the error handler.
  std::function<void(ProxyRequest& pr)> rewrite;

  // Go's Director, for code ported from Go. Runs on the copy *before* hop-by-hop stripping, so
  // hop-by-hop fields it adds are removed again; client X-Forwarded-* are kept and the client IP
  // is appended to X-Forwarded-For unless it sets out.omit_x_forwarded_for (SPEC 6, 8).
  std::function<void(Request& out)> director;

  // Runs on every upstream response (any status) after its hop-by-hop fields were removed and
  // before anything is sent to the client; may change status and fields. Returning an error (or
  // throwing) closes the upstream connection and runs error_handler (SPEC 32). Default: none.
  std::function<std::error_code(Response& res)> modify_response;

  // Builds the response for a request that failed before any of the upstream response was sent:
  // transport errors, modify_response errors (SPEC 31). Default: 502 with an empty body, 504 for
  // the connect and response-header timeouts (SPEC 30); for a gRPC request (content-type
  // application/grpc), 200 with grpc-status 14 UNAVAILABLE, or 4 DEADLINE_EXCEEDED where HTTP
  // would say 504, and grpc-message, with no body. Must not throw.
  std::function<SimpleResponse(const Request& in, std::error_code ec)> error_handler;

  // SPEC 24-27: 0 = no periodic flush; > 0 = a write is flushed at most this much later (and the
  // head within one interval even if the body is late); < 0 = flush after every write.
  // text/event-stream and unknown-length responses always flush after every write.
  std::chrono::nanoseconds flush_interval{0};

  // ---- Streaming features: each off by default, so that behaviour is Go's unless asked for.
  // SSE heartbeats: when a text/event-stream response (open length, not compressed by the
  // upstream) has forwarded nothing for this long, and the client is at an event boundary,
  // sluice writes the comment line ":\n\n" and flushes it, so that intermediaries do not cut an
  // idle stream. Not upstream activity: the upstream idle timeout still runs. 0: off.
  std::chrono::nanoseconds sse_heartbeat{0};
  // SSE resume: when the upstream of an SSE stream (a GET without a body, answered 200
  // text/event-stream, not compressed by the upstream) fails mid-stream and the client has an
  // event ID, the request is sent again (to another server of the pool when there is one) with
  // Last-Event-ID, and the new response's events continue the same client response. Events
  // then reach the client whole: the bytes of an unfinished event wait for its end (up to
  // 64 KiB; a longer event is forwarded as it comes and cannot be resumed within).
  // modify_response does not see the new responses.
  bool sse_resume = false;
  // Attempts per failure, counted since the client's event ID last changed.
  unsigned sse_resume_attempts = 3;
  // Compression of 2xx responses that HTTP/1.1 clients accept (content_coding.hpp). Flushed at
  // every proxy flush: it changes the size of what the client gets, never when it gets it. Off
  // by default (`compress.codings` empty).
  CompressOptions compress;

  // How the upstream is reached (SPEC 14, 15, 34, 35, L6, L7). Null: a default HTTP/1 transport
  // of the proxy's own, with default options; set make_http1_transport(options) to change them,
  // or a Transport of your own. Shared, so a transport can serve several proxies and outlive a
  // route table that is swapped while its streams finish.
  std::shared_ptr<Transport> transport;

  // Optional source of copy buffers (SPEC 29); not owned, must outlive the proxy's traffic.
  // Default: a buffer of the proxy's own, reused per worker thread: 16 KiB for streams that
  // flush every write, 16 to 256 KiB for a known-length body.
  BufferPool* buffer_pool = nullptr;

  // Lifecycle events (SPEC L1); see events.hpp.
  Observer observer;

  // Error lines (upstream errors naming the server and the OS or TLS reason, client aborts).
  // Default: stderr, through the log queue (never blocks).
  std::function<void(std::string_view line)> error_log;

  // Metrics (sluice/metrics.hpp), shared with the Server's: upstream first-byte and connect
  // times, requests per upstream server, response endings, flush timers and the added latency
  // of every forwarded chunk. Null: none.
  std::shared_ptr<Metrics> metrics;
  // The route of the metrics layout this proxy serves; the Server counts its requests under it.
  std::size_t metrics_route = 0;
  // What the access log names this proxy's route and upstream.
  std::string route_name = "default";
  std::string upstream_name = "default";

  // Proxies one exchange. Never throws; always leaves `ex` with a complete or aborted response.
  boost::asio::awaitable<void> serve(Exchange& ex);

  ProxyCounts counts() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  friend struct ProxyAccess;
};

// Go's NewSingleHostReverseProxy (SPEC 9-13): a director that routes every request to `target`
// (path joined with one slash, queries merged, inbound Host kept, no User-Agent injected).
std::unique_ptr<ReverseProxy> single_host(const Url& target);

}  // namespace sluice
