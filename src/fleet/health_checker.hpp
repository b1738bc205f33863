#pragma once
// Active health checks (the fleet's `health_check:`): each checked server gets a GET of the
// check path on its own timer, on a thread of the checker's own, independent of traffic. A
// check passes on a 2xx or 3xx head within `timeout`; anything else (refused, reset, timeout,
// another status) fails it. The results go to the server's UpstreamServer, which turns down
// after `unhealthy_after` failures in a row and up after `healthy_after` successes.
//
// A check opens a new connection each time (Connection: close) and never takes one from the
// traffic's pools: what it tests is that the server accepts and answers now. A server that
// turns down gets no new requests; the streams it already serves are not cut.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sluice/stop_signal.hpp"
#include "sluice/tls.hpp"
#include "sluice/url.hpp"
#include "transport/upstream_server.hpp"

namespace sluice {

struct HealthTarget {
  std::shared_ptr<UpstreamServer> server;
  Url url;  // the server's scheme and authority, with the check's path
  std::chrono::nanoseconds interval{std::chrono::seconds(1)};
  std::chrono::nanoseconds timeout{std::chrono::milliseconds(500)};
  std::shared_ptr<UpstreamTls> tls;  // for https servers; null: the system CA bundle
  bool http2 = false;                // the server speaks HTTP/2 (protocol: h2): so do the checks
};

class HealthChecker {
 public:
  // Called on the checker's thread after each check: the server, whether the check passed, and
  // whether the server is up after it. For tests and logs; must not block.
  using CheckObserver = std::function<void(const UpstreamServer& server, bool passed, bool up)>;

  // Starts checking every target at once, then every `interval`.
  explicit HealthChecker(std::vector<HealthTarget> targets, CheckObserver observer = {});
  // Stops the checks (one in progress is abandoned) and joins the thread.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

 private:
  struct Loop;
  boost::asio::io_context io_;
  StopSignal stop_;
  CheckObserver observer_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::size_t live_ = 0;  // loops still running; the checker's thread only
  std::thread thread_;
};

}  // namespace sluice
