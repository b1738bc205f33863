// The client-connection loop. The coroutine frame owns the connection (STYLE §2, Beast's
// do_session): leaving it by any path closes the socket and unregisters the session.
#include "server/session.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <exception>

#include "common/nothrow.hpp"
#include "sluice/url.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Registers the session for the server's stop sequence and counts it (SPEC L2), for exactly
// as long as the frame lives.
class Registration {
 public:
  Registration(SessionEnv& env, SessionIo& io) : env_(env) {
    it_ = env_.registry.insert(env_.registry.end(), &io);
    env_.on_session_count(+1);
  }
  ~Registration() {
    env_.registry.erase(it_);
    env_.on_session_count(-1);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  SessionEnv& env_;
  std::list<SessionIo*>::iterator it_;
};

Request to_request(const http::request_parser<http::buffer_body>::value_type& head,
                   const asio::ip::tcp::endpoint& remote, std::uint64_t length_or_unknown,
                   bool chunked) {
  Request req;
  req.method = std::string(head.method_string());
  req.version = head.version();
  Target target = parse_target(head.target());
  req.url.raw_path = std::move(target.raw_path);
  req.url.raw_query = std::move(target.raw_query);
  for (const auto& f : head) {
    if (f.name() == http::field::host) {
      if (req.host.empty()) req.host = std::string(f.value());
      continue;
    }
    req.header.insert(f.name_string(), f.value());
  }
  if (!target.authority.empty()) req.host = std::move(target.authority);  // RFC 9112 §3.2.2
  req.content_length = chunked ? kUnknownLength : static_cast<std::int64_t>(length_or_unknown);
  req.remote = remote;
  return req;
}

// An error answered by the session itself before any handler ran; the connection closes after.
asio::awaitable<void> reply_and_close(SessionIo& io, unsigned status, std::string_view reason) {
  std::string msg = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http::obsolete_reason(static_cast<http::status>(status))) +
                    "\r\nContent-Type: text/plain\r\nContent-Length: " +
                    std::to_string(reason.size() + 1) + "\r\nConnection: close\r\n\r\n" +
                    std::string(reason) + "\n";
  io.stream.expires_after(io.options.write_timeout);
  co_await asio::async_write(io.stream, asio::buffer(msg), use_nothrow);
}

std::string format_ms(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return std::to_string(us / 1000) + "." + std::to_string((us % 1000) / 100) + "ms";
}

void access_log(const SessionEnv& env, const Exchange& ex, Clock::time_point start) {
  if (!env.options.access_log) return;
  const Request& r = ex.request();
  std::string line = r.remote.address().to_string() + " \"" + r.method + " " +
                     r.url.request_target() + " HTTP/" + (r.version >= 11 ? "1.1" : "1.0") +
                     "\" " + std::to_string(ex.status()) + " " +
                     std::to_string(ex.body_bytes_sent());
  line += ex.upstream_time() ? " upstream=" + format_ms(*ex.upstream_time()) : " upstream=-";
  line += " total=" + format_ms(Clock::now() - start);
  if (ex.aborted()) line += " aborted";
  write_log_line(env.options.log, line);
}

}  // namespace

asio::awaitable<void> run_session(asio::ip::tcp::socket socket, SessionEnv& env) {
  const ServerOptions& opts = env.options;
  asio::ip::tcp::endpoint remote;
  {
    boost::system::error_code ec;
    remote = socket.remote_endpoint(ec);
  }
  SessionIo io(std::move(socket), opts);
  Registration registration(env, io);
  bool cut = false;  // close without a graceful shutdown (aborted response, forced stop)

  for (bool first = true;; first = false) {
    if (io.draining || io.stopping) break;
    io.parser.emplace();
    io.parser->header_limit(opts.max_request_header_bytes);
    io.parser->body_limit(boost::none);  // bodies stream through; they are never held whole

    // Keep-alive: wait up to idle_timeout for the first byte of the next request.
    if (!first && io.buffer.size() == 0) {
      io.idle = true;
      io.stream.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await io.stream.async_read_some(io.buffer.prepare(4096), use_nothrow);
      io.buffer.commit(n);
      if (ec || io.draining || io.stopping) break;
    }
    io.idle = first && io.buffer.size() == 0;

    // SPEC L7 / R34: the whole head within header_timeout, else 408 and close.
    io.stream.expires_after(opts.header_timeout);
    auto [ec, n] = co_await http::async_read_header(io.stream, io.buffer, *io.parser, use_nothrow);
    io.stream.expires_never();
    io.idle = false;
    if (ec) {
      const bool nothing_read = io.buffer.size() == 0 && n == 0;
      if (ec == http::error::end_of_stream || io.stopping || io.draining ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
        break;
      }
      if (ec == beast::error::timeout) {
        if (!nothing_read) co_await reply_and_close(io, 408, "request head not received in time");
        break;
      }
      if (ec == http::error::header_limit) {
        co_await reply_and_close(io, 431, "request header fields too large");
        break;
      }
      co_await reply_and_close(io, 400, "malformed request: " + ec.message());
      break;
    }

    auto& head = io.parser->get();
    const auto length = io.parser->content_length();
    Exchange ex(io, to_request(head, remote, length.value_or(0), io.parser->chunked()));
    const auto start = Clock::now();

    bool threw = false;
    try {
      co_await env.handler(ex);
    } catch (const std::exception& e) {
      threw = true;
      write_log_line(opts.log, std::string("handler threw: ") + e.what());
    } catch (...) {
      threw = true;
      write_log_line(opts.log, "handler threw a non-standard exception");
    }
    if (!ex.response_started() && !ex.aborted()) {
      // The handler produced nothing: answer for it rather than leave the client waiting.
      co_await ex.respond(SimpleResponse{500, {}, threw ? "handler failed\n" : "no response\n"});
    } else if (!ex.response_ended() && !ex.aborted()) {
      ex.abort();
    }
    access_log(env, ex, start);
    if (ex.aborted()) cut = true;
    if (!ex.keep_alive()) break;
  }

  boost::system::error_code ignored;
  if (!cut && !io.stopping) {
    // Half-close first so the client reads everything we sent before it sees the close.
    io.stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  io.stream.socket().close(ignored);
}

}  // namespace sluice::detail
