#include "transport/round_trip.hpp"

#include <array>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/error.hpp>

#include "common/http_syntax.hpp"
#include "common/nothrow.hpp"
#include "http1/response_validation.hpp"
#include "http1/wire.hpp"
#include "sluice/error.hpp"
#include "transport/http1_response_body.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBodyChunk = 16 * 1024;
constexpr std::chrono::milliseconds kClientWatchGrace{5};
// Go's transport accepts at most 5 informational responses before the final one.
constexpr int kMaxInformational = 5;

bool method_has_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

struct Attempt {
  std::error_code ec;
  bool body_consumed = false;     // bytes of the client's body were read: it cannot be replayed
  bool response_started = false;  // any byte of a response arrived
};

// Streams the request body upstream with the framing serialize_request_head announced.
asio::awaitable<std::error_code> send_body(BodySource& source, const Request& out,
                                           UpstreamConnection& up, RequestContext& ctx,
                                           const TransportOptions& options, Attempt& attempt) {
  // A 64 KiB chunk: few syscalls per body byte (the frame is allocated per request body).
  std::array<char, 4 * kBodyChunk> buf;
  const bool chunked = out.content_length == kUnknownLength;
  std::string size_line;
  // Bounded by the body itself: each round reads at least one byte or ends.
  for (;;) {
    auto [ec, n] = co_await source.read(asio::buffer(buf));
    if (ec) co_return ec;  // the client's (errc::client_body_*), passed on as it is
    if (n == 0) break;
    attempt.body_consumed = true;
    std::vector<asio::const_buffer> bufs;
    if (chunked) {
      size_line.clear();
      http1::append_hex(size_line, n);
      size_line += "\r\n";
      bufs = {asio::buffer(size_line), asio::buffer(buf.data(), n), asio::buffer("\r\n", 2)};
    } else {
      bufs = {asio::buffer(buf.data(), n)};
    }
    const auto wec = co_await write_upstream(up, ctx, bufs, options.idle_read_timeout,
                                             /*stop_if_answered=*/true);
    if (wec == answered_early()) co_return wec;
    if (wec) co_return make_error_code(errc::upstream_write_failed);
  }
  if (chunked) {
    std::vector<asio::const_buffer> last{asio::buffer("0\r\n\r\n", 5)};
    const auto wec = co_await write_upstream(up, ctx, last, options.idle_read_timeout);
    if (wec) co_return make_error_code(errc::upstream_write_failed);
  }
  co_return std::error_code{};
}

