#pragma once
// From a checked FleetConfig to what `sluice --config` runs: the routing generation (a
// ReverseProxy per route over a BalancingTransport per upstream pool), the listeners' server
// options, and the metrics layout. Everything here reads files (certificates, CA bundles) and
// so runs on the main thread, at start and on SIGHUP, never on a worker; it binds nothing, so
// `sluice check` runs it too.
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fleet/fleet_routes.hpp"
#include "fleet_config.hpp"
#include "sluice/metrics.hpp"
#include "sluice/server.hpp"
#include "transport/balancing_transport.hpp"
#include "transport/server_registry.hpp"

namespace sluice::app {

// A problem the loader cannot see from the text alone (a certificate that does not load, a
// feature not built yet), at the position of what caused it.
class FleetBuildError : public std::runtime_error {
 public:
  explicit FleetBuildError(std::vector<ConfigError> errors)
      : std::runtime_error(errors.front().message), errors_(std::move(errors)) {}
  const std::vector<ConfigError>& errors() const { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

// The addresses DNS discovery knows for a name (a `dns:` entry, or a `url:` whose host is a
// name: ServerSpec::dns_host); empty when none yet. An empty function: such entries add no
// servers (sluice check).
using DnsLookup = std::function<std::vector<boost::asio::ip::address>(const std::string& host,
                                                                      std::uint16_t port)>;

// One upstream pool as built for a set of transport options (routes with equal options share
// one).
struct FleetPool {
  std::shared_ptr<BalancingTransport> transport;
  bool uses_dns = false;
  // The pool's servers as they are now: the url: ones and every address of its dns: entries.
  // Called again when DNS answers change, then handed to transport->set_members().
  std::function<std::vector<PoolMember>(const DnsLookup& dns)> members;
  // Applies the pool's health options and max_requests to these members' servers: once the
  // generation serves (a reload that is abandoned changes no server).
  std::function<void(const std::vector<PoolMember>& members)> configure_servers;
};

struct FleetGeneration {
  std::shared_ptr<const FleetRoutes> routes;
  std::vector<FleetPool> pools;
};

// Route i is "name" or its index; upstream servers are their URLs, and "dns:NAME:PORT" for all
// the addresses of a dns: entry.
MetricsLayout fleet_metrics_layout(const FleetConfig& config, unsigned workers);

// Builds the routes for `config`. Servers and transports come from `registry`, so those a
// previous generation has are kept (health, counts, pools). `metrics` (may be null) is the
// process's: routes, upstreams and servers found in its layout by name record under it, others
// are not recorded. Relative file names are taken from `base` (the config file's folder).
// Throws FleetBuildError.
FleetGeneration build_fleet_generation(const FleetConfig& config, ServerRegistry& registry,
                                       const std::shared_ptr<Metrics>& metrics,
                                       const std::filesystem::path& base, const DnsLookup& dns);

// The Server options of one listener: the settings' client-side limits and its TLS pairs
// (read here). Throws FleetBuildError.
ServerOptions fleet_listener_options(const FleetConfig& config, const ListenerSpec& listener,
                                     const std::filesystem::path& base);

// Everything start-up would check, without binding: the loader's checks, then building the
// generation and each listener's TLS. Errors are sorted by position; none: the config.
std::variant<FleetConfig, std::vector<ConfigError>> check_fleet_config(
    std::string_view text, const std::filesystem::path& base);

}  // namespace sluice::app
