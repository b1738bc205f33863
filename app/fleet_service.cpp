#include "fleet_service.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config.hpp"
#include "sluice/version.hpp"

namespace sluice::app {

namespace {

// How long a server that left the DNS answers keeps its health state (and counts).
constexpr auto kDepartedKept = std::chrono::minutes(10);

// How long a start or reload waits for the first DNS answers of new names.
constexpr auto kFirstAnswerLimit = std::chrono::seconds(5);

// Files larger than this are not configurations (and would be read whole).
constexpr std::uintmax_t kMaxConfigBytes = 4u << 20;

// A reload keeps the listener on an address it already has: binding a second socket to it
// (SO_REUSEPORT lets it) and closing the first would reset the connections waiting in the old
// one's accept queue.
std::string listener_identity(const ListenerSpec& spec) { return endpoint_text(spec.listen); }

// What a kept listener cannot change without a restart (its certificate files are re-read).
std::string listener_shape(const ListenerSpec& spec) {
  std::string shape = "max_connections=" + std::to_string(spec.max_connections);
  for (const TlsPairSpec& pair : spec.tls)
    shape += ' ' + pair.cert + ' ' + pair.key;
  return shape;
}

// The listener-wide settings a kept listener cannot change without a restart.
bool same_listener_settings(const Settings& a, const Settings& b) {
  return a.header_timeout == b.header_timeout && a.idle_timeout == b.idle_timeout &&
         a.write_timeout == b.write_timeout && a.max_body_bytes == b.max_body_bytes &&
         a.max_header_bytes == b.max_header_bytes && a.max_uri_bytes == b.max_uri_bytes &&
         a.max_header_count == b.max_header_count && a.threads == b.threads &&
         a.access_log == b.access_log &&
         a.h2_max_concurrent_streams == b.h2_max_concurrent_streams &&
         a.h2_stream_window == b.h2_stream_window &&
         a.h2_connection_window == b.h2_connection_window;
}

}  // namespace

std::variant<std::string, std::string> read_config_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    return std::variant<std::string, std::string>(
        std::in_place_index<1>, "cannot read " + file.string() + ": " + ec.message());
  }
  if (size > kMaxConfigBytes) {
    return std::variant<std::string, std::string>(
        std::in_place_index<1>, file.string() + ": larger than 4 MiB, not a configuration file");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                  "cannot read " + file.string());
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, text.str());
}

FleetService::FleetService(std::filesystem::path file)
    : file_(std::move(file)), base_(file_.parent_path()) {}

FleetService::~FleetService() { stop(std::chrono::nanoseconds{0}); }

FleetConfig FleetService::load_checked(std::vector<std::string>& lines) {
  auto text = read_config_file(file_);
  if (text.index() == 1) {
    lines.push_back(std::get<1>(text));
    throw FleetStartError(lines);
  }
  auto checked = check_fleet_config(std::get<0>(text), base_);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&checked)) {
    for (const ConfigError& e : *errors)
      lines.push_back(format_config_error(file_.string(), e));
    throw FleetStartError(lines);
  }
  return std::move(std::get<FleetConfig>(checked));
}

void FleetService::start() {
  std::vector<std::string> lines;
  FleetConfig config = load_checked(lines);
  if (config.admin_listen) {
    metrics_ = std::make_shared<Metrics>(
        fleet_metrics_layout(config, config.settings.threads.value_or(1)));
  }
  std::string servers;
  for (const auto& ep : config.resolver_servers) {
    if (!servers.empty()) servers += ',';
    servers += endpoint_text(ep);
  }
  dns_ = std::make_unique<DnsResolver>(
      servers, [this](const DnsName&, const Addresses&) { on_dns_change(); });
  for (const std::string& name : watch_dns(config)) {
    say_later_.push_back("sluice: dns: " + name +
                         " has no address yet; its servers join when it resolves");
  }
  FleetGeneration generation =
      build_fleet_generation(config, registry_, metrics_, base_, dns_lookup());
  router_ = std::make_unique<Router>(generation.routes);
  std::vector<Listener> started;
  for (const ListenerSpec& spec : config.listeners)
    started.push_back(start_listener(config, spec));
  const auto admin_listen = config.admin_listen;
  {
    std::lock_guard lock(mutex_);
    listeners_ = std::move(started);
    generation_ = generation;
    config_ = std::move(config);
  }
  if (metrics_) {
    add_collectors();
    admin_.emplace(*admin_listen, metrics_);
    admin_->start();
  }
  on_dns_change();  // members from the latest answers (see reload), and the health checks
}