// Reads until the parser has a final (non-1xx) response head.
asio::awaitable<std::error_code> read_head(RoundTripRequest& rq, UpstreamConnection& up,
                                           const TransportOptions& options,
                                           std::optional<ResponseParser>& parser,
                                           Attempt& attempt) {
  RequestContext& ctx = rq.context;
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  const auto header_deadline = Clock::now() + options.response_header_timeout;
  // Most upstreams answer within this: until then the client is not watched, which saves a
  // syscall per request; a client that leaves is noticed at most this much later (SPEC 34).
  const auto watch_from = Clock::now() + kClientWatchGrace;
  auto fresh_parser = [&] {
    parser.emplace();
    parser->header_limit(options.max_response_header_bytes);
    parser->body_limit(boost::none);
    if (rq.out.method == "HEAD") parser->skip(true);  // RFC 9112 §6.3: no body follows
  };
  fresh_parser();
  // The bytes of the head being parsed, exactly as received (Beast may take them in several
  // puts): validate_response_head checks what the parser normalizes away (obs-fold). Bounded
  // by the parser's header limit.
  std::string raw_head;
  int informational = 0;
  // Each round either parses buffered bytes, reads new ones, or ends on a wake-up; the
  // header limit and the deadline bound it.
  for (;;) {
    if (up.buffer.size() > 0) {
      boost::system::error_code pec;
      const auto data = up.buffer.data();
      std::size_t used = parser->put(data, pec);
      raw_head.append(static_cast<const char*>(data.data()), used);
      up.buffer.consume(used);
      if (pec && pec != http::error::need_more)
        co_return make_error_code(errc::upstream_bad_response);
      if (parser->is_header_done()) {
        // SPEC K (R40-R43): a head Beast accepted but RFC 9112 does not is refused (502, and
        // the connection is closed by the caller, never pooled).
        const auto defect = validate_response_head(raw_head, parser->get());
        raw_head.clear();
        if (defect != ResponseDefect::none) co_return make_error_code(errc::upstream_bad_response);
        const unsigned status = parser->get().result_int();
        if (status >= 100 && status < 200 && status != 101) {
          // SPEC 23 (Go 1.20+): each informational response is passed on at once, in order;
          // at most 5 before the final one.
          if (++informational > kMaxInformational)
            co_return make_error_code(errc::upstream_bad_response);
          Fields fields;
          for (const auto& f : parser->get())
            fields.insert(f.name_string(), f.value());
          fresh_parser();
          if (rq.on_informational) {
            const auto wec = co_await rq.on_informational(status, std::move(fields));
            if (wec) co_return make_error_code(errc::client_gone);
          }
          continue;
        }
        co_return std::error_code{};
      }
      if (used > 0) continue;
    }
    if (up.buffer.size() >= up.buffer.max_size())
      co_return make_error_code(errc::upstream_bad_response);
    const auto into = up.buffer.prepare(
        std::min<std::size_t>(kBodyChunk, up.buffer.max_size() - up.buffer.size()));
    const bool in_grace = Clock::now() < watch_from;
    deadline.expires_at(in_grace ? std::min(watch_from, header_deadline) : header_deadline);
    const bool watch = !in_grace && ctx.client_watchable();
    const WaitResult got = co_await wait_and_read(up, ctx, watch, deadline, into);
    up.buffer.commit(got.read);
    if (got.wake == Wake::stop) co_return aborted_error();
    if (got.read > 0) {
      attempt.response_started = true;
      continue;  // bytes first, whatever else woke us: the head may be complete now
    }
    if (got.wake == Wake::timer) {
      if (Clock::now() < header_deadline) continue;  // the grace ended: now watch the client
      co_return make_error_code(errc::upstream_header_timeout);
    }
    if (got.wake == Wake::client) {
      // SPEC 34: a client that leaves while we wait cancels the upstream request.
      if (ctx.client_gone_now()) co_return make_error_code(errc::client_gone);
      continue;
    }
    const auto rec = got.read_error;
    if (would_block(rec)) continue;
    if (rec == asio::error::eof || rec == asio::error::connection_reset) {
      if (!attempt.response_started) co_return make_error_code(errc::upstream_closed);
      co_return make_error_code(errc::upstream_bad_response);
    }
    if (rec) co_return make_error_code(errc::upstream_closed);
  }
}

// The head as the proxy sees it (SPEC 19): the fields move out of the parser (what it adds
// after this is the trailer section, SPEC 21), and the length as the client may be told it.
Response head_of(const Request& out, ResponseParser& parser) {
  auto& head = parser.get();
  Response res;
  res.status = head.result_int();
  res.reason = std::string(head.reason());
  res.header.swap(static_cast<Fields&>(head));
  const auto length = parser.content_length();
  if (out.method == "HEAD" || res.status == 304) {
    res.content_length = length ? static_cast<std::int64_t>(*length) : kUnknownLength;
  } else if (res.status == 204 || res.status / 100 == 1) {
    res.content_length = 0;
  } else {
    // A known length passes on; chunked or close-delimited is unknown (-1).
    res.content_length =
        (!parser.chunked() && length) ? static_cast<std::int64_t>(*length) : kUnknownLength;
  }
  return res;
}

}  // namespace

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

std::optional<std::string> serialize_request_head(const Request& out) {
  const std::string target = out.url.request_target();
  const std::string host = out.host.empty() ? out.url.authority() : out.host;
  if (!is_token(out.method) || !is_wire_word(target) || !is_wire_word(host)) return std::nullopt;
  std::string head;
  head.reserve(512);
  head += out.method;
  head += ' ';
  head += target;
  head += " HTTP/1.1\r\nHost: ";
  head += host;
  head += "\r\n";
  // A hook may have put CR/LF in a value or a space in a name: never let it split or reframe
  // the head (request smuggling, SPEC R7/R11).
  http1::append_fields(
      head, out.header,
      {http::field::content_length, http::field::transfer_encoding, http::field::host});
  if (out.content_length > 0) {
    head += "Content-Length: " + std::to_string(out.content_length) + "\r\n";
  } else if (out.content_length == kUnknownLength) {
    head += "Transfer-Encoding: chunked\r\n";
  } else if (method_has_body(out.method)) {
    head += "Content-Length: 0\r\n";
  }
  head += "\r\n";
  return head;
}

