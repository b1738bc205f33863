#include "fleet_runtime.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "config.hpp"
#include "proxy/route_match.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/tls.hpp"

namespace sluice::app {

namespace {

using std::chrono::nanoseconds;

std::string route_label(const RouteSpec& route, std::size_t index) {
  return route.name.empty() ? std::to_string(index) : route.name;
}

// "http://127.0.0.1:9001": what names a server (its registry key and its metrics label).
std::string server_key(const Url& url) { return url.origin(); }

// The metrics' server label of an entry: its URL, or "dns:NAME:PORT" for a `dns:` entry (its
// addresses come and go, the label stays).
std::string server_label(const ServerSpec& spec) {
  if (spec.url) return server_key(*spec.url);
  return "dns:" + spec.dns_host + ":" + std::to_string(spec.dns_port);
}

// How the addresses DNS finds for an entry are reached.
std::string dns_scheme(const ServerSpec& spec, const UpstreamSpec& upstream) {
  if (spec.url) return spec.url->scheme;
  return upstream.tls ? "https" : "http";
}

const UpstreamSpec& upstream_named(const FleetConfig& config, const std::string& name) {
  return *std::find_if(config.upstreams.begin(), config.upstreams.end(),
                       [&](const UpstreamSpec& u) { return u.name == name; });
}

std::filesystem::path file_at(const std::filesystem::path& base, const std::string& name) {
  const std::filesystem::path p(name);
  return p.is_absolute() ? p : base / p;
}

BalancePolicy policy_of(Balance b) {
  switch (b) {
    case Balance::round_robin: return BalancePolicy::round_robin;
    case Balance::least_conn: return BalancePolicy::least_conn;
    case Balance::random_two: return BalancePolicy::random_two;
    case Balance::hash: return BalancePolicy::hash;
  }
  return BalancePolicy::round_robin;
}

HashKey hash_key_of(const std::optional<HashKeySpec>& spec) {
  HashKey key;
  if (!spec) return key;
  key.name = spec->name;
  switch (spec->kind) {
    case HashKeySpec::Kind::header: key.kind = HashKey::Kind::header; break;
    case HashKeySpec::Kind::cookie: key.kind = HashKey::Kind::cookie; break;
    case HashKeySpec::Kind::client_ip: key.kind = HashKey::Kind::client_ip; break;
  }
  return key;
}

// The streaming features of a route: the route's own values, else the settings'.
StreamFeatures stream_features(const Settings& settings, const RouteSettings& route) {
  StreamFeatures f;
  f.sse_heartbeat = route.sse_heartbeat.value_or(settings.sse_heartbeat.value_or(f.sse_heartbeat));
  f.sse_resume = route.sse_resume.value_or(settings.sse_resume.value_or(f.sse_resume));
  f.sse_resume_attempts = route.sse_resume_attempts.value_or(
      settings.sse_resume_attempts.value_or(f.sse_resume_attempts));
  f.compress = route.compress.value_or(settings.compress.value_or(f.compress));
  return f;
}

// The transport options of a route: the settings' values, then the route's own.
TransportOptions transport_options(const Settings& settings, const RouteSettings& route) {
  TransportOptions o;
  const auto pick = [](const auto& own, const auto& shared, auto& out) {
    if (own) {
      out = *own;
    } else if (shared) {
      out = *shared;
    }
  };
  pick(route.connect_timeout, settings.connect_timeout, o.connect_timeout);
  pick(route.response_header_timeout, settings.response_header_timeout, o.response_header_timeout);
  pick(route.upstream_idle_timeout, settings.upstream_idle_timeout, o.idle_read_timeout);
  pick(route.tunnel_idle_timeout, settings.tunnel_idle_timeout, o.tunnel_idle_timeout);
  pick(route.max_response_header_bytes, settings.max_response_header_bytes,
       o.max_response_header_bytes);
  if (settings.max_idle_upstream) o.max_idle_connections = *settings.max_idle_upstream;
  return o;
}

// A text that differs whenever two routes' transports to one server would differ.
std::string options_key(const TransportOptions& o, const std::optional<UpstreamTlsSpec>& tls) {
  std::string key = std::to_string(o.connect_timeout.count()) + ' ' +
                    std::to_string(o.response_header_timeout.count()) + ' ' +
                    std::to_string(o.idle_read_timeout.count()) + ' ' +
                    std::to_string(o.tunnel_idle_timeout.count()) + ' ' +
                    std::to_string(o.max_response_header_bytes) + ' ' +
                    std::to_string(o.max_idle_connections);
  if (tls) key += " tls " + tls->ca + '\n' + tls->server_name + (tls->insecure ? " insecure" : "");
  return key;
}

std::size_t index_in(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? kNoRoute : static_cast<std::size_t>(it - names.begin());
}

// How to make a pool's member list again when DNS answers change: the upstream as configured,
// its transport options, and the TLS of each DNS name.
struct PoolRecipe {
  UpstreamSpec upstream;
  TransportOptions options;
  std::string options_key;
  ServerHealth::Options health;
  std::map<std::string, std::shared_ptr<UpstreamTls>> dns_tls;  // by DNS name
  std::vector<std::string> layout_servers;                      // the metrics' server labels