std::vector<DnsName> FleetService::dns_names(const FleetConfig& config) {
  std::vector<DnsName> names;
  for (const UpstreamSpec& u : config.upstreams) {
    for (const ServerSpec& s : u.servers) {
      if (!s.dns_host.empty()) names.push_back(DnsName{s.dns_host, s.dns_port, s.resolve_every});
    }
  }
  return names;
}

std::vector<std::string> FleetService::take_start_notes() { return std::exchange(say_later_, {}); }

std::vector<std::string> FleetService::watch_dns(const FleetConfig& config,
                                                 const FleetConfig* also) {
  std::vector<DnsName> names = dns_names(config);
  const std::size_t own = names.size();
  if (also) {  // while a reload is built, the serving names stay watched
    const auto serving = dns_names(*also);
    names.insert(names.end(), serving.begin(), serving.end());
  }
  dns_->watch(names);
  names.resize(own);
  // A bounded wait, on the main thread: a start or reload should come up with the addresses
  // DNS can give, but never hang on a resolver that does not answer.
  dns_->wait_first_answers(kFirstAnswerLimit);
  std::vector<std::string> missing;
  for (const DnsName& n : names) {
    if (dns_->addresses(n.host, n.port).empty())
      missing.push_back(n.host + ":" + std::to_string(n.port));
  }
  return missing;
}

DnsLookup FleetService::dns_lookup() const {
  return [resolver = dns_.get()](const std::string& host, std::uint16_t port) {
    return resolver->addresses(host, port);
  };
}

void FleetService::on_dns_change() {
  // health_mutex_ first and for the whole update (the order is health_mutex_, then mutex_):
  // two updates at once (the resolver's, a reload's) install their checks in the order they
  // read the state, so the last installed is the newest.
  std::lock_guard health_lock(health_mutex_);
  std::vector<HealthTarget> targets;
  {
    std::lock_guard lock(mutex_);
    if (!config_) return;  // the first answers, before the first generation exists
    const auto now = std::chrono::steady_clock::now();
    for (FleetPool& pool : generation_.pools) {
      if (pool.uses_dns) {
        const auto before = pool.transport->members();
        auto next = pool.members(dns_lookup());
        // An address that left an answer keeps its health for a while: if it comes back (DNS
        // servers that rotate subsets do that), a server its checks took down stays down.
        for (const PoolMember& m : *before) {
          const bool stays = std::any_of(next.begin(), next.end(),
                                         [&](const PoolMember& n) { return n.server == m.server; });
          if (!stays) departed_.emplace_back(now, m.server);
        }
        for (const PoolMember& n : next) {
          const bool joins = std::none_of(before->begin(), before->end(), [&](const PoolMember& m) {
            return m.server == n.server;
          });
          if (joins) n.server->begin_slow_start();
        }
        pool.transport->set_members(std::move(next));
      }
      pool.configure_servers(*pool.transport->members());
    }
    while (!departed_.empty() && now - departed_.front().first > kDepartedKept) {
      departed_.pop_front();
    }
    targets = health_targets(*config_, generation_);
  }
  // The same servers with the same checks: the running checks go on (a restart would check
  // every server at once, again).
  std::vector<std::string> keys;
  for (const HealthTarget& t : targets) {
    keys.push_back(t.server->key() + ' ' + t.url.raw_path + ' ' +
                   std::to_string(t.interval.count()) + ' ' + std::to_string(t.timeout.count()));
  }
  std::sort(keys.begin(), keys.end());
  if (health_ && keys == health_keys_) return;
  health_.reset();  // joins its thread; the servers keep their state
  health_keys_ = std::move(keys);
  if (!stopped_) health_ = std::make_unique<HealthChecker>(std::move(targets));
}

