// ReverseProxy::serve — Go's ServeHTTP, step by step. Each step cites the SPEC numbers it
// implements; docs/architecture.md draws the same life of a request.
#include "sluice/reverse_proxy.hpp"

#include <array>
#include <boost/beast/http/field.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "common/metric_shards.hpp"
#include "common/nothrow.hpp"
#include "http1/wire.hpp"
#include "proxy/body_pump.hpp"
#include "proxy/compression_policy.hpp"
#include "proxy/flush_policy.hpp"
#include "proxy/flush_writer.hpp"
#include "proxy/forwarded.hpp"
#include "proxy/grpc_error.hpp"
#include "proxy/hop_by_hop.hpp"
#include "proxy/outbound_request.hpp"
#include "proxy/sse_gate.hpp"
#include "proxy/sse_resume.hpp"
#include "proxy/tunnel.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

// The proxy's steps, with access to its State (a friend of ReverseProxy).
struct ProxyAccess {
  static asio::awaitable<ResponseOutcome> proxy(const ReverseProxy& p, Exchange& ex);
};

struct ReverseProxy::State {
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> armed_flush_timers{0};
  // The transport used while ReverseProxy::transport is null.
  std::shared_ptr<Transport> default_transport = make_http1_transport();
};

namespace {

// Counts the response as in flight (SPEC L2) for exactly as long as serve() runs, and emits
// response_end last, however serve() is left (complete, error, or the frame destroyed on stop).
class ResponseScope {
 public:
  ResponseScope(std::atomic<std::int64_t>& in_flight, const ReverseProxy& p, Exchange& ex)
      : in_flight_(in_flight), observer_(p.observer), metrics_(p.metrics.get()), ex_(ex) {
    ++in_flight_;
    ex_.set_observer(&observer_);
    auto& report = ex_.report();
    report.route = p.metrics_route;
    if (report.want_names) {
      report.route_name = p.route_name;
      report.upstream_name = p.upstream_name;
    }
  }
  ~ResponseScope() {
    --in_flight_;
    // Nothing the session writes after serve() (a fallback answer) is this proxy's event:
    // response_end stays the last one (SPEC L1).
    ex_.set_observer(nullptr);
    ex_.report().outcome = outcome;
    if (metrics_) metrics_->shards().response_end(ex_.report().route, outcome);
    if (!observer_.response_end) return;
    try {
      observer_.response_end(ex_.id(), outcome);
    } catch (...) {  // a destructor must not throw; an observer's bug must not end the process
    }
  }
  ResponseScope(const ResponseScope&) = delete;
  ResponseScope& operator=(const ResponseScope&) = delete;

  ResponseOutcome outcome = ResponseOutcome::shutdown;

