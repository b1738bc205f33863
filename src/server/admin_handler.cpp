#include <boost/beast/http/field.hpp>

#include "sluice/admin.hpp"

namespace sluice {

namespace http = boost::beast::http;

namespace {

SimpleResponse text(unsigned status, std::string body,
                    std::string_view type = "text/plain; charset=utf-8") {
  SimpleResponse res{status, {}, std::move(body)};
  res.header.set(http::field::content_type, type);
  // A scrape or a probe must see the state now, never a cached answer.
  res.header.set(http::field::cache_control, "no-store");
  return res;
}

SimpleResponse answer(const AdminOptions& options, const Request& req) {
  const std::string& path = req.url.raw_path;
  if (req.method != "GET" && req.method != "HEAD") {
    auto res = text(405, "method not allowed\n");
    res.header.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/healthz") return text(200, "ok\n");
  if (path == "/ready") {
    const bool ready = !options.ready || options.ready();
    return ready ? text(200, "ready\n") : text(503, "stopping\n");
  }
  if (path == "/metrics" && options.metrics) {
    return text(200, options.metrics->expose(), "text/plain; version=0.0.4; charset=utf-8");
  }
  return text(404, "not found (try /metrics, /healthz, /ready)\n");
}

}  // namespace

Handler make_admin_handler(AdminOptions options) {
  return [options = std::move(options)](Exchange& ex) -> boost::asio::awaitable<void> {
    // (For HEAD the exchange sends the head only, with the body's length.)
    SimpleResponse res = answer(options, ex.request());
    const auto ec = co_await ex.respond(std::move(res));
    if (ec) ex.abort();
  };
}

}  // namespace sluice