FleetService::Listener FleetService::start_listener(const FleetConfig& config,
                                                    const ListenerSpec& spec) {
  ServerOptions options = fleet_listener_options(config, spec, base_);
  options.metrics = metrics_;
  Listener l;
  l.identity = listener_identity(spec);
  l.shape = listener_shape(spec);
  l.tls = options.tls;
  l.server = std::make_shared<Server>(
      std::move(options), [router = router_.get()](Exchange& ex) { return router->serve(ex); });
  l.server->start();
  l.url = listen_url(l.server->local_endpoint(), l.tls != nullptr);
  return l;
}

std::vector<HealthTarget> FleetService::health_targets(const FleetConfig& config,
                                                       const FleetGeneration& generation) {
  std::vector<HealthTarget> targets;
  std::set<std::string> seen;
  for (const FleetPool& pool : generation.pools) {
    const auto upstream = std::find_if(
        config.upstreams.begin(), config.upstreams.end(),
        [&](const UpstreamSpec& u) { return u.name == pool.transport->balancing().upstream; });
    if (upstream == config.upstreams.end() || !upstream->health_check) continue;
    // The pool's servers now: url: ones and the addresses DNS found.
    for (const PoolMember& m : *pool.transport->members()) {
      if (!seen.insert(m.server->key()).second) continue;
      HealthTarget t;
      t.server = m.server;
      t.url = m.url;
      t.url.raw_path = upstream->health_check->path;
      t.url.raw_query.clear();
      t.interval = upstream->health_check->interval;
      t.timeout = upstream->health_check->timeout;
      t.tls = m.transport->options().tls;
      t.http2 = upstream->protocol == UpstreamProtocol::h2;
      targets.push_back(std::move(t));
    }
  }
  return targets;
}

