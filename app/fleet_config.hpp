#pragma once
// The fleet configuration file (`sluice --config FILE`, `sluice check FILE`; YAML): listeners,
// the admin listener, settings, upstream pools and routes, as the loader found them valid.
//
// load_fleet_config() is a pure function of the file's text: it reads no file, resolves no
// name and binds nothing, so the same checks run for `sluice check`, at start-up and on a
// SIGHUP reload (off the worker threads), and a fuzzer can drive it. It is strict: an unknown
// or duplicate key, a value of the wrong kind (`yes` for a boolean, a duration without a
// unit), a route naming an undefined upstream, a listen address used twice: each is an error
// with its line and column, and every error is reported, not only the first.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/content_coding.hpp"
#include "sluice/server.hpp"
#include "sluice/url.hpp"
#include "upstream_protocol.hpp"

namespace sluice::app {

// Where in the file: 1-based line and column (yaml-cpp counts from 0).
struct Position {
  int line = 0;
  int column = 0;
};

struct ConfigError {
  Position at;
  std::string message;
};

// One certificate pair of a TLS listener: the first is the default, the others are chosen by
// SNI from their DNS names (as --tls-cert/--tls-key).
struct TlsPairSpec {
  std::string cert;
  std::string key;
  Position at;
};

struct ListenerSpec {
  boost::asio::ip::tcp::endpoint listen;
  std::vector<TlsPairSpec> tls;       // empty: cleartext
  std::uint32_t max_connections = 0;  // 0: no limit
  Position at;
};

// The settings a route may override: they act after the route is chosen.
struct RouteSettings {
  std::optional<std::chrono::nanoseconds> flush_interval;
  std::optional<std::chrono::nanoseconds> connect_timeout;
  std::optional<std::chrono::nanoseconds> response_header_timeout;
  std::optional<std::chrono::nanoseconds> upstream_idle_timeout;
  std::optional<std::chrono::nanoseconds> tunnel_idle_timeout;
  std::optional<std::uint32_t> max_response_header_bytes;
  // The streaming features (stream_features.hpp); `compress: []` turns a default off.
  std::optional<std::chrono::nanoseconds> sse_heartbeat;
  std::optional<bool> sse_resume;
  std::optional<std::uint32_t> sse_resume_attempts;
  std::optional<std::vector<ContentCoding>> compress;
};

// `settings:`: every command-line timeout and limit, snake_case. Unset: the command line's
// default. The listener-wide ones belong to the client connection: they act before any route
// is known, or on every request of the connection.
struct Settings : RouteSettings {
  std::optional<std::chrono::nanoseconds> header_timeout;
  std::optional<std::chrono::nanoseconds> idle_timeout;
  std::optional<std::chrono::nanoseconds> write_timeout;
  std::optional<std::uint64_t> max_body_bytes;
  std::optional<std::uint32_t> max_header_bytes;
  std::optional<std::uint32_t> max_uri_bytes;
  std::optional<std::uint32_t> max_header_count;
  std::optional<std::uint32_t> max_idle_upstream;
  std::optional<std::uint32_t> h2_max_concurrent_streams;
  std::optional<std::uint32_t> h2_stream_window;
  std::optional<std::uint32_t> h2_connection_window;
  std::optional<unsigned> threads;
  std::optional<AccessLog> access_log;
};

// One server of a pool: a URL, or a DNS name whose every A/AAAA address is a server. A URL
// whose host is a name (not an IP literal) is resolved the same way, never per connection:
// dns_host/dns_port are set for it too, and its scheme is kept.
struct ServerSpec {
  std::optional<Url> url;
  std::string dns_host;  // set for `dns:`, and for a url: with a host name
  std::uint16_t dns_port = 0;
  std::chrono::nanoseconds resolve_every{std::chrono::seconds(5)};
  std::uint32_t weight = 1;
  Position at;
};

enum class Balance { round_robin, least_conn, random_two, hash };

struct HashKeySpec {
  enum class Kind { header, cookie, client_ip };
  Kind kind = Kind::client_ip;
  std::string name;  // the header or cookie name
};

// Active checks: down after unhealthy_after failures, up after healthy_after successes.
struct HealthCheckSpec {
  bool operator==(const HealthCheckSpec&) const = default;
  std::string path = "/healthz";
  std::chrono::nanoseconds interval{std::chrono::seconds(1)};
  std::chrono::nanoseconds timeout{std::chrono::milliseconds(500)};
  std::uint32_t healthy_after = 2;
  std::uint32_t unhealthy_after = 2;
};

// Passive ejection: max_fails failures within fail_timeout take a server out for fail_timeout.
struct PassiveSpec {
  bool operator==(const PassiveSpec&) const = default;
  std::uint32_t max_fails = 3;
  std::chrono::nanoseconds fail_timeout{std::chrono::seconds(10)};
};

struct UpstreamTlsSpec {
  std::string ca;           // PEM bundle trusted besides the system's
  std::string server_name;  // SNI and the name checked; default: the URL's host
  bool insecure = false;    // no verification at all
};

struct UpstreamSpec {
  std::string name;
  std::vector<ServerSpec> servers;
  Balance balance = Balance::round_robin;
  std::optional<HashKeySpec> hash_key;  // set exactly when balance is hash
  std::optional<HealthCheckSpec> health_check;
  std::optional<PassiveSpec> passive;
  std::uint32_t retries = 0;
  std::uint32_t max_requests = 0;  // per server, 0: no limit
  UpstreamProtocol protocol = UpstreamProtocol::automatic;
  std::optional<UpstreamTlsSpec> tls;
  Position at;
};

struct RouteSpec {
  std::string name;         // the metrics' route label; default: its index
  std::string host;         // empty: any; exact, or "*.example.com"
  std::string path_prefix;  // empty: any; segment-aware
  bool strip_prefix = false;
  std::string upstream;
  RouteSettings settings;
  Position at;
};

struct FleetConfig {
  std::vector<ListenerSpec> listeners;
  std::optional<boost::asio::ip::tcp::endpoint> admin_listen;
  Settings settings;
  // `resolver: {servers: [IP:PORT, ...]}`: the DNS servers for `dns:` discovery; empty: the
  // system's (/etc/resolv.conf).
  std::vector<boost::asio::ip::tcp::endpoint> resolver_servers;
  std::vector<UpstreamSpec> upstreams;  // in file order
  std::vector<RouteSpec> routes;        // in file order: the first match wins
};

// Parses and checks a configuration file's text. Errors are sorted by position.
std::variant<FleetConfig, std::vector<ConfigError>> load_fleet_config(std::string_view text);

// "FILE:LINE:COL: message", the format of `sluice check`.
std::string format_config_error(std::string_view file, const ConfigError& error);

}  // namespace sluice::app