 private:
  std::atomic<std::int64_t>& in_flight_;
  const Observer& observer_;
  const Metrics* metrics_;
  Exchange& ex_;
};

void log_error(const ReverseProxy& p, const Request& in, std::string_view what) {
  write_log_line(p.error_log,
                 "sluice: " + in.method + " " + in.url.request_target() + ": " + std::string(what));
}

// "http://127.0.0.1:9000": the upstream server a request went to, as error lines name it.
std::string server_of(const Request& out) { return out.url.origin(); }

// What failed upstream, for the error line and the access log: the error, the server, and the
// transport's detail (the address and the OS, resolver or TLS reason) when it has one.
std::string upstream_failure(std::error_code ec, const Request& out, std::string_view detail) {
  std::string text = ec.message() + " [" + server_of(out) + "]";
  if (!detail.empty()) text += ": " + std::string(detail);
  return text;
}

// Whole responses the proxy writes itself: a failed write cuts the connection.
asio::awaitable<void> respond_or_cut(Exchange& ex, SimpleResponse res) {
  const auto ec = co_await ex.respond(std::move(res));
  if (ec) ex.abort();
}

// SPEC 30/31: the error handler's response (default: 502, 504 for timeouts, empty body).
asio::awaitable<ResponseOutcome> answer_error(const ReverseProxy& p, Exchange& ex,
                                              std::error_code ec) {
  auto& report = ex.report();
  if (report.error.empty()) report.error = ec.message();
  log_error(p, ex.request(), "upstream error: " + report.error);
  // A gRPC client gets a gRPC status (Trailers-Only), not an HTTP error it cannot read.
  SimpleResponse res = detail::is_grpc_request(ex.request())
                           ? detail::grpc_error_response(ec)
                           : SimpleResponse{default_error_status(ec), {}, {}};
  if (p.error_handler) {
    try {
      res = p.error_handler(ex.request(), ec);
    } catch (...) {
      log_error(p, ex.request(), "error_handler threw; answering with the default");
      res = SimpleResponse{default_error_status(ec), {}, {}};
    }
  }
  const auto ec_write = co_await ex.respond(std::move(res));
  if (ec_write) {
    ex.abort();
    co_return ResponseOutcome::client_gone;
  }
  co_return ResponseOutcome::error_response;
}

// SPEC 32: modify_response on a response nothing of which was sent yet; an error or a throw
// is its error.
std::error_code run_modify_response(const ReverseProxy& p, Response& res) {
  if (!p.modify_response) return {};
  try {
    return p.modify_response(res);
  } catch (...) {
    return errc::modify_response_failed;
  }
}

// A round trip that produced no response: who is to blame decides the answer.
asio::awaitable<ResponseOutcome> end_without_response(const ReverseProxy& p, Exchange& ex,
                                                      std::error_code ec) {
  const Request& in = ex.request();
  if (ec == errc::client_gone || ec == errc::client_body_failed || ec == aborted_error()) {
    // SPEC 34 / L4, R46: the client left (mid-upload, or while we waited) or the server
    // stopped; the transport closed the upstream connection, so the upstream sees the
    // cancellation and never a complete request. Nobody is left to answer: not a 502.
    const bool stopping = ec == aborted_error();
    log_error(p, in,
              stopping                         ? "server stopping"
              : ec == errc::client_body_failed ? "client aborted during the upload"
                                               : "client aborted while waiting for upstream");
    ex.abort();
    co_return stopping ? ResponseOutcome::shutdown : ResponseOutcome::client_gone;
  }
  if (ec == errc::client_body_invalid || ec == errc::client_body_too_large) {
    // SPEC R17-R21 (400) and the body limit (413): the upstream never got a complete request;
    // the client gets the answer and, with its body unread, the connection closes after it.
    const bool too_large = ec == errc::client_body_too_large;
    log_error(p, in, too_large ? "request body too large: 413" : "malformed request body: 400");
    SimpleResponse bad{too_large ? 413u : 400u, {}, ec.message() + "\n"};
    bad.header.set(http::field::content_type, "text/plain");
    co_await respond_or_cut(ex, std::move(bad));
    co_return ResponseOutcome::error_response;
  }
  co_return co_await answer_error(p, ex, ec);
}

// SPEC 17-20: the client's view of the upstream head: hop-by-hop fields stripped, the names
// the upstream announced in Trailer kept to be announced again.
Response client_view(Response head, std::vector<std::string>& announced_trailers) {
  for (const auto& f : head.header) {
    if (f.name() != http::field::trailer) continue;
    http1::for_each_list_element(
        f.value(), [&](std::string_view name) { announced_trailers.emplace_back(name); });
  }
  remove_hop_by_hop(head.header);  // SPEC 18
  return head;
}

// The request body as the transport reads it: the client's, through the exchange.
class ClientBody final : public BodySource {
 public:
  explicit ClientBody(Exchange& ex) : ex_(ex) {}
  asio::awaitable<std::pair<std::error_code, std::size_t>> read(asio::mutable_buffer buf) override {
    return ex_.read_body(buf);
  }