std::vector<std::string> FleetService::reload() {
  std::vector<std::string> lines;
  const auto failed = [&](const std::string& why) {
    if (metrics_) metrics_->count_config_reload(false);
    lines.push_back("sluice: SIGHUP: " + why + "; the old configuration keeps serving");
    return lines;
  };
  FleetConfig config;
  try {
    config = load_checked(lines);
  } catch (const FleetStartError&) {
    return failed(std::to_string(lines.size()) + " error(s) in " + file_.string());
  }
  FleetConfig serving;
  {
    std::lock_guard lock(mutex_);
    serving = *config_;
  }
  for (const std::string& name : watch_dns(config, &serving)) {
    lines.push_back("sluice: SIGHUP: dns: " + name +
                    " has no address yet; its servers join when it resolves");
  }
  FleetGeneration generation;
  try {
    generation = build_fleet_generation(config, registry_, metrics_, base_, dns_lookup());
  } catch (const FleetBuildError& e) {
    for (const ConfigError& error : e.errors()) {
      lines.push_back(format_config_error(file_.string(), error));
    }
    dns_->watch(dns_names(serving));
    return failed("the configuration could not be built");
  }

  // Listeners: bind the new ones first, so a bind failure changes nothing.
  std::vector<Listener> kept;
  std::vector<Listener> added;
  std::vector<Listener> old;
  {
    std::lock_guard lock(mutex_);
    old = listeners_;
  }
  for (const ListenerSpec& spec : config.listeners) {
    const std::string id = listener_identity(spec);
    const auto it =
        std::find_if(old.begin(), old.end(), [&](const Listener& l) { return l.identity == id; });
    if (it != old.end()) {
      if (it->shape != listener_shape(spec)) {
        lines.push_back("sluice: SIGHUP: " + it->url +
                        ": changed tls files or max_connections take effect at the next start");
      }
      kept.push_back(*it);
      old.erase(it);
      continue;
    }
    try {
      added.push_back(start_listener(config, spec));
    } catch (const std::exception& e) {
      for (Listener& l : added)
        l.server->stop(std::chrono::nanoseconds{0});
      dns_->watch(dns_names(serving));
      return failed(e.what());
    }
  }

  // Servers the new file adds start slowly (UpstreamServer::warmth); those that stay do not.
  std::set<const UpstreamServer*> serving_servers;
  {
    std::lock_guard lock(mutex_);
    for (const FleetPool& pool : generation_.pools) {
      for (const PoolMember& m : *pool.transport->members())
        serving_servers.insert(m.server.get());
    }
  }
  for (const FleetPool& pool : generation.pools) {
    for (const PoolMember& m : *pool.transport->members()) {
      if (!serving_servers.contains(m.server.get())) m.server->begin_slow_start();
    }
  }
  router_->publish(generation.routes);  // new requests take the new routes from here on
  std::vector<Listener> now_serving = kept;
  now_serving.insert(now_serving.end(), added.begin(), added.end());
  {
    std::lock_guard lock(mutex_);
    listeners_ = now_serving;
    generation_ = generation;
    config_ = config;
  }
  dns_->watch(dns_names(config));  // the names only the old file had are forgotten now
  // DNS answers that changed while the generation was built went to the old one: refresh the
  // new one's members from the latest answers, and check the servers it has.
  on_dns_change();

  for (const Listener& l : kept) {
    if (!l.tls) continue;
    if (auto why = l.tls->reload()) {
      lines.push_back("sluice: SIGHUP: " + l.url + ": certificates not reloaded, the old ones " +
                      "keep serving: " + *why);
    }
  }
  for (const Listener& l : added)
    lines.push_back("sluice: SIGHUP: now listening on " + l.url);
  if (!same_listener_settings(config.settings, serving.settings) && !kept.empty()) {
    lines.push_back(
        "sluice: SIGHUP: changed listener-wide settings (timeouts, limits, threads, "
        "access_log) apply to listeners started from now on; restart to apply them to the "
        "others");
  }
  if (config.admin_listen != serving.admin_listen) {
    lines.push_back("sluice: SIGHUP: admin.listen changed: it takes effect at the next start");
  }
  if (config.resolver_servers != serving.resolver_servers) {
    lines.push_back("sluice: SIGHUP: resolver.servers changed: it takes effect at the next start");
  }
  if (metrics_) {
    for (std::size_t i = 0; i < generation.routes->size(); ++i) {
      if (generation.routes->proxy(i).metrics_route == kNoRoute) {
        lines.push_back("sluice: SIGHUP: route " + generation.routes->proxy(i).route_name +
                        " is new: its requests are served but not in the per-route metrics "
                        "until the next start");
      }
    }
    metrics_->count_config_reload(true);
  }
  lines.push_back("sluice: SIGHUP: configuration reloaded from " + file_.string() + " (" +
                  std::to_string(config.routes.size()) + " routes, " +
                  std::to_string(config.upstreams.size()) + " upstreams)");
  // Listeners the file dropped: no new connections from now on; their in-flight responses get
  // the grace, as at a stop. The others' connections are not touched.
  for (Listener& l : old) {
    l.server->stop(std::chrono::seconds(5));
    lines.push_back("sluice: SIGHUP: stopped listening on " + l.url);
  }
  return lines;
}

std::string FleetService::listening() const {
  std::lock_guard lock(mutex_);
  std::string text;
  for (const Listener& l : listeners_)
    text += (text.empty() ? "" : ", ") + l.url;
  return text;
}

std::optional<std::string> FleetService::admin_url() const {
  if (!admin_) return std::nullopt;
  return listen_url(admin_->local_endpoint());
}

