#pragma once
// Metrics: what the proxy counts, for a Prometheus scrape (text exposition format 0.0.4).
//
// The label sets are fixed when the Metrics is made (the routes, the upstreams and their
// servers of a MetricsLayout), so recording a request is a few relaxed atomic additions into
// the recording thread's own shard: no lock, no map lookup, no allocation, and no cache line
// written by two workers. A scrape sums the shards. Share one Metrics between the Server
// (ServerOptions::metrics: requests, statuses, durations, bytes) and the ReverseProxy of each
// route (ReverseProxy::metrics: upstream times, endings, flush timers, added latency).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

namespace detail {
class MetricShards;
}

// The route of a request no route took (refused by the server, or served by a handler that is
// not a ReverseProxy): its requests count under route="" and upstream="".
inline constexpr std::size_t kNoRoute = static_cast<std::size_t>(-1);

struct MetricsLayout {
  struct Upstream {
    std::string name;                  // the `upstream` label
    std::vector<std::string> servers;  // the `server` label: each server's URL
  };
  struct Route {
    std::string name;          // the `route` label
    std::size_t upstream = 0;  // index into `upstreams`
  };
  std::vector<Upstream> upstreams;
  std::vector<Route> routes;
  // Threads that record (the Server's workers): one shard each; make it at least
  // ServerOptions::threads. Other threads (a stop() tearing down late responses, workers past
  // this count) share one more, correctly but with contention.
  unsigned workers = 1;
};

// The layout of a proxy with one route to one upstream server (the command line's mode):
// route "default", upstream "default", server `server_url`.
MetricsLayout single_route_layout(std::string server_url, unsigned workers);

class Metrics {
 public:
  // Throws std::invalid_argument for a route whose upstream index is out of range, and for two
  // routes, two upstreams or two servers of one upstream with the same name (their series
  // would collide).
  explicit Metrics(MetricsLayout layout);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const MetricsLayout& layout() const;

  // The exposition: sluice's own families, then each collector's, then the process_* ones
  // (read from /proc). Call from any thread but a worker (it reads files): the admin listener.
  std::string expose() const;

  // Appends whole metric families (# HELP, # TYPE, samples) to every exposition: for gauges
  // read from live objects (a Transport's pooled connections, a Server's connections). Add
  // them before serving; each runs on the scraping thread. A family must come from one
  // collector only (a HELP/TYPE pair twice makes the exposition invalid).
  void add_collector(std::function<void(std::string& out)> collect);

  // sluice_config_reloads_total{result="success"|"failure"}.
  void count_config_reload(bool success);

  // Sums of two gauges, for tests and the stop sequence.
  std::int64_t active_requests() const;
  std::int64_t flush_timers_active() const;

  // The recording side (src/common/metric_shards.hpp).
  detail::MetricShards& shards() const { return *shards_; }

 private:
  struct Collectors;
  std::unique_ptr<detail::MetricShards> shards_;
  std::unique_ptr<Collectors> collectors_;
};

// Exposition helpers for collectors: `name{labels} value\n` and the HELP/TYPE header.
// `labels` is pre-rendered (`a="x",b="y"`, values escaped with escape_label_value), or empty.
void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help);
void append_sample(std::string& out, std::string_view name, std::string_view labels, double value);
std::string escape_label_value(std::string_view value);

}  // namespace sluice
