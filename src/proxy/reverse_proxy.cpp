// ReverseProxy::serve — Go's ServeHTTP, step by step. Each step cites the SPEC numbers it
// implements; docs/architecture.md draws the same life of a request.
#include "sluice/reverse_proxy.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <boost/beast/http/field.hpp>
#include <array>
#include <exception>
#include <memory>
#include <vector>

#include "common/nothrow.hpp"
#include "proxy/body_pump.hpp"
#include "proxy/flush_policy.hpp"
#include "proxy/flush_writer.hpp"
#include "proxy/forwarded.hpp"
#include "proxy/hop_by_hop.hpp"
#include "proxy/outbound_request.hpp"
#include "proxy/tunnel.hpp"
#include "sluice/server.hpp"
#include "transport/connection_pool.hpp"
#include "transport/round_trip.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct ReverseProxy::State {
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> armed_flush_timers{0};
  PoolCounters pool;
};

namespace {

// Counts the response as in flight (SPEC L2) for exactly as long as serve() runs, and emits
// response_end last, however serve() is left (complete, error, or the frame destroyed on stop).
class ResponseScope {
 public:
  ResponseScope(std::atomic<std::int64_t>& in_flight, const Observer& observer, ResponseId id)
      : in_flight_(in_flight), observer_(observer), id_(id) {
    ++in_flight_;
  }
  ~ResponseScope() {
    --in_flight_;
    if (!observer_.response_end) return;
    try {
      observer_.response_end(id_, outcome);
    } catch (...) {  // a destructor must not throw; an observer's bug must not end the process
    }
  }
  ResponseScope(const ResponseScope&) = delete;
  ResponseScope& operator=(const ResponseScope&) = delete;

  ResponseOutcome outcome = ResponseOutcome::shutdown;

