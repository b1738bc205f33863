// embed_api: the smallest complete program that embeds sluice as a library.
//
//   embed_api --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000
//
// It runs one sluice::Server. Its handler decides per request:
//   /api, /api/...   proxied to the upstream, with the /api prefix removed:
//                    GET /api/users?id=7 -> GET http://127.0.0.1:9000/users?id=7
//   anything else    answered locally with a small text page.
//
// What it shows:
//   1. A ReverseProxy configured with a `rewrite` hook (the preferred hook; `director` exists
//      for code ported from Go's httputil).
//   2. A Handler that mixes proxied and local responses: ReverseProxy::serve is an ordinary
//      coroutine that a handler can co_await for some requests and not for others.
//   3. Graceful shutdown on SIGINT/SIGTERM with sigwait().
//
// Build: part of the sluice build (target embed_api). A program of your own links an installed
// sluice (`cmake --install`, README "Install") with find_package(sluice) and the sluice::sluice
// target, or with `pkg-config --cflags --libs sluice`; test/ship/install_check.sh builds this
// file both ways.
#include <pthread.h>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/sluice.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::string_view kPrefix = "/api";

// True for "/api" and "/api/...", not for "/apiary".
bool is_api_path(std::string_view path) {
  return path.substr(0, kPrefix.size()) == kPrefix &&
         (path.size() == kPrefix.size() || path[kPrefix.size()] == '/');
}

// The proxy for /api. Hooks are set once, before the server starts: the object is shared by
// every worker thread and must not change while requests flow.
std::unique_ptr<sluice::ReverseProxy> make_api_proxy(const sluice::Url& upstream) {
  auto proxy = std::make_unique<sluice::ReverseProxy>();

  // `rewrite` gets the inbound request (`pr.in`, read-only) and the outbound copy (`pr.out`),
  // already stripped of hop-by-hop and X-Forwarded-* fields. It runs on a worker thread and
  // must not block. `upstream` is captured by value: the hook outlives this function.
  proxy->rewrite = [upstream](sluice::ProxyRequest& pr) {
    // Strip the prefix *before* set_url(): set_url joins the target's path with out.url.raw_path,
    // so the upstream sees /users, not /api/users. raw_path is the escaped wire form, so the
    // rest of the path ("%2F" included) passes through untouched. "/api" alone becomes "/".
    std::string& path = pr.out.url.raw_path;
    path.erase(0, kPrefix.size());
    if (path.empty()) path = "/";
    // Scheme, host and port from the target; path joined; queries merged; Host set to the
    // upstream's authority (a `director`-style proxy would keep the client's Host instead).
    pr.set_url(upstream);
    // X-Forwarded-For (client IP), X-Forwarded-Host (the Host the client used) and
    // X-Forwarded-Proto, so the upstream can build links that point back through us.
    pr.set_x_forwarded();
  };

  // Optional: a readable error page instead of the default empty 502/504. It runs when the
  // upstream fails before any of its response was sent (refused, timed out, bad response).
  proxy->error_handler = [](const sluice::Request&, std::error_code ec) {
    sluice::SimpleResponse res{sluice::default_error_status(ec), {}, {}};
    res.header.set("Content-Type", "text/plain");
    res.body = "the API upstream is unavailable: " + ec.message() + "\n";
    return res;
  };

  // Optional: responses of known length are buffered up to 16 KiB before they reach the
  // client; 100ms bounds how long a byte may wait. Event streams and unknown-length responses
  // are flushed at once whatever this says.
  proxy->flush_interval = 100ms;
  // How the upstream is reached: HTTP/1.1 with a keep-alive pool per worker, here with a
  // shorter connect timeout than the default 5s.
  sluice::TransportOptions transport;
  transport.connect_timeout = 2s;
  proxy->transport = sluice::make_http1_transport(transport);
  return proxy;
}

// The handler: a coroutine per request, on the worker thread that owns the connection. It
// must leave a response on `ex`: here either the proxy's or its own.
asio::awaitable<void> handle(sluice::ReverseProxy& api, sluice::Exchange& ex) {
  if (is_api_path(ex.request().url.raw_path)) {
    co_await api.serve(ex);  // never throws; always completes (or cuts) the response
    co_return;
  }
  sluice::SimpleResponse page{200, {}, {}};
  page.header.set("Content-Type", "text/plain; charset=utf-8");
  page.body =
      "Hello from embed_api.\n"
      "This page is answered by the handler itself; /api/... is proxied upstream.\n"
      "You asked for " +
      ex.request().url.request_target() + "\n";
  // respond() sends a whole response with Content-Length. For a stream, use begin_response()
  // (content_length = -1), co_await write_body()/flush() as often as needed, then end_response().
  co_await ex.respond(page);
}

// "127.0.0.1:8080" or "[::1]:8080" -> endpoint.
std::optional<asio::ip::tcp::endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  const std::string port(text.substr(colon + 1));
  char* end = nullptr;
  const unsigned long n = std::strtoul(port.c_str(), &end, 10);
  if (ec || port.empty() || *end != '\0' || n > 65535) return std::nullopt;
  return asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(n));
}

int usage() {
  std::fputs("usage: embed_api --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000\n", stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen_text = "127.0.0.1:8080";
  std::string upstream_text;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--listen") {
      listen_text = argv[++i];
    } else if (arg == "--upstream") {
      upstream_text = argv[++i];
    } else {
      return usage();
    }
  }
  const auto listen = parse_endpoint(listen_text);
  const auto upstream = sluice::Url::parse(upstream_text);  // http://host[:port][/path][?query]
  if (!listen || !upstream) return usage();

  // Block the stop signals before the server starts its worker threads: they inherit the
  // mask, so the signals wait for sigwait() below instead of interrupting a worker.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The proxy must outlive the server that calls it: declared first, destroyed last.
  const auto api = make_api_proxy(*upstream);

  sluice::ServerOptions options;
  options.listen = *listen;
  options.threads = 2;  // each worker has its own event loop and upstream connection pool
  // The handler is copied into the server and called once per request. It returns the
  // coroutine without being one itself, so the coroutine holds nothing of the lambda object.
  sluice::Server server(options, [&api = *api](sluice::Exchange& ex) { return handle(api, ex); });
  try {
    server.start();  // binds; throws std::system_error naming the address on failure
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed_api: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "embed_api: listening on %s:%u, /api -> %s\n",
               server.local_endpoint().address().to_string().c_str(),
               static_cast<unsigned>(server.local_endpoint().port()), upstream_text.c_str());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  // Stop accepting, let in-flight responses finish for up to 5 s, then cut the rest.
  server.stop(5s);
  return 0;
}
