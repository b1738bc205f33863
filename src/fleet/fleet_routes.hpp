#pragma once
// One generation of the fleet's routing: the route table and, for each route, the ReverseProxy
// that serves it (its flush interval, its upstream pool's balancing transport, its metrics
// route). Immutable once built: a reload builds a new generation and publishes it (Router),
// and every request keeps the generation it started with until it ends, however long its
// stream lasts.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <vector>

#include "proxy/route_table.hpp"
#include "sluice/exchange.hpp"
#include "sluice/reverse_proxy.hpp"

namespace sluice {

class FleetRoutes {
 public:
  // proxies[i] serves rules[i]; both in file order.
  FleetRoutes(std::vector<RouteRule> rules, std::vector<std::unique_ptr<ReverseProxy>> proxies);

  // The first matching route's proxy serves the exchange; no match is sluice's own 404.
  boost::asio::awaitable<void> serve(Exchange& ex) const;

  const RouteTable& table() const { return table_; }
  const ReverseProxy& proxy(std::size_t i) const { return *proxies_[i]; }
  std::size_t size() const { return proxies_.size(); }

 private:
  RouteTable table_;
  std::vector<std::unique_ptr<ReverseProxy>> proxies_;
};

}  // namespace sluice
