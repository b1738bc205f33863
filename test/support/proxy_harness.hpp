#pragma once
// A real sluice Server + ReverseProxy on 127.0.0.1:0, in-process, for integration tests. The
// proxy routes to `upstream_url` like Go's NewSingleHostReverseProxy unless `configure` changes
// it; its observer records into `events`. The destructor stops the server (joining its workers).
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "support/event_log.hpp"
#include "support/transport_options.hpp"

namespace sluice::test {

class ProxyHarness {
 public:
  using Configure = std::function<void(sluice::ReverseProxy&)>;

  explicit ProxyHarness(const std::string& upstream_url, Configure configure = {},
                        sluice::ServerOptions options = {});
  ~ProxyHarness();
  ProxyHarness(const ProxyHarness&) = delete;
  ProxyHarness& operator=(const ProxyHarness&) = delete;

  std::uint16_t port() const;
  sluice::ReverseProxy& proxy() { return *proxy_; }
  sluice::Server& server() { return *server_; }
  EventLog& events() { return events_; }
  // Error and access lines the proxy and server wrote.
  std::vector<std::string> log_lines() const;
  bool log_contains(std::string_view text) const;
  // Stops the server now (idempotent); counters can then be read at rest.
  void stop(std::chrono::nanoseconds grace = std::chrono::seconds(2));

 private:
  EventLog events_;  // declared first: outlives the proxy and server that call into it
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_;
  std::unique_ptr<sluice::ReverseProxy> proxy_;
  std::unique_ptr<sluice::Server> server_;
};

}  // namespace sluice::test
