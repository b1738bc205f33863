// The client-connection loop. The coroutine frame owns the connection (STYLE §2, Beast's
// do_session): leaving it by any path closes the socket and unregisters the session.
#include "server/session.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <cstring>
#include <exception>
#include <tuple>
#include <utility>

#include "common/metric_shards.hpp"
#include "common/nothrow.hpp"
#include "http1/request_validation.hpp"
#include "http1/wire.hpp"
#include "net/bounded_io.hpp"
#include "net/race.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_contexts.hpp"
#include "server/access_log.hpp"
#include "server/handler_call.hpp"
#include "server/http1_exchange.hpp"
#include "server/http2_connection.hpp"
#include "server/idle_sessions.hpp"
#include "server/request_from_parser.hpp"
#include "server/request_record.hpp"
#include "server/tls_handshake.hpp"
#include "sluice/url.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Registers the session for the server's stop sequence and counts it (SPEC L2), for exactly
// as long as the frame lives; a parked connection's count passes to and from IdleSessions.
class Registration {
 public:
  Registration(SessionEnv& env, SessionIo& io, bool already_counted) : env_(env) {
    it_ = env_.registry.insert(env_.registry.end(), &io);
    if (!already_counted) env_.on_session_count(+1);
  }
  ~Registration() {
    env_.registry.erase(it_);
    if (!handed_over_) env_.on_session_count(-1);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  // The connection lives on (parked), counted there.
  void hand_over() { handed_over_ = true; }

 private:
  SessionEnv& env_;
  std::list<SessionIo*>::iterator it_;
  bool handed_over_ = false;
};

// An error answered by the session itself before any handler ran; the connection closes after.
asio::awaitable<void> reply_and_close(SessionIo& io, unsigned status, std::string reason) {
  std::string msg;
  http1::append_status_line(msg, status);
  msg += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(reason.size() + 1) +
         "\r\nConnection: close\r\n\r\n" + reason + "\n";
  const std::array<asio::const_buffer, 1> data{asio::buffer(msg)};
  co_await write_within(io.stream, data, io.options.write_timeout, io.stop_signal);
}

// One per worker thread: every session of the worker reads request heads through it, so no
// connection keeps a read-sized buffer of its own.
thread_local std::array<char, 16 * 1024> read_scratch;

enum class HeadRead { ok, closed, timeout, too_large, malformed, rejected, stopped, h2_preface };

// Reads one request head into io.parser within `limit` (SPEC L7, R34). The socket is only waited
// on for readability, raced against the deadline and the stop signal, so a timeout leaves the
// connection open for the 408 (Beast's stream timeout would close it first). When nothing had
// arrived yet, `idle` marks the session as safe to close for a graceful stop.
// With `readable` (the keep-alive wait just saw bytes) it reads before it waits.
// Before each parse the unconsumed head bytes are checked for what Beast normalises away or
// waits on (obs-fold, bare LF, unsupported version: check_raw_head); `rejected` says why.
asio::awaitable<HeadRead> read_head(SessionIo& io, std::chrono::nanoseconds limit,
                                    beast::error_code& parse_error, Verdict& rejected,
                                    bool readable = false) {
  asio::steady_timer deadline(io.stream.get_executor());
  deadline.expires_after(limit);
  ByteStream& stream = io.stream;
  std::size_t head_bytes = 0;  // of this head, consumed by the parser so far
  // Each round parses what is buffered or reads once; the header limit and the deadline bound it.
  for (;;) {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line (some
    // clients send a CRLF after a POST body). Beast parses a head only once it is whole, so
    // before that the buffer starts where the message starts. Skipped before check_raw_head,
    // whose scan would otherwise stop at the empty line.
    for (int skipped = 0;
         skipped < 4 && io.buffer.size() >= 2 && !io.parser->is_header_done() &&
         std::string_view(static_cast<const char*>(io.buffer.data().data()), 2) == "\r\n";
         ++skipped) {
      io.buffer.consume(2);
    }
    // HTTP/2 with prior knowledge (RFC 9113 §3.3): the client preface instead of a request line.
    bool preface_so_far = false;
    if (io.h2_possible && io.buffer.size() > 0) {
      constexpr std::string_view preface = Http2Connection::kPreface;
      const std::string_view got(static_cast<const char*>(io.buffer.data().data()),
                                 std::min(io.buffer.size(), preface.size()));
      preface_so_far = preface.starts_with(got);
      if (preface_so_far && got.size() == preface.size()) co_return HeadRead::h2_preface;
      if (!preface_so_far) io.h2_possible = false;
    }
    if (io.buffer.size() > 0 && !preface_so_far) {
      io.idle = false;
      const auto* unparsed = static_cast<const char*>(io.buffer.data().data());
      rejected = check_raw_head({unparsed, io.buffer.size()});
      if (rejected) co_return HeadRead::rejected;
      std::size_t used = io.parser->put(io.buffer.data(), parse_error);
      io.buffer.consume(used);
      // Beast applies its header limit to each put's input, and it consumes complete field
      // lines as it goes: the head's total must be counted here (SPEC R32).
      head_bytes += used;
      if (head_bytes > io.options.max_request_header_bytes ||
          (!io.parser->is_header_done() &&
           head_bytes + io.buffer.size() > io.options.max_request_header_bytes)) {
        co_return HeadRead::too_large;
      }
      if (io.parser->is_header_done()) co_return HeadRead::ok;
      if (parse_error == http::error::header_limit) co_return HeadRead::too_large;
      if (parse_error && parse_error != http::error::need_more) co_return HeadRead::malformed;
      if (used > 0 && io.buffer.size() > 0) continue;
    }
    if (io.draining && io.idle) co_return HeadRead::stopped;
    if (!std::exchange(readable, false)) {
      auto [order, wec, dec, sec] = co_await race(
          deadline, io.stop_signal, stream.async_wait(ByteStream::Ready::read, asio::deferred));
      const Winner w = winner_of(order);
      if (w.deadline()) co_return io.idle ? HeadRead::closed : HeadRead::timeout;
      if (w.stop() || io.stopping || (io.draining && io.idle)) co_return HeadRead::stopped;
    }
    if (io.buffer.size() >= io.buffer.max_size()) co_return HeadRead::too_large;
    // Read into the worker's scratch buffer and keep only what arrived: a connection's own
    // buffer is sized by its request, not by the read size (SPEC L7 memory; see below).
    beast::error_code rec;
    const std::size_t room =
        std::min<std::size_t>(read_scratch.size(), io.buffer.max_size() - io.buffer.size());
    const std::size_t n = stream.read_some(asio::buffer(read_scratch.data(), room), rec);
    if (n > 0) {
      auto dst = io.buffer.prepare(n);
      std::memcpy(dst.data(), read_scratch.data(), n);
      io.buffer.commit(n);
    }
    if (rec == asio::error::would_block || rec == asio::error::try_again) continue;
    if (rec) co_return io.idle ? HeadRead::closed : HeadRead::malformed;
  }
}

// SPEC J (R32, R33): the configurable limits a parsed head must also meet.
Verdict check_limits(RequestParser& parser, const ServerOptions& opts) {
  const auto& head = parser.get();
  if (head.target().size() > opts.max_uri_bytes) {
    return Rejection{414,
                     "request target longer than " + std::to_string(opts.max_uri_bytes) + " bytes"};
  }
  std::size_t fields = 0;
  for (auto it = head.begin(); it != head.end(); ++it)
    ++fields;
  if (fields > opts.max_header_count) {
    return Rejection{431, "more than " + std::to_string(opts.max_header_count) + " header fields"};
  }
  if (opts.max_body_bytes > 0) {
    const auto length = parser.content_length();
    if (length && *length > opts.max_body_bytes) {
      return Rejection{
          413, "request body larger than " + std::to_string(opts.max_body_bytes) + " bytes"};
    }
    // A chunked body is held to the same limit while it streams (Exchange::read_body).
    parser.body_limit(opts.max_body_bytes);
  }
  return std::nullopt;
}

// A request the session answered itself before any handler: the head's method and target
// when it was parsed, so that slowloris and smuggling attempts show in the log.
void record_refused(const SessionIo& io, const SessionEnv& env,
                    const asio::ip::tcp::endpoint& remote, unsigned status, std::string_view reason,
                    Clock::time_point started) {
  RefusedRequest r{remote, status, reason, started, {}, {}, {}};
  if (io.parser && io.parser->is_header_done()) {
    const auto& head = io.parser->get();
    r.method = std::string_view(head.method_string().data(), head.method_string().size());
    r.target = std::string_view(head.target().data(), head.target().size());
    r.protocol = protocol_of(head.version());
  }
  detail::record_refused(env, r);
}

}  // namespace

enum class RequestEnd { keep_alive, close, cut, http2 };

// One request on the connection: its head (within header_timeout), the checks, the handler, the
// access-log line. A coroutine of its own so that its state (the parser's request, the
// Exchange) lives only while a request does: the session's own frame, which a keep-alive
// connection keeps while it waits, stays small.
asio::awaitable<RequestEnd> serve_request(SessionIo& io, SessionEnv& env,
                                          asio::ip::tcp::endpoint remote, bool readable) {
  const ServerOptions& opts = env.options;
  // A new connection's first head started at its accept (it may have waited parked since).
  const auto head_start =
      io.first_deadline ? *io.first_deadline - opts.header_timeout : Clock::now();
  // The session's own answers (the request never reaches a handler): sent, logged, counted.
  auto refuse = [&](unsigned status, std::string reason) -> asio::awaitable<RequestEnd> {
    record_refused(io, env, remote, status, reason, head_start);
    co_await reply_and_close(io, status, std::move(reason));
    co_return RequestEnd::close;
  };
  io.parser.emplace();
  io.parser->header_limit(opts.max_request_header_bytes);
  io.parser->body_limit(boost::none);  // bodies stream through; they are never held whole
  beast::error_code parse_error;
  Verdict rejected;
  // A new connection's first head counts from its accept (it waited parked until its first
  // byte); every other from now.
  auto limit = std::chrono::nanoseconds(opts.header_timeout);
  if (io.first_deadline) {
    limit = std::max(std::chrono::nanoseconds(0),
                     std::chrono::nanoseconds(*io.first_deadline - Clock::now()));
    io.first_deadline.reset();
  }
  HeadRead got = co_await read_head(io, limit, parse_error, rejected, readable);
  io.idle = false;
  io.h2_possible = false;
  if (got == HeadRead::h2_preface) co_return RequestEnd::http2;
  if (got == HeadRead::closed || got == HeadRead::stopped) co_return RequestEnd::close;
  if (got == HeadRead::timeout) co_return co_await refuse(408, "request head not received in time");
  if (got == HeadRead::too_large) co_return co_await refuse(431, "request header fields too large");
  if (got == HeadRead::malformed) {
    co_return co_await refuse(400, "malformed request: " + parse_error.message());
  }
  // SPEC H: framing and head checks beyond Beast's parser (src/http1/request_validation.hpp).
  if (got == HeadRead::ok) rejected = validate_request_head(io.parser->get());
  if (!rejected) rejected = check_limits(*io.parser, opts);  // SPEC J: R32, R33
  if (rejected) co_return co_await refuse(rejected->status, std::move(rejected->reason));

  Request request = request_from_parser(*io.parser, remote);
  request.tls = io.tls;
  Http1Exchange ex(io, std::move(request));
  ex.report().want_names = opts.access_log == AccessLog::json;  // the text line has none
  const auto start = Clock::now();
  ActiveRequest active(opts.metrics.get());
  co_await call_handler(env, ex);
  record_served(env, ex, start);
  if (ex.aborted()) co_return RequestEnd::cut;
  co_return ex.keep_alive() ? RequestEnd::keep_alive : RequestEnd::close;
}

// The rest of the connection as HTTP/2; the connection object lives in this frame.
asio::awaitable<void> serve_http2(SessionIo& io, SessionEnv& env, asio::ip::tcp::endpoint remote,
                                  std::string received) {
  Http2Connection conn(io, env, remote);
  co_await conn.run(received);
}

asio::awaitable<void> run_session(std::unique_ptr<ByteStream> stream, SessionEnv& env,
                                  asio::ip::tcp::endpoint remote, SessionStart start) {
  SessionIo io(std::move(stream), env.options);
  io.first_deadline = start.first_deadline;
  // RFC 9113 §3.3: the preface is a connection's first bytes, never a later request's.
  io.h2_possible = !start.resumed;
  Registration registration(env, io, /*already_counted=*/start.counted);
  bool cut = false;  // close without a graceful shutdown (aborted response, forced stop)
  bool readable = start.readable;  // bytes arrived already
  bool alpn_h2 = false;            // the TLS handshake chose HTTP/2
  if (auto* tls = dynamic_cast<TlsStream*>(&io.stream)) {
    io.tls = true;
    if (!start.resumed) {
      const auto started = Clock::now();
      const TlsStart tls_start = co_await start_tls(io, *tls);
      if (tls_start == TlsStart::plain_http) {
        record_refused(io, env, remote, 400, "plain HTTP sent to the HTTPS port", started);
      }
      if (tls_start != TlsStart::ready) {
        io.stream.close();  // no close_notify: there was no session to end
        co_return;
      }
      // The request often came with the handshake's last flight: read before waiting.
      readable = true;
      io.first_deadline.reset();  // the first head gets header_timeout of its own, as before
    }
    io.h2_possible = false;  // over TLS, only ALPN chooses HTTP/2
    alpn_h2 = tls->alpn() == "h2";
  }

  // Each round serves one request: the client's own requests bound the loop.
  for (;;) {
    if (alpn_h2) {
      std::string nothing_read;  // named: a temporary inside co_await breaks GCC 12's coroutines
      co_await serve_http2(io, env, remote, std::move(nothing_read));
      break;
    }
    if (io.draining || io.stopping) break;
    // The first request has header_timeout for its head (SPEC L7, R34), else 408 and close.
    io.idle = io.buffer.size() == 0;
    const RequestEnd end = co_await serve_request(io, env, remote, std::exchange(readable, false));
    if (end == RequestEnd::cut) cut = true;
    if (end == RequestEnd::http2) {
      // The connection speaks HTTP/2 from here on; what was read is its first bytes.
      std::string received(static_cast<const char*>(io.buffer.data().data()), io.buffer.size());
      io.buffer.consume(io.buffer.size());
      io.buffer.shrink_to_fit();
      io.parser.reset();
      co_await serve_http2(io, env, remote, std::move(received));
      break;
    }
    if (end != RequestEnd::keep_alive) break;
    if (io.buffer.size() > 0) continue;  // a pipelined request is already here
    // Keep-alive: up to idle_timeout for the next request's first byte (SPEC R25). The wait
    // arms nothing but readiness; IdleSessions cancels it when idle_timeout passes, or after
    // kParkAfter to park the connection (its wait then holds no frame, parser or buffer), and
    // the stop sequence cancels it when the server stops.
    io.idle = true;
    io.parser.reset();
    io.buffer.shrink_to_fit();
    boost::system::error_code wec;
    {
      IdleEntry waiting(env.idle, io);
      std::tie(wec) = co_await io.stream.async_wait(ByteStream::Ready::read, use_nothrow);
    }
    if (wec == asio::error::operation_aborted && io.park_requested && !io.draining &&
        !io.stopping) {
      registration.hand_over();
      env.idle.park(std::move(io.stream_owner), remote, io.idle_since);
      co_return;
    }
    if (wec || io.idle_expired || io.draining || io.stopping) break;
    readable = true;
  }

  if (!cut && !io.stopping) {
    // Half-close first so the client reads everything we sent before it sees the close.
    io.stream.shutdown_write();
  }
  io.stream.close();
}

std::unique_ptr<ByteStream> client_stream(asio::ip::tcp::socket socket,
                                          const ServerOptions& options) {
  if (options.tls) return options.tls->impl().accept(std::move(socket));
  return std::make_unique<TcpStream>(std::move(socket));
}

void spawn_session(std::unique_ptr<ByteStream> stream, SessionEnv& env,
                   asio::ip::tcp::endpoint remote, SessionStart start) {
  const auto executor = stream->get_executor();
  // The only detached spawn: the session's frame owns its connection; the completion handler
  // only reports what should never happen (an exception escaping a session).
  asio::co_spawn(executor, run_session(std::move(stream), env, remote, std::move(start)),
                 [&env](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     write_log_line(env.options.log, std::string("session bug: ") + ex.what());
                   } catch (...) {
                     write_log_line(env.options.log, "session bug: a non-standard exception");
                   }
                 });
}

}  // namespace sluice::detail
