#include "demo_upstream.hpp"

#include <atomic>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

namespace sluice::app {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

struct DemoUpstream::State {
  // Set by begin_stop() from the main thread, read by handlers on the worker: atomic.
  std::atomic<bool> stopping{false};
};

namespace {

constexpr std::uint64_t kBigBytes = 64ull * 1024 * 1024;
constexpr std::size_t kBigWrite = 16 * 1024;
constexpr int kSlowLines = 10;

// 2024-05-01T12:34:56.789Z
std::string iso8601_utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

SimpleResponse simple(unsigned status, std::string_view content_type, std::string body) {
  SimpleResponse res{status, {}, std::move(body)};
  res.header.set(http::field::content_type, content_type);
  return res;
}

// Waits `d`, or less when the server stops for good (its stop signal is cancelled then).
// True when the whole wait elapsed and the stream may go on.
asio::awaitable<bool> pause(Exchange& ex, asio::steady_timer& timer, std::chrono::nanoseconds d) {
  // The stop signal only wakes waits that are pending when it fires: check before waiting.
  if (ex.server_stopping()) co_return false;
  timer.expires_after(d);
  auto [order, tick_ec, stop_ec] =
      co_await asio::experimental::make_parallel_group(timer.async_wait(asio::deferred),
                                                       ex.stop_signal().async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  (void)stop_ec;  // always operation_aborted: the signal never expires, it is only cancelled
  co_return order[0] == 0 && !tick_ec && !ex.server_stopping();
}

// Writes `bytes` and pushes them to the client now (a stream's point is to arrive piecemeal).
// Each co_await is a statement of its own: GCC 12 miscompiles some co_await expressions nested
// in conditions and in && / || operands.
asio::awaitable<bool> send_now(Exchange& ex, std::string bytes) {
  const std::error_code written = co_await ex.write_body(asio::buffer(bytes));
  if (written) co_return false;
  const std::error_code flushed = co_await ex.flush();
  co_return !flushed;
}

std::string index_page(const Request& req) {
  // The proxy keeps the client's Host (single_host), so it names the address curl should use.
  const std::string host = html_escape(req.host.empty() ? "127.0.0.1:8080" : req.host);
  const std::string base = "http://" + host;
  return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sluice demo</title></head>\n"
         "<body>\n<h1>sluice demo</h1>\n"
         "<p>This page comes from a small upstream server running inside the sluice process; "
         "you reached it through the sluice reverse proxy at <code>" +
         base +
         "</code>.</p>\n"
         "<p>Try the streaming endpoints with curl (<code>-N</code> turns off curl's own "
         "buffering, so you see each piece as the proxy forwards it):</p>\n<pre>\n"
         "curl -N " +
         base +
         "/events     # Server-Sent Events, one a second, endless\n"
         "curl -N " +
         base +
         "/slow       # chunked text: 10 lines, one every 500 ms\n"
         "curl -o /dev/null " +
         base +
         "/big   # 64 MiB with Content-Length\n"
         "curl -i " +
         base +
         "/           # this page\n</pre>\n"
         "<p>Event streams and responses of unknown length are flushed to the client as soon "
         "as they arrive, whatever <code>--flush-interval</code> says; responses of known "
         "length follow it.</p>\n"
         "<p>Open <a href=\"/events\">/events</a> in a browser to watch the event stream.</p>\n"
         "</body></html>\n";
}

// Streams without a body (HEAD) end right after the head: the loops below would otherwise
// never write a byte and so never notice the client leaving.
bool head_only(Exchange& ex) { return ex.request().method == "HEAD"; }

asio::awaitable<void> serve_events(const DemoUpstream::State& state, Exchange& ex) {
  Response res;
  res.header.set(http::field::content_type, "text/event-stream");
  res.header.set(http::field::cache_control, "no-cache");
  res.content_length = kUnknownLength;
  ex.begin_response(res);
  if (head_only(ex)) {
    co_await ex.end_response();
    co_return;
  }
  asio::steady_timer timer(ex.executor());
  for (std::uint64_t id = 1;; ++id) {
    const std::string event = "id: " + std::to_string(id) + "\ndata: " + iso8601_utc_now() + "\n\n";
    // A failed write is how an endless stream learns that the client went away.
    const bool sent = co_await send_now(ex, event);
    if (!sent) {
      ex.abort();
      co_return;
    }
    const bool waited = co_await pause(ex, timer, 1s);
    if (!waited) {
      ex.abort();  // forced stop: the connection is being cut anyway
      co_return;
    }
    if (state.stopping.load()) break;  // graceful stop: end the stream properly
  }
  co_await ex.end_response();
}

asio::awaitable<void> serve_slow(Exchange& ex) {
  Response res;
  res.header.set(http::field::content_type, "text/plain; charset=utf-8");
  res.content_length = kUnknownLength;  // chunked: the length is not known up front
  ex.begin_response(res);
  if (head_only(ex)) {
    co_await ex.end_response();
    co_return;
  }
  asio::steady_timer timer(ex.executor());
  for (int i = 1; i <= kSlowLines; ++i) {
    const std::string line = "line " + std::to_string(i) + " of " + std::to_string(kSlowLines) +
                             " at " + iso8601_utc_now() + "\n";
    const bool sent = co_await send_now(ex, line);
    if (!sent) {
      ex.abort();
      co_return;
    }
    if (i == kSlowLines) break;
    const bool waited = co_await pause(ex, timer, 500ms);
    if (!waited) {
      ex.abort();
      co_return;
    }
  }
  co_await ex.end_response();
}

asio::awaitable<void> serve_big(Exchange& ex) {
  // One 16 KiB block of 64-byte lines, written 4096 times.
  static const std::string block = [] {
    std::string line = "sluice demo /big: 64 MiB of filler, 16 KiB per write";
    line.resize(63, '.');
    line.push_back('\n');
    std::string b;
    while (b.size() < kBigWrite)
      b += line;
    b.resize(kBigWrite);
    return b;
  }();
  static_assert(kBigBytes % kBigWrite == 0);

  Response res;
  res.header.set(http::field::content_type, "text/plain");
  res.content_length = static_cast<std::int64_t>(kBigBytes);
  ex.begin_response(res);
  for (std::uint64_t sent = 0; sent < kBigBytes && !head_only(ex); sent += kBigWrite) {
    const std::error_code written = co_await ex.write_body(asio::buffer(block));
    if (written) {
      ex.abort();
      co_return;
    }
  }
  co_await ex.end_response();
}

asio::awaitable<void> serve_demo(std::shared_ptr<const DemoUpstream::State> state, Exchange& ex) {
  const Request& req = ex.request();
  const std::string& path = req.url.raw_path;
  const bool known = path == "/" || path == "/events" || path == "/slow" || path == "/big";
  if (!known) {
    co_await ex.respond(simple(404, "text/plain", "not found: try / /events /slow /big\n"));
    co_return;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    SimpleResponse res = simple(405, "text/plain", "only GET and HEAD\n");
    res.header.set(http::field::allow, "GET, HEAD");
    co_await ex.respond(res);
    co_return;
  }
  if (path == "/") {
    co_await ex.respond(simple(200, "text/html; charset=utf-8", index_page(req)));
  } else if (path == "/events") {
    co_await serve_events(*state, ex);
  } else if (path == "/slow") {
    co_await serve_slow(ex);
  } else {
    co_await serve_big(ex);
  }
}

}  // namespace

DemoUpstream::DemoUpstream() : state_(std::make_shared<State>()) {
  ServerOptions opts;
  opts.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  opts.threads = 1;
  opts.access_log = AccessLog::off;  // the proxy in front logs every request already
  // A plain (non-coroutine) lambda: the coroutine frame gets its own copy of the state pointer,
  // so nothing it uses lives in the lambda object.
  server_ = std::make_unique<Server>(
      opts, [state = state_](Exchange& ex) { return serve_demo(state, ex); });
}

DemoUpstream::~DemoUpstream() = default;

void DemoUpstream::start() { server_->start(); }

Url DemoUpstream::url() const {
  const auto ep = server_->local_endpoint();
  Url url;
  url.scheme = "http";
  url.host = ep.address().to_string();
  url.port = std::to_string(ep.port());
  return url;
}

void DemoUpstream::begin_stop() { state_->stopping.store(true); }

void DemoUpstream::stop(std::chrono::nanoseconds grace) {
  begin_stop();
  server_->stop(grace);
}

std::string demo_usage(const std::string& proxy_url) {
  return "sluice: the demo upstream runs in this process; try, in another terminal:\n"
         "  curl -N " +
         proxy_url +
         "/events        # Server-Sent Events, one a second\n"
         "  curl -N " +
         proxy_url +
         "/slow          # chunked text, a line every 500 ms\n"
         "  curl -o /dev/null " +
         proxy_url +
         "/big # 64 MiB with Content-Length\n"
         "  curl " +
         proxy_url +
         "/                 # what this demo is\n"
         "Ctrl-C stops it.\n";
}

}  // namespace sluice::app