 private:
  Exchange& ex_;
};

// SPEC 23: a 1xx from the upstream goes to the client at once, hop-by-hop stripped; a 100 is
// not passed on when sluice answered the client's Expect itself.
asio::awaitable<std::error_code> forward_informational(Exchange& ex, unsigned status,
                                                       Fields fields) {
  remove_hop_by_hop(fields);
  if (status == 100 && ex.continue_sent()) co_return std::error_code{};
  co_return co_await ex.write_informational(status, std::move(fields));
}

// SPEC 29: one get() and one put() per response body, however the copy ends. Without a
// BufferPool the proxy uses its own buffers in three sizes, kept per worker thread for reuse:
// a response neither allocates nor zeroes one.
class CopyBuffer {
 public:
  // The size for a response: a stream that flushes every write (SSE, unknown length) may stay
  // open for hours with little traffic, so it holds the smallest; a known-length body gets what
  // it needs up to the largest, which moves a bulk body in few syscalls.
  static std::size_t size_for(const Response& res, std::chrono::nanoseconds interval) {
    if (interval.count() < 0 || res.content_length < 0) return kSizes[0];
    for (std::size_t size : kSizes) {
      if (static_cast<std::uint64_t>(res.content_length) <= size) return size;
    }
    return kSizes[std::size(kSizes) - 1];
  }

  CopyBuffer(BufferPool* pool, std::size_t wanted) : pool_(pool) {
    if (pool_) span_ = pool_->get();
    if (span_.empty()) {
      pool_ = nullptr;
      while (size_class_ + 1 < std::size(kSizes) && kSizes[size_class_] < wanted)
        ++size_class_;
      const std::size_t size = kSizes[size_class_];
      auto& cache = own_cache(size_class_);
      if (cache.empty()) {
        own_ = std::make_unique_for_overwrite<char[]>(size);
      } else {
        own_ = std::move(cache.back());
        cache.pop_back();
      }
      span_ = {own_.get(), size};
    }
  }
  ~CopyBuffer() {
    if (pool_) pool_->put(span_);
    auto& cache = own_cache(size_class_);
    if (own_ && cache.size() < kCachedPerSize) cache.push_back(std::move(own_));
  }
  CopyBuffer(const CopyBuffer&) = delete;
  CopyBuffer& operator=(const CopyBuffer&) = delete;
  std::span<char> span() const { return span_; }

 private:
  static constexpr std::size_t kSizes[] = {16 * 1024, 64 * 1024, 256 * 1024};
  // Bounds what a worker keeps between responses (4 x 336 KiB); more concurrent bodies than
  // this allocate and free their own.
  static constexpr std::size_t kCachedPerSize = 4;
  static std::vector<std::unique_ptr<char[]>>& own_cache(std::size_t size_class) {
    thread_local std::array<std::vector<std::unique_ptr<char[]>>, std::size(kSizes)> caches;
    return caches[size_class];
  }