  PoolMember member(ServerRegistry& registry, const Url& url, std::uint32_t weight,
                    const std::string& metrics_label, const std::string& dns_name) const {
    PoolMember m;
    m.url = url;
    const std::string key = server_key(url);
    // Its health settings are applied once this generation serves (configure_servers): a
    // reload that is abandoned must not change the servers the serving one shares.
    m.server = registry.server(key);
    TransportOptions o = options;
    std::string okey = options_key;
    if (const auto it = dns_tls.find(dns_name); it != dns_tls.end()) {
      o.tls = it->second;
      okey += " sni " + dns_name;
    }
    // A reload that changes the protocol gets a transport of its own.
    if (upstream.protocol == UpstreamProtocol::h2) okey += " h2";
    if (upstream.protocol == UpstreamProtocol::h1) okey += " h1";
    m.transport =
        registry.transport(key, okey, [&] { return make_transport(upstream.protocol, o); });
    m.weight = weight;
    m.metrics_server = index_in(layout_servers, metrics_label);
    return m;
  }

  std::vector<PoolMember> members(ServerRegistry& registry, const DnsLookup& dns) const {
    std::vector<PoolMember> list;
    for (const ServerSpec& spec : upstream.servers) {
      if (spec.dns_host.empty()) {  // an IP literal: one fixed server
        list.push_back(member(registry, *spec.url, spec.weight, server_label(spec), ""));
        continue;
      }
      if (!dns) continue;
      const std::string label = server_label(spec);
      for (const auto& address : dns(spec.dns_host, spec.dns_port)) {
        Url url;
        url.scheme = dns_scheme(spec, upstream);
        // Appended, not "[" + text: GCC 12 at -O2 warns (-Wrestrict, a false positive) on
        // `const char* + std::string&&`.
        url.host = address.to_string();
        if (address.is_v6()) url.host.insert(0, 1, '[').push_back(']');
        url.port = std::to_string(spec.dns_port);
        list.push_back(member(registry, url, spec.weight, label, spec.dns_host));
      }
    }
    return list;
  }

  void configure_servers(const std::vector<PoolMember>& members) const {
    for (const PoolMember& m : members) {
      m.server->configure(health, upstream.health_check.has_value(), upstream.max_requests);
    }
  }
};

class Builder {
 public:
  Builder(const FleetConfig& config, ServerRegistry& registry,
          const std::shared_ptr<Metrics>& metrics, const std::filesystem::path& base,
          const DnsLookup& dns)
      : config_(config), registry_(registry), metrics_(metrics), base_(base), dns_(dns) {}

  FleetGeneration build() {
    std::vector<RouteRule> rules;
    std::vector<std::unique_ptr<ReverseProxy>> proxies;
    for (std::size_t i = 0; i < config_.routes.size(); ++i) {
      const RouteSpec& route = config_.routes[i];
      rules.push_back(RouteRule{route.host, route.path_prefix});
      proxies.push_back(make_proxy(route, i));
    }
    if (!errors_.empty()) throw FleetBuildError(std::move(errors_));
    FleetGeneration generation;
    generation.routes = std::make_shared<FleetRoutes>(std::move(rules), std::move(proxies));
    for (auto& [key, pool] : pools_)
      generation.pools.push_back(std::move(pool));
    return generation;
  }

