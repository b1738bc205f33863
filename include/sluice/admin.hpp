#pragma once
// The admin listener's handler: run it on a Server of its own (one thread, its own address,
// never the proxy's listener), so a scrape never runs on a proxy worker.
//   GET /metrics  the Prometheus text exposition (format 0.0.4) of `metrics`
//   GET /healthz  200 while the process serves
//   GET /ready    200, or 503 once `ready` returns false (from the start of a graceful stop,
//                 so that a load balancer drains this instance first)
// Anything else: 404; a method other than GET or HEAD: 405.
#include <functional>
#include <memory>

#include "sluice/metrics.hpp"
#include "sluice/server.hpp"

namespace sluice {

struct AdminOptions {
  std::shared_ptr<const Metrics> metrics;  // null: /metrics answers 404
  std::function<bool()> ready;             // null: always ready
};

Handler make_admin_handler(AdminOptions options);

}  // namespace sluice
