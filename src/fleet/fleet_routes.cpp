#include "fleet/fleet_routes.hpp"

#include <boost/beast/http/field.hpp>
#include <stdexcept>
#include <utility>

namespace sluice {

FleetRoutes::FleetRoutes(std::vector<RouteRule> rules,
                         std::vector<std::unique_ptr<ReverseProxy>> proxies)
    : table_(std::move(rules)), proxies_(std::move(proxies)) {
  if (table_.size() != proxies_.size()) {
    throw std::invalid_argument("FleetRoutes: one proxy per route");
  }
}

boost::asio::awaitable<void> FleetRoutes::serve(Exchange& ex) const {
  const Request& in = ex.request();
  const auto route = table_.match(in.host, in.url.raw_path);
  if (!route) {
    SimpleResponse none{404, {}, "sluice: no route for this host and path\n"};
    none.header.set(boost::beast::http::field::content_type, "text/plain; charset=utf-8");
    co_await ex.respond(std::move(none));
    co_return;
  }
  co_await proxies_[*route]->serve(ex);
}

}  // namespace sluice