void FleetService::begin_stop() {
  if (admin_) admin_->begin_stop();
}

void FleetService::stop(std::chrono::nanoseconds grace) {
  if (dns_) dns_->stop();  // first: its updates touch what follows (the object stays)
  {
    std::lock_guard lock(health_mutex_);
    stopped_ = true;
    health_.reset();
  }
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(mutex_);
    listeners = listeners_;
  }
  for (Listener& l : listeners)
    l.server->stop(grace);
  if (admin_) admin_->stop();
}

void FleetService::add_collectors() {
  metrics_->add_collector([this](std::string& out) {
    std::vector<ListenerView> views;
    std::lock_guard lock(mutex_);
    for (const Listener& l : listeners_)
      views.push_back({l.url, l.server.get()});
    append_listener_families(out, views);
  });
  metrics_->add_collector([this](std::string& out) {
    std::lock_guard lock(mutex_);
    // By upstream: the pools of the serving generation (routes with equal options share one).
    std::map<std::string, TransportCounts> connections;
    std::map<std::string, const PoolCounters*> counters;
    std::map<std::string, std::map<std::string, bool>> up;
    const auto now = std::chrono::steady_clock::now();
    for (const FleetPool& pool : generation_.pools) {
      const BalancingTransport& t = *pool.transport;
      const std::string& name = t.balancing().upstream;
      const TransportCounts c = t.counts();
      connections[name].busy += c.busy;
      connections[name].idle += c.idle;
      counters[name] = &t.pool_counters();
      for (const PoolMember& m : *t.members())
        up[name][m.server->key()] = m.server->healthy(now);
    }
    append_metric_header(out, "sluice_upstream_connections", "gauge",
                         "Upstream connections: busy (serving a request) or idle (pooled).");
    for (const auto& [name, c] : connections) {
      const std::string u = "upstream=\"" + escape_label_value(name) + "\"";
      append_sample(out, "sluice_upstream_connections", u + ",state=\"busy\"",
                    static_cast<double>(c.busy));
      append_sample(out, "sluice_upstream_connections", u + ",state=\"idle\"",
                    static_cast<double>(c.idle));
    }
    append_metric_header(out, "sluice_upstream_server_up", "gauge",
                         "1 when health lets the server take new requests (active checks up, "
                         "not passively ejected), else 0.");
    for (const auto& [name, servers] : up) {
      for (const auto& [server, is_up] : servers) {
        append_sample(out, "sluice_upstream_server_up",
                      "upstream=\"" + escape_label_value(name) + "\",server=\"" +
                          escape_label_value(server) + "\"",
                      is_up ? 1 : 0);
      }
    }
    append_metric_header(out, "sluice_upstream_retries_total", "counter",
                         "Requests sent again to another server after a failure, by upstream "
                         "and result (refused: the retry budget said no).");
    for (const auto& [name, c] : counters) {
      const std::string u = "upstream=\"" + escape_label_value(name) + "\"";
      append_sample(out, "sluice_upstream_retries_total", u + ",result=\"sent\"",
                    static_cast<double>(c->retries.load()));
      append_sample(out, "sluice_upstream_retries_total", u + ",result=\"refused\"",
                    static_cast<double>(c->retries_refused.load()));
    }
    append_metric_header(out, "sluice_upstream_unavailable_total", "counter",
                         "Requests answered 502 at once because no server of the upstream was "
                         "available (all down, ejected or at max_requests).");
    for (const auto& [name, c] : counters) {
      append_sample(out, "sluice_upstream_unavailable_total",
                    "upstream=\"" + escape_label_value(name) + "\"",
                    static_cast<double>(c->unavailable.load()));
    }
  });
  metrics_->add_collector([](std::string& out) {
    append_metric_header(out, "sluice_build_info", "gauge", "The running sluice's version.");
    append_sample(out, "sluice_build_info", "version=\"" SLUICE_VERSION "\"", 1);
  });
}

}  // namespace sluice::app