 private:
  std::atomic<std::int64_t>& in_flight_;
  const Observer& observer_;
  ResponseId id_;
};

void log_error(const ReverseProxy& p, const Request& in, std::string_view what) {
  write_log_line(p.error_log, "sluice: " + in.method + " " + in.url.request_target() + ": " +
                                  std::string(what));
}

// SPEC 30/31: the error handler's response (default: 502, 504 for timeouts, empty body).
asio::awaitable<ResponseOutcome> answer_error(const ReverseProxy& p, Exchange& ex,
                                              std::error_code ec) {
  log_error(p, ex.request(), "upstream error: " + ec.message());
  SimpleResponse res{default_error_status(ec), {}, {}};
  if (p.error_handler) {
    try {
      res = p.error_handler(ex.request(), ec);
    } catch (...) {
      log_error(p, ex.request(), "error_handler threw; answering with the default");
      res = SimpleResponse{default_error_status(ec), {}, {}};
    }
  }
  const auto ec_write = co_await ex.respond(res);
  if (ec_write) {
    ex.abort();
    co_return ResponseOutcome::client_gone;
  }
  co_return ResponseOutcome::error_response;
}

// SPEC 17-20: the client's view of the upstream head.
Response to_response(const Request& out, ResponseParser& parser,
                     std::vector<std::string>& announced_trailers) {
  auto& head = parser.get();
  Response res;
  res.status = head.result_int();
  res.reason = std::string(head.reason());
  for (const auto& f : head) {
    if (f.name() == http::field::trailer) {
      // SPEC 20: the announced names, re-announced after hop-by-hop stripping drops the field.
      std::string_view v = f.value();
      while (!v.empty()) {
        auto comma = v.find(',');
        auto token = v.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
        if (!token.empty()) announced_trailers.emplace_back(token);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  if (res.status == 101) {
    // switch_protocols still reads the parser's Upgrade field: copy.
    for (const auto& f : head) res.header.insert(f.name_string(), f.value());
  } else {
    // The fields move, not copied: the parser keeps parsing the body with its own state, and
    // what it adds to its (now empty) field set after this is the trailer section (SPEC 21).
    res.header.swap(static_cast<Fields&>(head));
  }
  remove_hop_by_hop(res.header);  // SPEC 18
  const auto length = parser.content_length();
  if (out.method == "HEAD" || res.status == 304) {
    res.content_length = length ? static_cast<std::int64_t>(*length) : kUnknownLength;
  } else if (res.status == 204 || res.status / 100 == 1) {
    res.content_length = 0;
  } else {
    // SPEC 19: a known length passes on; chunked or close-delimited is unknown (-1).
    res.content_length = (!parser.chunked() && length) ? static_cast<std::int64_t>(*length)
                                                        : kUnknownLength;
  }
  return res;
}

// SPEC 21: everything the parser added after the head is a trailer field.
Fields trailers_after(const ResponseParser& parser, std::size_t head_fields) {
  Fields trailers;
  std::size_t i = 0;
  for (const auto& f : parser.get()) {
    if (i++ < head_fields) continue;
    trailers.insert(f.name_string(), f.value());
  }
  return trailers;
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
      while (size_class_ + 1 < std::size(kSizes) && kSizes[size_class_] < wanted) ++size_class_;
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
asio::awaitable<ResponseOutcome> switch_protocols(const ReverseProxy& p, Exchange& ex, RoundTrip& rt,
                                                  Response res) {
  const std::string requested = upgrade_type(ex.request().header);
  const auto& head = rt.parser->get();
  std::string switched;
  for (const auto& f : head) {
    if (f.name() == http::field::upgrade) switched = std::string(f.value());
  }
  if (p.modify_response) {
    std::error_code mec;
    try {
      mec = p.modify_response(res);
    } catch (...) {
      mec = errc::modify_response_failed;
    }
    if (mec) {
      rt.lease.close();
      co_return co_await answer_error(p, ex, mec);
    }
  }
  if (requested.empty() || boost::beast::iequals(requested, "h2c") || !printable_ascii(switched) ||
      !boost::beast::iequals(requested, switched)) {
    log_error(p, ex.request(), "upstream switched to \"" + switched + "\" when \"" + requested +
                                   "\" was requested");
    rt.lease.close();
    co_return co_await answer_error(p, ex, errc::upstream_protocol_switch);
  }
  res.header.set(http::field::upgrade, switched);
  const auto ec = co_await ex.write_switching_protocols(std::move(res));
  if (ec) {
    rt.lease.close();
    co_return ResponseOutcome::client_gone;
  }
  const TunnelEnd end = co_await run_tunnel(ex, rt.lease.conn(), ex.take_buffered_input(),
                                            p.transport.tunnel_idle_timeout);
  rt.lease.close();
  if (end == TunnelEnd::shutdown) co_return ResponseOutcome::shutdown;
  co_return ResponseOutcome::upgraded;
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

}  // namespace

ReverseProxy::ReverseProxy() : state_(std::make_unique<State>()) {}
ReverseProxy::~ReverseProxy() = default;

ProxyCounts ReverseProxy::counts() const {
  return ProxyCounts{state_->in_flight.load(), state_->armed_flush_timers.load(),
                     state_->pool.busy.load(), state_->pool.idle.load()};
}

asio::awaitable<void> ReverseProxy::serve(Exchange& ex) {
  ResponseScope scope(state_->in_flight, observer, ex.id());
  ex.set_observer(&observer);
  const Request& in = ex.request();

  // R30 (RFC 9110 §7.6.2, a MUST): OPTIONS or TRACE with Max-Forwards: 0 ends here. OPTIONS
  // gets a plain 200; TRACE is refused (405) rather than reflected, since an echo of the
  // request would hand its cookies and credentials to a script that sent it.
  if (const auto hops = max_forwards(in); hops && *hops == 0) {
    SimpleResponse local{in.method == "OPTIONS" ? 200u : 405u, {}, {}};
    local.header.set(http::field::allow, "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
    const auto ec_local = co_await ex.respond(std::move(local));
    if (ec_local) ex.abort();
    scope.outcome = ResponseOutcome::complete;
    co_return;
  }

  Request out;
  if (auto ec = build_outbound(*this, in, out)) {
    scope.outcome = co_await answer_error(*this, ex, ec);
    co_return;
  }

  // Round trip on this worker's pool (SPEC 14, 15, 34, 35, L6).
  auto& ctx = asio::query(ex.executor(), asio::execution::context);
  ConnectionPool& pool =
      asio::use_service<PoolService>(ctx).pool_for(state_.get(), ex.executor(), transport, state_->pool);
  RoundTrip rt;
  const auto sent_at = Clock::now();
  co_await round_trip(ex, out, pool, transport, rt);
  ex.note_upstream_time(Clock::now() - sent_at);
  if (rt.ec == errc::client_gone || rt.ec == errc::client_body_failed ||
      rt.ec == aborted_error()) {
    // SPEC 34 / L4, R46: the client left (mid-upload, or while we waited) or the server
    // stopped; the lease closes the upstream connection, so the upstream sees the cancellation
    // and never a complete request. Nobody is left to answer: not a 502.
    const bool stopping = rt.ec == aborted_error();
    log_error(*this, in, stopping ? "server stopping"
                         : rt.ec == errc::client_body_failed ? "client aborted during the upload"
                                                             : "client aborted while waiting for upstream");
    ex.abort();
    scope.outcome = stopping ? ResponseOutcome::shutdown : ResponseOutcome::client_gone;
    co_return;
  }
  if (rt.ec == errc::client_body_invalid || rt.ec == errc::client_body_too_large) {
    // SPEC R17-R21 (400) and the body limit (413): the upstream never got a complete request
    // (the lease closes it); the client gets the answer and, with its body unread, the
    // connection closes after it.
    const bool too_large = rt.ec == errc::client_body_too_large;
    log_error(*this, in, too_large ? "request body too large: 413" : "malformed request body: 400");
    SimpleResponse bad{too_large ? 413u : 400u, {}, rt.ec.message() + "\n"};
    bad.header.set(http::field::content_type, "text/plain");
    const auto ec_bad = co_await ex.respond(std::move(bad));
    if (ec_bad) ex.abort();
    scope.outcome = ResponseOutcome::error_response;
    co_return;
  }
  if (rt.ec) {
    scope.outcome = co_await answer_error(*this, ex, rt.ec);
    co_return;
  }

  ResponseParser& parser = *rt.parser;
  std::vector<std::string> announced;
  Response res = to_response(out, parser, announced);
  const std::size_t head_fields =
      static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end()));
  if (res.status == 101) {
    scope.outcome = co_await switch_protocols(*this, ex, rt, std::move(res));
    co_return;
  }

  // SPEC 32: modify_response sees every response; an error closes the upstream body.
  if (modify_response) {
    std::error_code mec;
    try {
      mec = modify_response(res);
    } catch (...) {
      mec = errc::modify_response_failed;
    }
    if (mec) {
      rt.lease.close();
      scope.outcome = co_await answer_error(*this, ex, mec);
      co_return;
    }
  }

  ex.begin_response(res, announced);
  // SPEC 24-27: the schedule for this response; the writer owns its timer (SPEC 28, L1).
  const auto interval = flush_interval_for(res, flush_interval);
  FlushWriter flush(ex, interval, observer, state_->armed_flush_timers);
  PumpResult pumped{PumpEnd::complete, {}};
  const auto start_ec = co_await flush.start();
  if (start_ec) {
    pumped = PumpResult{PumpEnd::client_gone, start_ec.message()};
  } else {
    CopyBuffer buffer(buffer_pool, CopyBuffer::size_for(res, interval));
    pumped = co_await pump_body(ex, rt.lease.conn(), parser, flush, transport, buffer.span());
  }

  switch (pumped.end) {
    case PumpEnd::complete: {
      Fields trailers = trailers_after(parser, head_fields);
      const auto end_ec = co_await ex.end_response(&trailers);
      if (end_ec) {
        flush.stop(FlushStopReason::client_gone);
        ex.abort();
        log_error(*this, in, "client aborted at the end of the response");
        scope.outcome = ResponseOutcome::client_gone;
        co_return;
      }
      flush.stop(FlushStopReason::complete);
      // SPEC L6: back to the pool only after a complete, well-framed response, nothing unread.
      if (parser.keep_alive() && rt.lease.conn().buffer.size() == 0 && !rt.request_incomplete) {
        rt.lease.mark_reusable();
      }
      scope.outcome = ResponseOutcome::complete;
      co_return;
    }
    case PumpEnd::upstream_error:
    case PumpEnd::upstream_timeout:
      rt.lease.close();
      if (!ex.head_sent()) {
        // Nothing reached the client yet: it can still get a proper error (SPEC R36).
        ex.discard_response();
        scope.outcome = co_await answer_error(*this, ex, errc::upstream_closed);
        flush.stop(stop_reason(pumped.end));
        co_return;
      }
      // SPEC 33 / L4: the head is out; cut the connection so the response looks truncated.
      flush.stop(stop_reason(pumped.end));
      ex.abort();
      log_error(*this, in, "response truncated: " + pumped.detail);
      scope.outcome = ResponseOutcome::truncated;
      co_return;
    case PumpEnd::client_gone:
    case PumpEnd::shutdown:
      flush.stop(stop_reason(pumped.end));
      ex.abort();
      rt.lease.close();
      if (pumped.end == PumpEnd::client_gone) log_error(*this, in, "client aborted: " + pumped.detail);
      scope.outcome = pumped.end == PumpEnd::client_gone ? ResponseOutcome::client_gone
                                                         : ResponseOutcome::shutdown;
      co_return;
  }
}

std::unique_ptr<ReverseProxy> single_host(const Url& target) {
  auto proxy = std::make_unique<ReverseProxy>();
  // Go's NewSingleHostReverseProxy director (SPEC 9-11, 13): the inbound Host is kept.
  proxy->director = [target](Request& out) { direct_to(target, out); };
  return proxy;
}

}  // namespace sluice
