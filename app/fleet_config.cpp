#include "fleet_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <utility>

#include "common/duration.hpp"
#include "config.hpp"
#include "config_yaml.hpp"
#include "http2_settings.hpp"

namespace sluice::app {

namespace {

using std::chrono::nanoseconds;

constexpr std::uint64_t kU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kU64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kMaxThreads = 1024;
constexpr std::uint64_t kMaxWeight = 1000;
constexpr std::uint64_t kMaxRetries = 10;
constexpr std::uint64_t kMaxHealthCount = 100;

// Assigns what a reader returned, leaving `out` alone after an error (already reported).
template <typename T, typename U>
void take(T& out, std::optional<U> value) {
  if (value) out = static_cast<T>(*value);
}

std::optional<std::string> read_nonempty(const Field& f, ConfigErrors& e) {
  auto text = read_string(f, e);
  if (text && text->empty()) {
    e.add(f.value_at(), f.name + " is empty");
    return std::nullopt;
  }
  return text;
}

// `sse_heartbeat`: 0 (off) or a positive duration.
std::optional<std::chrono::nanoseconds> read_off_or_duration(const Field& f, ConfigErrors& e) {
  const auto text = read_string(f, e);
  if (!text) return std::nullopt;
  if (*text == "0") return std::chrono::nanoseconds{0};
  const auto d = parse_duration(*text);
  if (!d || d->count() < 0) {
    e.add(f.value_at(),
          f.name + ": " + quote_value(*text) + " is not a duration (use 0 for off, or e.g. 15s)");
    return std::nullopt;
  }
  return *d;
}

// `compress: [zstd, br, gzip]`: codings in order of preference, each once; [] for none.
std::optional<std::vector<ContentCoding>> read_codings(const Field& f, ConfigErrors& e) {
  if (!is_sequence(f, e)) return std::nullopt;
  std::vector<ContentCoding> codings;
  bool ok = true;
  for (const YAML::Node& item : f.value) {
    const Field element{f.name, item, f.value_at()};
    const auto name = read_string(element, e);
    if (!name) {
      ok = false;
      continue;
    }
    std::string problem;
    const auto coding = parse_coding(*name, problem);
    if (!coding) {
      e.add(element.value_at(), f.name + ": " + problem);
      ok = false;
    } else if (std::find(codings.begin(), codings.end(), *coding) != codings.end()) {
      e.add(element.value_at(), f.name + ": names " + std::string(to_string(*coding)) + " twice");
      ok = false;
    } else {
      codings.push_back(*coding);
    }
  }
  if (!ok) return std::nullopt;
  return codings;
}

// The settings a route may override, read from `m` (the settings: mapping, or a route).
void read_route_settings(MapReader& m, RouteSettings& s, ConfigErrors& e) {
  if (auto f = m.field("flush_interval"); f.present())
    take(s.flush_interval, read_flush_interval(f, e));
  for (auto [key, out] : {std::pair{"connect_timeout", &s.connect_timeout},
                          std::pair{"response_header_timeout", &s.response_header_timeout},
                          std::pair{"upstream_idle_timeout", &s.upstream_idle_timeout},
                          std::pair{"tunnel_idle_timeout", &s.tunnel_idle_timeout}}) {
    if (auto f = m.field(key); f.present()) take(*out, read_timeout(f, e));
  }
  if (auto f = m.field("max_response_header_bytes"); f.present()) {
    take(s.max_response_header_bytes, read_uint(f, 1, kU32, e));
  }
  if (auto f = m.field("sse_heartbeat"); f.present())
    take(s.sse_heartbeat, read_off_or_duration(f, e));
  if (auto f = m.field("sse_resume"); f.present()) take(s.sse_resume, read_bool(f, e));
  if (auto f = m.field("sse_resume_attempts"); f.present())
    take(s.sse_resume_attempts, read_uint(f, 1, kMaxSseResumeAttempts, e));
  if (auto f = m.field("compress"); f.present()) take(s.compress, read_codings(f, e));
}

// Settings of the client connection (they act before a route is chosen, or the connection
// enforces them for every request on it): a route naming one is told where it belongs.
constexpr const char* kListenerWide[] = {"header_timeout",
                                         "idle_timeout",
                                         "write_timeout",
                                         "max_body_bytes",
                                         "max_header_bytes",
                                         "max_uri_bytes",
                                         "max_header_count",
                                         "max_idle_upstream",
                                         "threads",
                                         "access_log",
                                         "h2_max_concurrent_streams",
                                         "h2_stream_window",
                                         "h2_connection_window"};

void read_settings(const Field& field, Settings& s, ConfigErrors& e) {
  MapReader m(field.value, field.key_at, "settings", e);
  read_route_settings(m, s, e);
  if (auto f = m.field("header_timeout"); f.present()) take(s.header_timeout, read_timeout(f, e));
  if (auto f = m.field("idle_timeout"); f.present()) take(s.idle_timeout, read_timeout(f, e));
  if (auto f = m.field("write_timeout"); f.present()) take(s.write_timeout, read_timeout(f, e));
  if (auto f = m.field("max_body_bytes"); f.present())
    take(s.max_body_bytes, read_uint(f, 0, kU64, e));
  for (auto [key, out] : {std::pair{"max_header_bytes", &s.max_header_bytes},
                          std::pair{"max_uri_bytes", &s.max_uri_bytes},
                          std::pair{"max_header_count", &s.max_header_count}}) {
    if (auto f = m.field(key); f.present()) take(*out, read_uint(f, 1, kU32, e));
  }
  if (auto f = m.field("max_idle_upstream"); f.present())
    take(s.max_idle_upstream, read_uint(f, 0, kU32, e));
  if (auto f = m.field("h2_max_concurrent_streams"); f.present())
    take(s.h2_max_concurrent_streams, read_uint(f, 1, 65536, e));
  if (auto f = m.field("h2_stream_window"); f.present())
    take(s.h2_stream_window, read_uint(f, 1024, kMaxH2Window, e));
  if (auto f = m.field("h2_connection_window"); f.present()) {
    take(s.h2_connection_window, read_uint(f, 0, kMaxH2Window, e));
    ServerOptions o;
    if (s.h2_max_concurrent_streams) o.h2_max_concurrent_streams = *s.h2_max_concurrent_streams;
    if (s.h2_stream_window) o.h2_stream_window = *s.h2_stream_window;
    if (s.h2_connection_window) o.h2_connection_window = *s.h2_connection_window;
    if (const auto why = check_h2_windows(o)) e.add(f.value_at(), "h2_connection_window " + *why);
  }
  if (auto f = m.field("threads"); f.present()) take(s.threads, read_uint(f, 1, kMaxThreads, e));
  if (auto f = m.field("access_log"); f.present()) {
    take(
        s.access_log,
        read_choice<AccessLog>(
            f, {{"off", AccessLog::off}, {"text", AccessLog::text}, {"json", AccessLog::json}}, e));
  }
  m.finish();
}

TlsPairSpec read_tls_pair(const YAML::Node& node, Position fallback, ConfigErrors& e) {
  TlsPairSpec pair;
  pair.at = position_of(node, fallback);
  MapReader m(node, pair.at, "tls certificate", e);
  if (auto f = m.required("cert"); f.present()) take(pair.cert, read_nonempty(f, e));
  if (auto f = m.required("key"); f.present()) take(pair.key, read_nonempty(f, e));
  m.finish();
  return pair;
}

ListenerSpec read_listener(const YAML::Node& node, Position fallback, ConfigErrors& e) {
  ListenerSpec l;
  l.at = position_of(node, fallback);
  MapReader m(node, l.at, "listener", e);
  if (auto f = m.required("listen"); f.present()) take(l.listen, read_endpoint(f, e));
  if (auto f = m.field("tls"); f.present() && is_sequence(f, e)) {
    if (f.value.size() == 0)
      e.add(f.value_at(), "tls: the list is empty (leave tls out for cleartext)");
    for (const auto& item : f.value)
      l.tls.push_back(read_tls_pair(item, f.value_at(), e));
  }
  if (auto f = m.field("max_connections"); f.present())
    take(l.max_connections, read_uint(f, 0, kU32, e));
  m.finish();
  return l;
}

// A letter, digit, '-' or '.': what host names (and, with '_', upstream names) are made of.
bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// "127.0.0.1", "[::1]": an address, not a name.
bool is_ip_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

// "api.internal:9000": a name and a port (an IP literal is a url: server, not a dns: one).
bool split_dns(std::string_view text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  host = std::string(text.substr(0, colon));
  const std::string_view digits = text.substr(colon + 1);
  unsigned n = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc{} || ptr != digits.data() + digits.size() || n == 0 ||
      n > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(n);
  return std::all_of(host.begin(), host.end(), name_char);
}

ServerSpec read_server(const YAML::Node& node, Position fallback, ConfigErrors& e) {
  ServerSpec s;
  s.at = position_of(node, fallback);
  MapReader m(node, s.at, "server", e);
  const Field url = m.field("url");
  const Field dns = m.field("dns");
  if (m.ok() && url.present() == dns.present()) {
    e.add(s.at, "server: give exactly one of url and dns");
  }
  if (url.present()) {
    if (auto text = read_nonempty(url, e)) {
      s.url = Url::parse(*text);
      if (!s.url) {
        e.add(url.value_at(), "url: " + quote_value(*text) +
                                  " is not an http or https URL (use http://host[:port])");
      } else if ((!s.url->raw_path.empty() && s.url->raw_path != "/") ||
                 !s.url->raw_query.empty()) {
        // Paths belong to routes (path_prefix, strip_prefix); a pool's servers are peers.
        e.add(url.value_at(), "url: " + quote_value(*text) +
                                  " has a path or query; a server is scheme://host:port");
        s.url.reset();
      } else if (!is_ip_literal(s.url->host)) {
        // A name: resolved in the background like dns:, never per connection.
        s.dns_host = s.url->host;
        s.dns_port = static_cast<std::uint16_t>(std::stoul(s.url->connect_port()));
      }
    }
  }
  if (dns.present()) {
    if (auto text = read_nonempty(dns, e); text && !split_dns(*text, s.dns_host, s.dns_port)) {
      e.add(dns.value_at(),
            "dns: " + quote_value(*text) + " is not NAME:PORT (e.g. api.internal:9000)");
    }
  }
  if (auto f = m.field("resolve_every"); f.present()) {
    if (!dns.present()) e.add(f.key_at, "resolve_every is for dns: servers only");
    take(s.resolve_every, read_timeout(f, e));
  }
  if (auto f = m.field("weight"); f.present()) take(s.weight, read_uint(f, 1, kMaxWeight, e));
  m.finish();
  return s;
}

std::optional<HashKeySpec> read_hash_key(const Field& f, ConfigErrors& e) {
  const auto text = read_nonempty(f, e);
  if (!text) return std::nullopt;
  HashKeySpec key;
  if (*text == "client_ip") {
    key.kind = HashKeySpec::Kind::client_ip;
    return key;
  }
  for (auto [prefix, kind] : {std::pair{std::string_view("header:"), HashKeySpec::Kind::header},
                              std::pair{std::string_view("cookie:"), HashKeySpec::Kind::cookie}}) {
    if (text->starts_with(prefix) && text->size() > prefix.size()) {
      key.kind = kind;
      key.name = text->substr(prefix.size());
      return key;
    }
  }
  e.add(f.value_at(),
        "hash_key: " + quote_value(*text) + " is not header:NAME, cookie:NAME or client_ip");
  return std::nullopt;
}

HealthCheckSpec read_health_check(const Field& field, ConfigErrors& e) {
  HealthCheckSpec h;
  MapReader m(field.value, field.key_at, "health_check", e);
  if (auto f = m.field("path"); f.present()) {
    if (auto text = read_nonempty(f, e)) {
      if (text->front() != '/')
        e.add(f.value_at(), "path: " + quote_value(*text) + " must start with /");
      h.path = *text;
    }
  }
  if (auto f = m.field("interval"); f.present()) take(h.interval, read_timeout(f, e));
  const Field timeout = m.field("timeout");
  if (timeout.present()) take(h.timeout, read_timeout(timeout, e));
  if (auto f = m.field("healthy_after"); f.present())
    take(h.healthy_after, read_uint(f, 1, kMaxHealthCount, e));
  if (auto f = m.field("unhealthy_after"); f.present()) {
    take(h.unhealthy_after, read_uint(f, 1, kMaxHealthCount, e));
  }
  if (h.timeout >= h.interval) {
    e.add(timeout.present() ? timeout.value_at() : position_of(field.value, field.key_at),
          "health_check: timeout must be shorter than interval");
  }
  m.finish();
  return h;
}

PassiveSpec read_passive(const Field& field, ConfigErrors& e) {
  PassiveSpec p;
  MapReader m(field.value, field.key_at, "passive", e);
  if (auto f = m.field("max_fails"); f.present()) take(p.max_fails, read_uint(f, 1, kU32, e));
  if (auto f = m.field("fail_timeout"); f.present()) take(p.fail_timeout, read_timeout(f, e));
  m.finish();
  return p;
}

UpstreamTlsSpec read_upstream_tls(const Field& field, ConfigErrors& e) {
  UpstreamTlsSpec t;
  MapReader m(field.value, field.key_at, "tls", e);
  if (auto f = m.field("ca"); f.present()) take(t.ca, read_nonempty(f, e));
  if (auto f = m.field("server_name"); f.present()) take(t.server_name, read_nonempty(f, e));
  if (auto f = m.field("insecure"); f.present()) take(t.insecure, read_bool(f, e));
  m.finish();
  return t;
}

UpstreamSpec read_upstream(std::string name, Position key_at, const YAML::Node& node,
                           ConfigErrors& e) {
  UpstreamSpec u;
  u.name = std::move(name);
  u.at = key_at;
  MapReader m(node, key_at, "upstream " + quote_value(u.name), e);
  if (auto f = m.required("servers"); f.present() && is_sequence(f, e)) {
    if (f.value.size() == 0) e.add(f.value_at(), "servers: the list is empty");
    for (const auto& item : f.value)
      u.servers.push_back(read_server(item, f.value_at(), e));
  }
  const Field balance = m.field("balance");
  if (balance.present()) {
    take(u.balance, read_choice<Balance>(balance,
                                         {{"round_robin", Balance::round_robin},
                                          {"least_conn", Balance::least_conn},
                                          {"random_two", Balance::random_two},
                                          {"hash", Balance::hash}},
                                         e));
  }
  const Field hash_key = m.field("hash_key");
  if (hash_key.present()) u.hash_key = read_hash_key(hash_key, e);
  if (balance.present() && u.balance == Balance::hash && !hash_key.present()) {
    e.add(balance.value_at(),
          "balance: hash needs hash_key (header:NAME, cookie:NAME or client_ip)");
  }
  if (hash_key.present() && u.balance != Balance::hash) {
    e.add(hash_key.key_at, "hash_key is used only with balance: hash");
  }
  if (auto f = m.field("health_check"); f.present()) u.health_check = read_health_check(f, e);
  if (auto f = m.field("passive"); f.present()) u.passive = read_passive(f, e);
  if (auto f = m.field("retries"); f.present()) take(u.retries, read_uint(f, 0, kMaxRetries, e));
  if (auto f = m.field("max_requests"); f.present()) take(u.max_requests, read_uint(f, 0, kU32, e));
  if (auto f = m.field("protocol"); f.present()) {
    take(u.protocol, read_choice<UpstreamProtocol>(f,
                                                   {{"auto", UpstreamProtocol::automatic},
                                                    {"h1", UpstreamProtocol::h1},
                                                    {"h2", UpstreamProtocol::h2}},
                                                   e));
  }
  if (auto f = m.field("tls"); f.present()) {
    u.tls = read_upstream_tls(f, e);
    const bool plain_only =
        !u.servers.empty() && std::all_of(u.servers.begin(), u.servers.end(), [](const auto& s) {
          return s.url && s.url->scheme == "http";
        });
    if (plain_only) e.add(f.key_at, "tls: every server of this upstream is http://");
  }

  m.finish();
  return u;
}

bool valid_route_host(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  return !host.empty() && host.front() != '.' && host.back() != '.' &&
         std::all_of(host.begin(), host.end(), name_char);
}

RouteSpec read_route(const YAML::Node& node, Position fallback, std::size_t index,
                     ConfigErrors& e) {
  RouteSpec r;
  r.at = position_of(node, fallback);
  r.name = std::to_string(index);
  MapReader m(node, r.at, "route " + std::to_string(index), e);
  if (auto f = m.field("name"); f.present()) take(r.name, read_nonempty(f, e));
  if (auto f = m.field("host"); f.present()) {
    if (auto text = read_nonempty(f, e)) {
      if (!valid_route_host(*text)) {
        e.add(f.value_at(), "host: " + quote_value(*text) + " is not a host name or *.domain");
      }
      r.host = *text;
      std::transform(r.host.begin(), r.host.end(), r.host.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
  }
  const Field prefix = m.field("path_prefix");
  if (prefix.present()) {
    if (auto text = read_nonempty(prefix, e)) {
      if (text->front() != '/')
        e.add(prefix.value_at(), "path_prefix: " + quote_value(*text) + " must start with /");
      r.path_prefix = *text;
    }
  }
  if (auto f = m.field("strip_prefix"); f.present()) {
    take(r.strip_prefix, read_bool(f, e));
    if (r.strip_prefix && !prefix.present()) e.add(f.key_at, "strip_prefix needs a path_prefix");
  }
  if (auto f = m.required("upstream"); f.present()) take(r.upstream, read_nonempty(f, e));
  read_route_settings(m, r.settings, e);
  for (const char* key : kListenerWide) {
    if (auto f = m.field(key); f.present()) {
      e.add(f.key_at,
            std::string(key) + " applies to the whole client connection: set it under settings");
    }
  }
  m.finish();
  return r;
}

// Across sections: every address bound once, every route's upstream defined, route names
// unique (they are the metrics' labels).
void cross_check(const FleetConfig& c, Position admin_at, ConfigErrors& e) {
  std::vector<std::pair<boost::asio::ip::tcp::endpoint, Position>> bound;
  const auto bind = [&](const boost::asio::ip::tcp::endpoint& ep, Position at) {
    if (ep.port() == 0) return;  // the kernel picks a distinct port for each
    const auto same =
        std::find_if(bound.begin(), bound.end(), [&](const auto& b) { return b.first == ep; });
    if (same != bound.end()) {
      e.add(at, "listen: " + endpoint_text(ep) + " is already used at line " +
                    std::to_string(same->second.line));
    } else {
      bound.emplace_back(ep, at);
    }
  };
  for (const auto& l : c.listeners)
    bind(l.listen, l.at);
  if (c.admin_listen) bind(*c.admin_listen, admin_at);

  // A server belongs to every pool that lists it, with one health (state and settings): two
  // pools may share it only with the same health_check, passive and max_requests.
  std::map<std::string, const UpstreamSpec*> owner;
  for (const auto& u : c.upstreams) {
    for (const auto& s : u.servers) {
      if (!s.url) continue;
      const std::string key = s.url->origin();
      const auto [it, first] = owner.emplace(key, &u);
      const UpstreamSpec& other = *it->second;
      if (first || &other == &u) continue;
      if (other.health_check != u.health_check || other.passive != u.passive ||
          other.max_requests != u.max_requests) {
        e.add(s.at, "server " + key + " is also in upstream " + quote_value(other.name) +
                        " with other health_check, passive or max_requests: a server has one "
                        "health, so the two must agree");
      }
    }
  }

  std::vector<const RouteSpec*> seen;
  for (const auto& r : c.routes) {
    const bool defined = std::any_of(c.upstreams.begin(), c.upstreams.end(),
                                     [&](const auto& u) { return u.name == r.upstream; });
    if (!r.upstream.empty() && !defined) {
      std::string names;
      for (const auto& u : c.upstreams)
        names += (names.empty() ? "" : ", ") + u.name;
      e.add(r.at, "route " + quote_value(r.name) + ": upstream " + quote_value(r.upstream) +
                      " is not defined (upstreams: " + (names.empty() ? "none" : names) + ")");
    }
    const auto twin =
        std::find_if(seen.begin(), seen.end(), [&](const auto* s) { return s->name == r.name; });
    if (twin != seen.end()) {
      e.add(r.at, "route name " + quote_value(r.name) + " is already used at line " +
                      std::to_string((*twin)->at.line));
    }
    seen.push_back(&r);
  }
}

void read_document(const YAML::Node& root, FleetConfig& c, ConfigErrors& e) {
  MapReader top(root, {1, 1}, "the configuration", e);
  if (!top.ok()) return;
  if (auto f = top.required("listeners"); f.present() && is_sequence(f, e)) {
    if (f.value.size() == 0) e.add(f.value_at(), "listeners: the list is empty");
    for (const auto& item : f.value)
      c.listeners.push_back(read_listener(item, f.value_at(), e));
  }
  Position admin_at;
  if (auto f = top.field("admin"); f.present()) {
    MapReader admin(f.value, f.key_at, "admin", e);
    if (auto l = admin.required("listen"); l.present()) {
      admin_at = l.value_at();
      c.admin_listen = read_endpoint(l, e);
    }
    admin.finish();
  }
  if (auto f = top.field("settings"); f.present()) read_settings(f, c.settings, e);
  if (auto f = top.field("resolver"); f.present()) {
    MapReader resolver(f.value, f.key_at, "resolver", e);
    if (auto s = resolver.required("servers"); s.present() && is_sequence(s, e)) {
      if (s.value.size() == 0) e.add(s.value_at(), "resolver servers: the list is empty");
      for (const auto& item : s.value) {
        const Field server{"resolver server", item, position_of(item, s.value_at())};
        if (auto ep = read_endpoint(server, e)) c.resolver_servers.push_back(*ep);
      }
    }
    resolver.finish();
  }
  if (auto f = top.required("upstreams"); f.present()) {
    MapReader ups(f.value, f.key_at, "upstreams", e);
    ups.allow_any_key();  // its keys are the upstreams' names
    if (ups.ok()) {
      if (f.value.size() == 0) e.add(f.value_at(), "upstreams: none is defined");
      for (auto it = f.value.begin(); it != f.value.end(); ++it) {
        const YAML::Node key = it->first;  // copies: *it is a temporary
        const YAML::Node value = it->second;
        if (!key.IsScalar()) continue;  // reported by MapReader
        const std::string name = key.Scalar();
        const Position at = position_of(key);
        // Names are metric label values and appear in logs: keep them plain.
        const bool plain_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
          return name_char(ch) || ch == '_';
        });
        if (!plain_name)
          e.add(at, "upstream name " + quote_value(name) + " may use only letters, digits, - _ .");
        const bool repeated = std::any_of(c.upstreams.begin(), c.upstreams.end(),
                                          [&](const auto& u) { return u.name == name; });
        if (repeated) continue;  // the duplicate key is already reported
        c.upstreams.push_back(read_upstream(name, at, value, e));
      }
    }
    ups.finish();
  }
  if (auto f = top.required("routes"); f.present() && is_sequence(f, e)) {
    if (f.value.size() == 0) e.add(f.value_at(), "routes: the list is empty");
    std::size_t index = 0;
    for (const auto& item : f.value)
      c.routes.push_back(read_route(item, f.value_at(), index++, e));
  }
  top.finish();
  cross_check(c, admin_at, e);
}

}  // namespace

std::variant<FleetConfig, std::vector<ConfigError>> load_fleet_config(std::string_view text) {
  ConfigErrors errors;
  FleetConfig config;
  // yaml-cpp takes a NUL byte or a UTF-16/32 byte-order mark as a sign of UTF-16 or UTF-32 and
  // decodes the whole file so: its positions would no longer be lines and columns of the file.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
    const auto line_start = text.rfind('\n', nul);
    const int column =
        static_cast<int>(nul - (line_start == std::string_view::npos ? 0 : line_start + 1)) + 1;
    errors.add({line, column}, "the file has a NUL byte: a configuration is UTF-8 text");
    return errors.take();
  }
  if (text.starts_with("\xFE\xFF") || text.starts_with("\xFF\xFE")) {
    errors.add({1, 1}, "the file is UTF-16 or UTF-32: a configuration is UTF-8 text");
    return errors.take();
  }
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (const auto second = second_document(text)) {
      errors.add(*second, "only one YAML document is allowed (a second starts here)");
    }
    if (root.IsNull()) {
      if (const auto stray = first_content(text)) {
        errors.add(*stray, "YAML: nothing here could be read (a stray character?)");
      } else {
        errors.add({1, 1},
                   "the configuration is empty (listeners, upstreams and routes are required)");
      }
    } else {
      read_document(root, config, errors);
    }
  } catch (const YAML::Exception& ex) {
    const Position at =
        ex.mark.is_null() ? Position{1, 1} : Position{ex.mark.line + 1, ex.mark.column + 1};
    errors.add(at, "YAML: " + ex.msg);
  }
  if (!errors.empty()) return errors.take();
  return config;
}

std::string format_config_error(std::string_view file, const ConfigError& error) {
  return std::string(file) + ":" + std::to_string(error.at.line) + ":" +
         std::to_string(error.at.column) + ": " + error.message;
}

}  // namespace sluice::app
