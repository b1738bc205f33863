#pragma once
// The binary's admin listener (--admin-listen): a Server of its own, one thread, serving the
// library's admin handler (/metrics, /healthz, /ready), plus the gauges the binary adds to the
// library's metrics: the proxy listener's connections, the upstream pool, the build.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "sluice/metrics.hpp"
#include "sluice/server.hpp"
#include "sluice/transport.hpp"

namespace sluice::app {

class AdminListener {
 public:
  AdminListener(boost::asio::ip::tcp::endpoint listen, std::shared_ptr<Metrics> metrics);
  // Binds (throws std::system_error naming the address) and starts serving.
  void start();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }
  // /ready answers 503 from now on: called when the graceful stop begins.
  void begin_stop() { stopping_->store(true); }
  // After the proxy stopped: the admin listener serves until then.
  void stop() { server_.stop(std::chrono::seconds(1)); }

 private:
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  Server server_;
};

// A listener as the connection families name it: its URL and its Server.
struct ListenerView {
  std::string url;
  const Server* server = nullptr;
};

// sluice_connections_accepted_total, _open and _parked, one sample per listener.
void append_listener_families(std::string& out, const std::vector<ListenerView>& listeners);

// The binary's own gauges, read at each scrape from objects that must outlive the admin
// listener: connections of `proxy` (labelled with `listener`), the pooled connections of
// `transport` (the upstream "default"), and sluice_build_info.
void add_binary_collectors(Metrics& metrics, const Server& proxy, std::string listener,
                           const Transport& transport);

}  // namespace sluice::app