  BufferPool* pool_;
  std::size_t size_class_ = 0;
  std::unique_ptr<char[]> own_;
  std::span<char> span_;
};

// SPEC 36-38: modify_response sees the 101; the upstream must have switched to the protocol the
// client asked for (case-insensitively, printable), else 502 and no switch. Then the 101 goes
// out with the upstream's end-to-end fields plus the upgrade pair, and the tunnel runs until both
// sides are done. The upstream connection is never pooled afterwards.
asio::awaitable<ResponseOutcome> switch_protocols(const ReverseProxy& p, Exchange& ex,
                                                  ResponseBody& body, Response res,
                                                  std::string switched,
                                                  std::chrono::nanoseconds tunnel_idle_timeout) {
  const std::string requested = upgrade_type(ex.request().header);
  if (const auto mec = run_modify_response(p, res)) {
    body.finish(false);
    co_return co_await answer_error(p, ex, mec);
  }
  if (requested.empty() || http1::iequals(requested, "h2c") || !printable_ascii(switched) ||
      !http1::iequals(requested, switched)) {
    log_error(p, ex.request(),
              "upstream switched to \"" + switched + "\" when \"" + requested + "\" was requested");
    body.finish(false);
    co_return co_await answer_error(p, ex, errc::upstream_protocol_switch);
  }
  res.header.set(http::field::upgrade, switched);
  Exchange::Switched client = co_await ex.switch_protocols(std::move(res));
  if (client.ec) {
    body.finish(false);
    co_return ResponseOutcome::client_gone;
  }
  ResponseBody::Upgraded upstream = body.upgraded();
  const TunnelEnd end =
      co_await run_tunnel(*client.stream, std::move(client.buffered), *upstream.stream,
                          std::move(upstream.buffered), tunnel_idle_timeout, ex.stop_signal());
  body.finish(false);
  co_return end == TunnelEnd::shutdown ? ResponseOutcome::shutdown : ResponseOutcome::upgraded;
}

FlushStopReason stop_reason(PumpEnd end) {
  switch (end) {
    case PumpEnd::complete: return FlushStopReason::complete;
    case PumpEnd::upstream_error: return FlushStopReason::upstream_error;
    case PumpEnd::upstream_timeout: return FlushStopReason::upstream_timeout;
    case PumpEnd::client_gone: return FlushStopReason::client_gone;
    case PumpEnd::shutdown: return FlushStopReason::shutdown;
  }
  return FlushStopReason::shutdown;
}

// The body went through to its end: the last chunk and the trailers (SPEC 21, 22), then the
// connection goes back to the pool if it may (SPEC L6).
asio::awaitable<ResponseOutcome> end_complete(const ReverseProxy& p, Exchange& ex,
                                              ResponseBody& body, FlushWriter& flush) {
  Fields trailers = body.trailers();
  auto end_ec = co_await flush.finish_body();  // a compressed body's last bytes
  if (!end_ec) end_ec = co_await ex.end_response(&trailers);
  if (end_ec) {
    flush.stop(FlushStopReason::client_gone);
    ex.abort();
    log_error(p, ex.request(), "client aborted at the end of the response");
    co_return ResponseOutcome::client_gone;
  }
  flush.stop(FlushStopReason::complete);
  body.finish(true);
  co_return ResponseOutcome::complete;
}

// The upstream failed or went silent mid-body. Nothing sent yet: the client can still get a
// proper error, 504 for the idle timeout, 502 otherwise (SPEC R36). Else the response is cut
// so that it looks truncated (SPEC 33 / L4). `stop()` comes after the error response, so no
// byte of this response is written after flush_timer_stopped.
// `body` is null when a failed SSE resume already let it go.
asio::awaitable<ResponseOutcome> end_upstream_failed(const ReverseProxy& p, Exchange& ex,
                                                     ResponseBody* body, FlushWriter& flush,
                                                     const PumpResult& pumped, const Request& out) {
  if (body) body->finish(false);
  ex.report().error = upstream_failure(pumped.ec, out, {});
  if (!ex.head_sent()) {
    ex.discard_response();
    flush.discard_pending();  // its chunks were never sent: the error response is not them
    const auto outcome = co_await answer_error(p, ex, pumped.ec);
    flush.stop(stop_reason(pumped.end));
    co_return outcome;
  }
  flush.stop(stop_reason(pumped.end));
  ex.abort();
  log_error(p, ex.request(), "response truncated: " + ex.report().error);
  co_return ResponseOutcome::truncated;
}

// The client left, or the server stops: cut both sides.
ResponseOutcome end_cut(const ReverseProxy& p, Exchange& ex, ResponseBody* body, FlushWriter& flush,
                        const PumpResult& pumped) {
  flush.stop(stop_reason(pumped.end));
  ex.abort();
  if (body) body->finish(false);
  if (pumped.end == PumpEnd::shutdown) return ResponseOutcome::shutdown;
  ex.report().error = "client aborted: " + pumped.ec.message();
  log_error(p, ex.request(), ex.report().error);
  return ResponseOutcome::client_gone;
}

// What the round trip tells the access log and the metrics: which server, how long the connect
// and the wait for the head took, and what failed.
void note_round_trip(const ReverseProxy& p, Exchange& ex, const Request& out,
                     const UpstreamResponse& up, std::chrono::nanoseconds waited) {
  auto& report = ex.report();
  report.upstream_connect = up.connect_time;
  if (!up.ec) report.upstream_first_byte = waited;
  if (report.want_names) report.server = server_of(out);
  const bool upstream_failed = up.ec && up.ec != errc::client_gone &&
                               up.ec != errc::client_body_failed && up.ec != aborted_error() &&
                               up.ec != errc::client_body_invalid &&
                               up.ec != errc::client_body_too_large;
  if (upstream_failed) report.error = upstream_failure(up.ec, out, up.error_detail);
  if (!p.metrics) return;
  detail::MetricShards& m = p.metrics->shards();
  const auto& routes = m.layout().routes;
  if (p.metrics_route >= routes.size()) return;
  const std::size_t upstream = routes[p.metrics_route].upstream;
  m.upstream_request(upstream, up.server);
  if (up.connect_time) m.upstream_connect(upstream, *up.connect_time);
  if (!up.ec) m.upstream_first_byte(p.metrics_route, waited);
}

// The SSE features this response gets (ReverseProxy::sse_heartbeat, sse_resume): a
// text/event-stream body the upstream sent as text (a comment cannot go into its own coding),
// that the client will get, in an open-ended framing (a comment or a second upstream's events
// could not fit a Content-Length; `framed_length` is the length the client's head announces).
bool sse_features_apply(const ReverseProxy& p, const Exchange& ex, const Response& upstream,
                        std::int64_t framed_length) {
  if (p.sse_heartbeat.count() <= 0 && !p.sse_resume) return false;
  if (ex.request().method == "HEAD" || upstream.status == 204 || upstream.status == 304) {
    return false;
  }
  if (framed_length != kUnknownLength) return false;
  if (!sse_uncoded_event_stream(upstream)) return false;
  return true;
}

// SSE resume: while the upstream of an event stream fails at an event boundary, the request is
// sent again and the new body is pumped into the same response. The last failure (or the
// client leaving, or the server stopping meanwhile) is the result.
asio::awaitable<PumpResult> resume_while_failing(const ReverseProxy& p, Exchange& ex,
                                                 std::unique_ptr<ResponseBody>& body,
                                                 FlushWriter& flush, SseGate& sse,
                                                 PumpResult pumped, Transport& via, Request& out,
                                                 std::span<char> buffer) {
  const SseResumeSettings settings{
      p.sse_resume_attempts,
      p.observer,
      p.metrics ? &p.metrics->shards() : nullptr,
      p.metrics_route,
      [&p, &ex](std::string_view line) { log_error(p, ex.request(), line); },
      [&p, &ex](const Request& sent, const UpstreamResponse& up, std::chrono::nanoseconds waited) {
        note_round_trip(p, ex, sent, up, waited);
      }};
  unsigned attempts = 0;
  std::string resumed_from;  // the event ID the last resume asked for
  // Each turn is one upstream failure. The attempts count since the client's event ID last
  // moved: a replacement that fails before delivering a new event (after a comment or a
  // `retry:` only, say) does not earn the stream a fresh set.
  while ((pumped.end == PumpEnd::upstream_error || pumped.end == PumpEnd::upstream_timeout) &&
         sse.resumable()) {
    if (sse.last_event_id() != resumed_from) attempts = 0;
    if (attempts >= p.sse_resume_attempts) break;
    resumed_from = sse.last_event_id();
    log_error(p, ex.request(),
              "SSE upstream failed mid-stream: " + upstream_failure(pumped.ec, out, {}) +
                  "; resuming after event ID \"" + sse.last_event_id() + "\"");
    // The failed body goes now: its server's slot (max_requests, least_conn's count) is free
    // for the attempts, which may have to use that server again.
    body->finish(false);
    body.reset();
    ResumeOutcome next = co_await resume_sse(via, ex, out, sse, attempts, settings);
    if (next.ended) {
      const PumpEnd end = next.ended == aborted_error() ? PumpEnd::shutdown : PumpEnd::client_gone;
      co_return PumpResult{end, next.ended};
    }
    if (!next.body) break;
    body = std::move(next.body);
    sse.restart();
    pumped = co_await pump_body(ex, *body, flush, via.options().idle_read_timeout, buffer, &sse);
  }
  co_return pumped;
}

// SPEC 24-29: the head, then the body through this response's flush writer, then its ending.
// With compression the head is rewritten (Content-Encoding, no Content-Length) and the body
// goes through an encoder that every flush flushes.
asio::awaitable<ResponseOutcome> relay_response(const ReverseProxy& p, Exchange& ex,
                                                std::unique_ptr<ResponseBody>& body, Response& res,
                                                const std::vector<std::string>& announced,
                                                std::atomic<std::int64_t>& armed_timers,
                                                Transport& via, Request& out) {
  // SPEC 24-27: the schedule for this response, chosen on the upstream's head: compression
  // changes the framing, never the timing. The same for the copy buffer's size.
  const auto interval = flush_interval_for(res, p.flush_interval);
  const std::size_t buffer_size = CopyBuffer::size_for(res, interval);
  const bool resumable = p.sse_resume && sse_resumable_request(out, res);
  // Not for HTTP/1.0 clients (as nginx's gzip_http_version): without chunked framing a
  // compressed body would be close-delimited, losing keep-alive and a visible truncation.
  std::optional<ContentCoding> coding;
  if (ex.request().version >= 11) coding = choose_compression(ex.request(), res, p.compress);
  std::unique_ptr<BodyEncoder> encoder;
  if (coding) {
    encoder = BodyEncoder::make(*coding);
    if (!encoder) coding.reset();  // the library could not: the body goes as it is
  }
  const bool sse_on = sse_features_apply(p, ex, res, coding ? kUnknownLength : res.content_length);
  if (coding) apply_compression_head(res, *coding);
  ex.begin_response(res, announced);
  // The writer owns the response's timer (SPEC 28, L1).
  FlushWriter flush(ex, interval, p.observer, armed_timers,
                    p.metrics ? &p.metrics->shards() : nullptr, encoder.get());
  std::optional<SseGate> sse;
  if (sse_on) sse.emplace(flush, p.sse_heartbeat, resumable);
  SseGate* gate = sse ? &*sse : nullptr;
  const auto idle_timeout = via.options().idle_read_timeout;
  PumpResult pumped{PumpEnd::complete, {}};
  // Body bytes of a known length that came with the head are handed on in the pump's first
  // round, without a wait: with -1 the head goes out with them in one write (Go flushes the head
  // at once, and whatever body is there goes with it). Not through the SSE gate, which may hold
  // a partial event, nor for a chunked body, whose buffered bytes may decode to nothing yet.
  const bool body_here = !gate && res.content_length > 0 && body->buffered_bytes() > 0;
  const auto start_ec = co_await flush.start(/*body_follows=*/!body->done() && !body_here);
  if (start_ec) {
    pumped = PumpResult{PumpEnd::client_gone, start_ec};
  } else {
    CopyBuffer buffer(p.buffer_pool, buffer_size);
    pumped = co_await pump_body(ex, *body, flush, idle_timeout, buffer.span(), gate);
    if (gate && resumable) {
      pumped =
          co_await resume_while_failing(p, ex, body, flush, *gate, pumped, via, out, buffer.span());
    }
    if (pumped.end == PumpEnd::complete && gate) {
      if (const auto ec = co_await gate->release()) pumped = PumpResult{PumpEnd::client_gone, ec};
    }
  }
  switch (pumped.end) {
    case PumpEnd::complete: co_return co_await end_complete(p, ex, *body, flush);
    case PumpEnd::upstream_error:
    case PumpEnd::upstream_timeout:
      co_return co_await end_upstream_failed(p, ex, body.get(), flush, pumped, out);
    case PumpEnd::client_gone:
    case PumpEnd::shutdown: co_return end_cut(p, ex, body.get(), flush, pumped);
  }
  co_return ResponseOutcome::shutdown;
}

// What the upstream answered, relayed: the error response, a protocol switch, or the body.
asio::awaitable<ResponseOutcome> relay_upstream(const ReverseProxy& p, Exchange& ex,
                                                UpstreamResponse& up, Transport& via, Request& out,
                                                std::atomic<std::int64_t>& armed_timers,
                                                Clock::time_point sent_at) {
  if (up.ec) co_return co_await end_without_response(p, ex, up.ec);

  std::string switched;  // SPEC 36: the protocol the upstream switched to, before stripping
  if (up.head.status == 101) {
    if (const auto it = up.head.header.find(http::field::upgrade); it != up.head.header.end()) {
      switched = std::string(it->value());
    }
  }
  std::vector<std::string> announced;
  Response res = client_view(std::move(up.head), announced);
  if (res.status == 101) {
    co_return co_await switch_protocols(p, ex, *up.body, std::move(res), std::move(switched),
                                        via.options().tunnel_idle_timeout);
  }
  // SPEC 32: modify_response sees every response; an error closes the upstream body.
  if (const auto mec = run_modify_response(p, res)) {
    up.body->finish(false);
    co_return co_await answer_error(p, ex, mec);
  }
  const ResponseOutcome outcome =
      co_await relay_response(p, ex, up.body, res, announced, armed_timers, via, out);
  ex.report().upstream_total = Clock::now() - sent_at;
  co_return outcome;
}

}  // namespace