std::string pool_key(const Request& out, const UpstreamTls* tls) {
  std::string key = out.url.scheme + "://" + out.url.host + ":" + out.url.connect_port();
  if (out.url.scheme == "https" && tls != nullptr) {
    // The name sent as SNI and checked: a connection verified for one name never serves another.
    const auto& name = tls->options().server_name;
    key += " sni=" + (name.empty() ? out.url.host : name);
  }
  return key;
}

asio::awaitable<UpstreamResponse> round_trip_http1(RoundTripRequest rq, ConnectionPool& pool,
                                                   std::unique_ptr<UpstreamConnection> fresh,
                                                   std::chrono::nanoseconds fresh_connect_time) {
  const TransportOptions& options = pool.shared().options;
  const Request& out = rq.out;
  RequestContext& ctx = rq.context;
  UpstreamResponse result;
  const std::string key = pool_key(out, options.tls.get());
  const auto serialized = serialize_request_head(out);
  if (!serialized) {
    result.ec = make_error_code(errc::no_route);
    co_return result;
  }
  const std::string& head = *serialized;
  const bool has_body = out.content_length != 0 && rq.body != nullptr;
  auto body = std::make_unique<Http1ResponseBody>();

  // At most two attempts: the second only under SPEC L6's rule.
  for (int attempt_no = 0; attempt_no < 2; ++attempt_no) {
    if (ctx.server_stopping()) {
      result.ec = aborted_error();
      co_return result;
    }
    Attempt attempt;
    std::unique_ptr<UpstreamConnection> conn;
    bool reused = false;
    if (attempt_no == 0 && fresh) {
      conn = std::move(fresh);
      result.connect_time = fresh_connect_time;
    } else if (attempt_no == 0) {
      conn = pool.take_idle(key);
      reused = conn != nullptr;
    }
    if (!conn) {
      UpstreamTls* tls = out.url.scheme == "https" ? options.tls.get() : nullptr;
      const auto connect_start = Clock::now();
      ConnectResult connected = co_await connect_upstream(ctx, out.url.host, out.url.connect_port(),
                                                          options.connect_timeout, tls, key);
      if (connected.ec) {
        result.ec = connected.ec;
        result.error_detail = std::move(connected.detail);
        co_return result;
      }
      result.connect_time = Clock::now() - connect_start;
      conn = std::move(connected.conn);
    }
    body->lease() = Lease(&pool, std::move(conn), reused);
    UpstreamConnection& up = body->lease().conn();
    ++up.requests;

    std::vector<asio::const_buffer> head_buf{asio::buffer(head)};
    attempt.ec = co_await write_upstream(up, ctx, head_buf, options.idle_read_timeout);
    if (attempt.ec) attempt.ec = make_error_code(errc::upstream_write_failed);
    if (!attempt.ec && has_body)
      attempt.ec = co_await send_body(*rq.body, out, up, ctx, options, attempt);
    if (attempt.ec == answered_early()) {
      // Relay the early answer; the request is incomplete upstream, so the connection is never
      // pooled, and the client's unread body closes its connection after the response.
      body->set_request_incomplete();
      attempt.ec = {};
    }
    if (!attempt.ec) attempt.ec = co_await read_head(rq, up, options, body->parser(), attempt);
    if (!attempt.ec) {
      result.ec = {};  // a retry that succeeded
      result.head = head_of(out, *body->parser());
      body->start();
      result.body = std::move(body);
      co_return result;
    }
    body->lease().close();
    body->parser().reset();
    result.ec = attempt.ec;
    // SPEC L6 / R45: a reused connection the upstream had already closed fails before any
    // response byte; an idempotent request whose body was not consumed is sent once more on a
    // fresh connection. Never a POST, never after a byte of the body was read.
    const bool stale_connection =
        attempt.ec == errc::upstream_closed || attempt.ec == errc::upstream_write_failed;
    if (!(reused && stale_connection && !attempt.response_started && !attempt.body_consumed &&
          idempotent(out.method))) {
      co_return result;
    }
  }
  co_return result;
}

}  // namespace sluice
