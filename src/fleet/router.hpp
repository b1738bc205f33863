#pragma once
// The fleet's handler: serves each request with the routing generation that is current when
// the request starts, and keeps that generation (its proxies, transports and servers) alive
// until the request ends. publish() swaps in a new generation at once for new requests; the
// old one is freed when the last request that pinned it ends, which is when the pools of
// servers that the new one dropped close.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>

#include "fleet/fleet_routes.hpp"
#include "sluice/exchange.hpp"

namespace sluice {

class Router {
 public:
  explicit Router(std::shared_ptr<const FleetRoutes> routes) : current_(std::move(routes)) {}

  // Any thread; requests that start after it returns use `routes`. The old generation is
  // released outside the lock (its last owner may be this call).
  void publish(std::shared_ptr<const FleetRoutes> routes) {
    std::lock_guard lock(mutex_);
    current_.swap(routes);
  }
  std::shared_ptr<const FleetRoutes> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  // The Server's handler.
  boost::asio::awaitable<void> serve(Exchange& ex) const {
    const std::shared_ptr<const FleetRoutes> pinned = current();
    co_await pinned->serve(ex);
  }

 private:
  // A mutex held for one shared_ptr copy, not std::atomic<std::shared_ptr>: GCC 12's releases
  // its lock bit with a relaxed store, which ThreadSanitizer reports (google/sanitizers#1558).
  mutable std::mutex mutex_;
  std::shared_ptr<const FleetRoutes> current_;
};

}  // namespace sluice