ReverseProxy::ReverseProxy() : state_(std::make_unique<State>()) {}
ReverseProxy::~ReverseProxy() = default;

ProxyCounts ReverseProxy::counts() const {
  const TransportCounts up = (transport ? transport : state_->default_transport)->counts();
  return ProxyCounts{state_->in_flight.load(), state_->armed_flush_timers.load(), up.busy, up.idle};
}

// Go's ServeHTTP, step by step; the outcome of the exchange.
asio::awaitable<ResponseOutcome> ProxyAccess::proxy(const ReverseProxy& p, Exchange& ex) {
  ReverseProxy::State& state = *p.state_;
  const Request& in = ex.request();

  // R30 (RFC 9110 §7.6.2, a MUST): OPTIONS or TRACE with Max-Forwards: 0 ends here. OPTIONS
  // gets a plain 200; TRACE is refused (405) rather than reflected, since an echo of the
  // request would hand its cookies and credentials to a script that sent it.
  if (const auto hops = max_forwards(in); hops && *hops == 0) {
    SimpleResponse local{in.method == "OPTIONS" ? 200u : 405u, {}, {}};
    local.header.set(http::field::allow, "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
    co_await respond_or_cut(ex, std::move(local));
    co_return ResponseOutcome::complete;
  }

  Request out;  // SPEC 1-16: the copy the hooks edit
  if (auto ec = build_outbound(p, in, out)) co_return co_await answer_error(p, ex, ec);

  // SPEC 14, 15, 23, 34, 35, L6: the round trip. Held for the whole exchange: the transport
  // (and its pools) outlive every request that uses them.
  const std::shared_ptr<Transport> via = p.transport ? p.transport : state.default_transport;
  ClientBody client_body(ex);
  RoundTripRequest request{out, out.content_length != 0 ? &client_body : nullptr,
                           [&ex](unsigned status, Fields fields) {
                             return forward_informational(ex, status, std::move(fields));
                           },
                           ex};
  const auto sent_at = Clock::now();
  UpstreamResponse up = co_await via->round_trip(std::move(request));
  note_round_trip(p, ex, out, up, Clock::now() - sent_at);
  // The request body may still be streaming upstream (HTTP/2, full duplex): it ends before
  // client_body, which it reads, goes.
  const std::shared_ptr<RequestUpload> upload = up.upload;
  ResponseOutcome outcome = ResponseOutcome::shutdown;
  std::exception_ptr failure;  // rethrown once the upload stopped: it reads client_body
  try {
    outcome = co_await relay_upstream(p, ex, up, *via, out, state.armed_flush_timers, sent_at);
  } catch (...) {
    failure = std::current_exception();
  }
  if (upload) co_await upload->stop_and_wait();
  if (failure) std::rethrow_exception(failure);
  co_return outcome;
}

asio::awaitable<void> ReverseProxy::serve(Exchange& ex) {
  ResponseScope scope(state_->in_flight, *this, ex);
  try {
    scope.outcome = co_await ProxyAccess::proxy(*this, ex);
  } catch (...) {
    // Whatever threw past its own guard (a BufferPool, a throwing allocation): the frames
    // below are gone, the flush writer stopped with `shutdown` on the way (its destructor),
    // and the response cannot be trusted: cut it. serve() never throws.
    ex.abort();
    scope.outcome = ResponseOutcome::shutdown;
  }
}

std::unique_ptr<ReverseProxy> single_host(const Url& target) {
  auto proxy = std::make_unique<ReverseProxy>();
  // Go's NewSingleHostReverseProxy director (SPEC 9-11, 13): the inbound Host is kept.
  proxy->director = [target](Request& out) { direct_to(target, out); };
  return proxy;
}

}  // namespace sluice