 private:
  std::unique_ptr<ReverseProxy> make_proxy(const RouteSpec& route, std::size_t index) {
    const UpstreamSpec& upstream = upstream_named(config_, route.upstream);
    auto pool = pool_for(upstream, transport_options(config_.settings, route.settings));
    auto proxy = std::make_unique<ReverseProxy>();
    // The transport puts the chosen server's scheme, host and port in; this sets the path.
    // Until a server is chosen the request names its upstream: a 502 because no server was
    // available logs "[http://api]", not an address nobody configured.
    const std::string scheme = upstream.tls ? "https://" : "http://";
    Url target = Url::parse(scheme + upstream.name).value_or(*Url::parse(scheme + "0.0.0.0"));
    proxy->director = [target = std::move(target), prefix = route.path_prefix,
                       strip = route.strip_prefix](Request& out) {
      if (strip) out.url.raw_path = strip_route_prefix(prefix, out.url.raw_path);
      direct_to(target, out);  // the inbound Host is kept, as on the command line
    };
    proxy->flush_interval = route.settings.flush_interval.value_or(
        config_.settings.flush_interval.value_or(nanoseconds{0}));
    apply_stream_features(stream_features(config_.settings, route.settings), *proxy);
    proxy->transport = std::move(pool);
    proxy->route_name = route_label(route, index);
    proxy->upstream_name = upstream.name;
    if (metrics_) {
      proxy->metrics = metrics_;
      proxy->metrics_route = metrics_route(proxy->route_name, upstream.name);
    }
    return proxy;
  }

  // The layout's route of that name, if it goes to the same upstream there.
  std::size_t metrics_route(const std::string& route, const std::string& upstream) const {
    const MetricsLayout& layout = metrics_->layout();
    for (std::size_t r = 0; r < layout.routes.size(); ++r) {
      if (layout.routes[r].name == route &&
          layout.upstreams[layout.routes[r].upstream].name == upstream) {
        return r;
      }
    }
    return kNoRoute;
  }

  std::shared_ptr<BalancingTransport> pool_for(const UpstreamSpec& upstream,
                                               TransportOptions options) {
    const std::string opts = options_key(options, upstream.tls);
    FleetPool& pool = pools_[upstream.name + '\n' + opts];
    if (pool.transport) return pool.transport;

    auto recipe = std::make_shared<PoolRecipe>();
    recipe->upstream = upstream;
    recipe->options_key = opts;
    recipe->health = health_options(upstream);
    if (upstream.tls) options.tls = upstream_tls(upstream, "");
    for (const ServerSpec& spec : upstream.servers) {
      // An https address found by DNS is checked against the name that found it, unless
      // tls.server_name says otherwise.
      const bool named = !upstream.tls || upstream.tls->server_name.empty();
      if (!spec.dns_host.empty() && dns_scheme(spec, upstream) == "https" && named) {
        recipe->dns_tls[spec.dns_host] = upstream_tls(upstream, spec.dns_host);
      }
    }
    recipe->options = options;
    if (metrics_) {
      for (const auto& u : metrics_->layout().upstreams) {
        if (u.name == upstream.name) recipe->layout_servers = u.servers;
      }
    }
    pool.uses_dns = std::any_of(upstream.servers.begin(), upstream.servers.end(),
                                [](const ServerSpec& s) { return !s.dns_host.empty(); });
    pool.members = [recipe, &registry = registry_](const DnsLookup& dns) {
      return recipe->members(registry, dns);
    };
    pool.configure_servers = [recipe](const std::vector<PoolMember>& members) {
      recipe->configure_servers(members);
    };
    BalancingOptions balancing;
    balancing.upstream = upstream.name;
    balancing.policy = policy_of(upstream.balance);
    balancing.hash_key = hash_key_of(upstream.hash_key);
    balancing.retries = upstream.retries;
    balancing.counters = registry_.counters(upstream.name);
    balancing.transport = options;
    pool.transport = std::make_shared<BalancingTransport>(std::move(balancing), pool.members(dns_));
    return pool.transport;
  }

  static ServerHealth::Options health_options(const UpstreamSpec& upstream) {
    ServerHealth::Options o;
    if (upstream.health_check) {
      o.healthy_after = upstream.health_check->healthy_after;
      o.unhealthy_after = upstream.health_check->unhealthy_after;
    }
    if (upstream.passive) {
      o.max_fails = upstream.passive->max_fails;
      o.fail_timeout = upstream.passive->fail_timeout;
    }
    return o;
  }

  // The upstream's TLS (its tls: section, or the defaults), checking `dns_name` when given.
  std::shared_ptr<UpstreamTls> upstream_tls(const UpstreamSpec& upstream,
                                            const std::string& dns_name) {
    const UpstreamTlsSpec spec = upstream.tls.value_or(UpstreamTlsSpec{});
    UpstreamTlsOptions o;
    if (!spec.ca.empty()) o.ca_file = file_at(base_, spec.ca).string();
    o.server_name = spec.server_name.empty() ? dns_name : spec.server_name;
    o.insecure = spec.insecure;
    try {
      return UpstreamTls::load(std::move(o));
    } catch (const TlsConfigError& e) {
      if (dns_name.empty())
        errors_.push_back({upstream.at, "upstream " + upstream.name + ": " + e.what()});
      return nullptr;
    }
  }

