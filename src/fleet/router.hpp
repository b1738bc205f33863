#pragma once
// The fleet's handler: serves each request with the routing generation that is current when
// the request starts, and keeps that generation (its proxies, transports and servers) alive
// until the request ends. publish() swaps in a new generation at once for new requests; the
// old one is freed when the last request that pinned it ends, which is when the pools of
// servers that the new one dropped close.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "fleet/fleet_routes.hpp"
#include "sluice/exchange.hpp"

namespace sluice {

class Router {
 public:
  explicit Router(std::shared_ptr<const FleetRoutes> routes) : current_(std::move(routes)) {}

  // Any thread; requests that start after it returns use `routes`.
  void publish(std::shared_ptr<const FleetRoutes> routes) { current_.store(std::move(routes)); }
  std::shared_ptr<const FleetRoutes> current() const { return current_.load(); }

  // The Server's handler.
  boost::asio::awaitable<void> serve(Exchange& ex) const {
    const std::shared_ptr<const FleetRoutes> pinned = current_.load();
    co_await pinned->serve(ex);
  }

 private:
  std::atomic<std::shared_ptr<const FleetRoutes>> current_;
};

}  // namespace sluice
