#pragma once
// `sluice --config FILE`: the whole fleet in one process, and its SIGHUP reload.
//
// Start: read and check the file (every error reported), build the routing generation, bind
// every listener and the admin listener, start the health checks. Reload (SIGHUP, on the main
// thread, off the workers): read and check the file again; if it fails, the old configuration
// keeps serving and every error is logged. Else the new generation is published at once for
// new requests, while every request that started before keeps the generation it pinned until
// it ends (docs/architecture.md, "Reload"); listeners the file added are bound first (a bind
// failure abandons the reload), listeners it dropped stop gracefully; servers that stay keep
// their pools and health (ServerRegistry).
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "admin_listener.hpp"
#include "dns_resolver.hpp"
#include "fleet/health_checker.hpp"
#include "fleet/router.hpp"
#include "fleet_config.hpp"
#include "fleet_runtime.hpp"
#include "sluice/metrics.hpp"
#include "sluice/server.hpp"
#include "transport/server_registry.hpp"

namespace sluice::app {

// The file could not be used: `lines` are what to print, one per problem.
class FleetStartError : public std::runtime_error {
 public:
  explicit FleetStartError(std::vector<std::string> lines)
      : std::runtime_error(lines.front()), lines_(std::move(lines)) {}
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

// The file's text, or the reason it cannot be read ("cannot read FILE: No such file...").
std::variant<std::string, std::string> read_config_file(const std::filesystem::path& file);

class FleetService {
 public:
  explicit FleetService(std::filesystem::path file);
  ~FleetService();
  FleetService(const FleetService&) = delete;
  FleetService& operator=(const FleetService&) = delete;

  // Throws FleetStartError (the file) or std::system_error (a bind).
  void start();
  // SIGHUP: the lines to log. Counts the reload in sluice_config_reloads_total.
  std::vector<std::string> reload();

  // Lines start() had to say (DNS names without an address yet), for the caller's log.
  std::vector<std::string> take_start_notes();

  // "listening on http://127.0.0.1:8080, https://127.0.0.1:8443": the start-up line's tail.
  std::string listening() const;
  std::optional<std::string> admin_url() const;

  void begin_stop();                          // /ready turns 503
  void stop(std::chrono::nanoseconds grace);  // listeners first, then the admin listener

 private:
  struct Listener {
    std::string identity;  // the address: a reload keeps the listener of an address it names
    std::string shape;     // certificate files and max_connections, as started
    std::string url;
    std::shared_ptr<Server> server;
    std::shared_ptr<ServerTls> tls;
  };

  FleetConfig load_checked(std::vector<std::string>& lines);
  std::vector<HealthTarget> health_targets(const FleetConfig& config,
                                           const FleetGeneration& generation);

  Listener start_listener(const FleetConfig& config, const ListenerSpec& spec);
  void add_collectors();
  // DNS discovery: the names of `config` (and of `also`) watched, their first answers awaited
  // (bounded). Returns the names of `config` that have no address yet.
  std::vector<std::string> watch_dns(const FleetConfig& config, const FleetConfig* also = nullptr);
  static std::vector<DnsName> dns_names(const FleetConfig& config);
  DnsLookup dns_lookup() const;
  // On the resolver's thread when a name's addresses changed, and after start and reload:
  // every pool that uses DNS gets its members from the latest answers, and the health checks
  // restart for the servers the serving generation has.
  void on_dns_change();

  const std::filesystem::path file_;
  const std::filesystem::path base_;  // relative file names in the config are taken from here
  ServerRegistry registry_;
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<Router> router_;
  std::optional<AdminListener> admin_;
  std::unique_ptr<DnsResolver> dns_;  // made at start, never replaced

  // What other threads read (the admin thread's scrapes, the resolver's updates).
  mutable std::mutex mutex_;
  std::optional<FleetConfig> config_;  // the one serving
  std::vector<Listener> listeners_;
  FleetGeneration generation_;

  std::mutex health_mutex_;  // taken before mutex_, never while holding it
  std::unique_ptr<HealthChecker> health_;
  std::vector<std::string> health_keys_;  // what health_ checks, to restart it only on a change
  bool stopped_ = false;                  // under health_mutex_
  // Servers that left the DNS answers, kept (under mutex_) so that their health outlives a
  // short absence.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<UpstreamServer>>>
      departed_;

  std::vector<std::string> say_later_;
};

}  // namespace sluice::app