  const FleetConfig& config_;
  ServerRegistry& registry_;
  const std::shared_ptr<Metrics>& metrics_;
  const std::filesystem::path& base_;
  const DnsLookup& dns_;
  std::map<std::string, FleetPool> pools_;
  std::vector<ConfigError> errors_;
};

}  // namespace

MetricsLayout fleet_metrics_layout(const FleetConfig& config, unsigned workers) {
  MetricsLayout layout;
  layout.workers = workers;
  for (const UpstreamSpec& u : config.upstreams) {
    MetricsLayout::Upstream entry{u.name, {}};
    for (const ServerSpec& s : u.servers) {
      entry.servers.push_back(server_label(s));
    }
    // Two url: entries for one server would collide as labels; the balancer sees both.
    std::sort(entry.servers.begin(), entry.servers.end());
    entry.servers.erase(std::unique(entry.servers.begin(), entry.servers.end()),
                        entry.servers.end());
    layout.upstreams.push_back(std::move(entry));
  }
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteSpec& r = config.routes[i];
    std::size_t upstream = 0;
    while (config.upstreams[upstream].name != r.upstream)
      ++upstream;
    layout.routes.push_back({route_label(r, i), upstream});
  }
  return layout;
}

FleetGeneration build_fleet_generation(const FleetConfig& config, ServerRegistry& registry,
                                       const std::shared_ptr<Metrics>& metrics,
                                       const std::filesystem::path& base, const DnsLookup& dns) {
  return Builder(config, registry, metrics, base, dns).build();
}

ServerOptions fleet_listener_options(const FleetConfig& config, const ListenerSpec& listener,
                                     const std::filesystem::path& base) {
  ServerOptions o;
  o.listen = listener.listen;
  o.max_connections = listener.max_connections;
  const Settings& s = config.settings;
  if (s.threads) o.threads = *s.threads;
  if (s.header_timeout) o.header_timeout = *s.header_timeout;
  if (s.idle_timeout) o.idle_timeout = *s.idle_timeout;
  if (s.write_timeout) o.write_timeout = *s.write_timeout;
  if (s.max_header_bytes) o.max_request_header_bytes = *s.max_header_bytes;
  if (s.max_uri_bytes) o.max_uri_bytes = *s.max_uri_bytes;
  if (s.max_header_count) o.max_header_count = *s.max_header_count;
  if (s.max_body_bytes) o.max_body_bytes = *s.max_body_bytes;
  if (s.h2_max_concurrent_streams) o.h2_max_concurrent_streams = *s.h2_max_concurrent_streams;
  if (s.h2_stream_window) o.h2_stream_window = *s.h2_stream_window;
  if (s.h2_connection_window) o.h2_connection_window = *s.h2_connection_window;
  if (s.access_log) o.access_log = *s.access_log;
  if (!listener.tls.empty()) {
    std::vector<CertificateFiles> pairs;
    for (const TlsPairSpec& pair : listener.tls) {
      pairs.push_back({file_at(base, pair.cert).string(), file_at(base, pair.key).string()});
    }
    try {
      o.tls = ServerTls::load(std::move(pairs));
    } catch (const TlsConfigError& e) {
      throw FleetBuildError({ConfigError{listener.tls.front().at, e.what()}});
    }
  }
  return o;
}

std::variant<FleetConfig, std::vector<ConfigError>> check_fleet_config(
    std::string_view text, const std::filesystem::path& base) {
  auto loaded = load_fleet_config(text);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) return std::move(*errors);
  FleetConfig& config = std::get<FleetConfig>(loaded);
  std::vector<ConfigError> errors;
  for (const ListenerSpec& listener : config.listeners) {
    try {
      fleet_listener_options(config, listener, base);
    } catch (const FleetBuildError& e) {
      errors.insert(errors.end(), e.errors().begin(), e.errors().end());
    }
  }
  try {
    ServerRegistry registry;
    build_fleet_generation(config, registry, nullptr, base, DnsLookup{});
  } catch (const FleetBuildError& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  }
  if (errors.empty()) return std::move(config);
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
  });
  return errors;
}

}  // namespace sluice::app
