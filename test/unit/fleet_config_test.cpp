// The fleet configuration file's loader (app/fleet_config.*): the issue's example loads with
// every value where it belongs, and each kind of mistake is an error at its line and column with
// a message that names the problem. The invalid files are a table: each row is a whole file,
// the line of the expected error, the text at its column, and a piece of the message.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fleet_config.hpp"

namespace sluice::app {
namespace {

using namespace std::chrono_literals;

const FleetConfig* loaded(const std::variant<FleetConfig, std::vector<ConfigError>>& result) {
  return std::get_if<FleetConfig>(&result);
}

std::string describe(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors)
    out += format_config_error("f.yaml", e) + "\n";
  return out;
}

TEST(FleetConfig, TheIssuesExampleLoads) {
  const auto result = load_fleet_config(R"(
listeners:
  - listen: 127.0.0.1:8080
  - listen: 127.0.0.1:8443
    max_connections: 10000
    tls:
      - {cert: a.pem, key: a.key}
      - {cert: b.pem, key: b.key}
admin:
  listen: 127.0.0.1:9901
settings:
  connect_timeout: 5s
  upstream_idle_timeout: 60s
  flush_interval: 0
  threads: 2
  access_log: json
upstreams:
  api:
    servers:
      - url: http://127.0.0.1:9001
        weight: 2
      - url: http://127.0.0.1:9002
      - dns: api.internal:9000
        resolve_every: 5s
    balance: least_conn
    health_check:
      path: /healthz
      interval: 1s
      timeout: 500ms
      healthy_after: 2
      unhealthy_after: 3
    passive:
      max_fails: 3
      fail_timeout: 10s
    retries: 1
    max_requests: 500
    protocol: auto
  web:
    servers:
      - url: https://10.0.0.5
    balance: hash
    hash_key: header:X-User
    tls: {ca: ca.pem, server_name: web.internal, insecure: false}
routes:
  - name: api
    host: API.example.com
    path_prefix: /v1/
    strip_prefix: true
    upstream: api
    flush_interval: 100ms
  - host: "*.example.com"
    upstream: web
    flush_interval: -1
)");
  const FleetConfig* c = loaded(result);
  ASSERT_NE(c, nullptr) << describe(std::get<std::vector<ConfigError>>(result));

  ASSERT_EQ(c->listeners.size(), 2u);
  EXPECT_EQ(c->listeners[0].listen.port(), 8080);
  EXPECT_TRUE(c->listeners[0].tls.empty());
  EXPECT_EQ(c->listeners[1].max_connections, 10000u);
  ASSERT_EQ(c->listeners[1].tls.size(), 2u);
  EXPECT_EQ(c->listeners[1].tls[1].cert, "b.pem");
  EXPECT_EQ(c->listeners[1].tls[1].key, "b.key");
  ASSERT_TRUE(c->admin_listen);
  EXPECT_EQ(c->admin_listen->port(), 9901);

  EXPECT_EQ(c->settings.connect_timeout, 5s);
  EXPECT_EQ(c->settings.upstream_idle_timeout, 60s);
  EXPECT_EQ(c->settings.flush_interval, 0ns);
  EXPECT_EQ(c->settings.threads, 2u);
  EXPECT_EQ(c->settings.access_log, AccessLog::json);
  EXPECT_FALSE(c->settings.header_timeout);  // unset: the command line's default

  ASSERT_EQ(c->upstreams.size(), 2u);
  const UpstreamSpec& api = c->upstreams[0];
  EXPECT_EQ(api.name, "api");
  ASSERT_EQ(api.servers.size(), 3u);
  EXPECT_EQ(api.servers[0].url->authority(), "127.0.0.1:9001");
  EXPECT_EQ(api.servers[0].weight, 2u);
  EXPECT_EQ(api.servers[1].weight, 1u);
  EXPECT_FALSE(api.servers[2].url);
  EXPECT_EQ(api.servers[2].dns_host, "api.internal");
  EXPECT_EQ(api.servers[2].dns_port, 9000);
  EXPECT_EQ(api.servers[2].resolve_every, 5s);
  EXPECT_EQ(api.balance, Balance::least_conn);
  ASSERT_TRUE(api.health_check);
  EXPECT_EQ(api.health_check->timeout, 500ms);
  EXPECT_EQ(api.health_check->unhealthy_after, 3u);
  ASSERT_TRUE(api.passive);
  EXPECT_EQ(api.passive->fail_timeout, 10s);
  EXPECT_EQ(api.retries, 1u);
  EXPECT_EQ(api.max_requests, 500u);
  const UpstreamSpec& web = c->upstreams[1];
  EXPECT_EQ(web.balance, Balance::hash);
  ASSERT_TRUE(web.hash_key);
  EXPECT_EQ(web.hash_key->kind, HashKeySpec::Kind::header);
  EXPECT_EQ(web.hash_key->name, "X-User");
  ASSERT_TRUE(web.tls);
  EXPECT_EQ(web.tls->server_name, "web.internal");

  ASSERT_EQ(c->routes.size(), 2u);
  EXPECT_EQ(c->routes[0].name, "api");
  EXPECT_EQ(c->routes[0].host, "api.example.com");  // host names compare without case
  EXPECT_EQ(c->routes[0].path_prefix, "/v1/");
  EXPECT_TRUE(c->routes[0].strip_prefix);
  EXPECT_EQ(c->routes[0].settings.flush_interval, 100ms);
  EXPECT_EQ(c->routes[1].name, "1");  // default: the index
  EXPECT_EQ(c->routes[1].host, "*.example.com");
  EXPECT_EQ(c->routes[1].settings.flush_interval, -1ns);
}

// A valid file to mutate: line numbers of the rows below count from its first line.
constexpr std::string_view kBase =
    "listeners:\n"                          // 1
    "  - listen: 127.0.0.1:8080\n"          // 2
    "upstreams:\n"                          // 3
    "  api:\n"                              // 4
    "    servers:\n"                        // 5
    "      - url: http://127.0.0.1:9001\n"  // 6
    "routes:\n"                             // 7
    "  - upstream: api\n";                  // 8

TEST(FleetConfig, TheBaseFileLoads) {
  const auto result = load_fleet_config(kBase);
  ASSERT_NE(loaded(result), nullptr) << describe(std::get<std::vector<ConfigError>>(result));
}

struct Invalid {
  const char* what;
  std::string file;
  int line;             // of the expected error
  const char* at;       // its column: where this text starts on that line ("" = column 1)
  const char* message;  // a piece of the message
  std::size_t count;    // errors in all
};

std::string with(std::string_view from, std::string_view to) {
  std::string s(kBase);
  const auto at = s.find(from);
  if (at == std::string::npos) return "<test bug: no " + std::string(from) + ">";
  return s.replace(at, from.size(), to);
}

std::string plus(std::string_view tail) { return std::string(kBase) + std::string(tail); }

TEST(FleetConfig, StreamingFeaturesInSettingsAndRoutes) {
  const std::string file = with("routes:\n",
                                "settings:\n"
                                "  compress: [zstd, br, gzip]\n"
                                "  sse_heartbeat: 15s\n"
                                "  sse_resume: true\n"
                                "  sse_resume_attempts: 5\n"
                                "routes:\n") +
                           "  - upstream: api\n"
                           "    path_prefix: /plain\n"
                           "    compress: []\n"
                           "    sse_heartbeat: 0\n"
                           "    sse_resume: false\n";
  const auto result = load_fleet_config(file);
  const FleetConfig* c = loaded(result);
  ASSERT_NE(c, nullptr) << describe(std::get<std::vector<ConfigError>>(result));
  EXPECT_EQ(c->settings.compress,
            (std::vector{ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}));
  EXPECT_EQ(c->settings.sse_heartbeat, 15s);
  EXPECT_EQ(c->settings.sse_resume, true);
  EXPECT_EQ(c->settings.sse_resume_attempts, 5u);
  ASSERT_EQ(c->routes.size(), 2u);
  EXPECT_FALSE(c->routes[0].settings.compress);  // the settings' apply
  EXPECT_EQ(c->routes[1].settings.compress, std::vector<ContentCoding>{});
  EXPECT_EQ(c->routes[1].settings.sse_heartbeat, 0ns);
  EXPECT_EQ(c->routes[1].settings.sse_resume, false);
}

const std::vector<Invalid>& invalid_files() {
  static const std::vector<Invalid> rows = {
      {"a misspelled top-level key", plus("upstreams_extra: 1\n"), 9, "upstreams_extra",
       "unknown key \"upstreams_extra\"", 1},
      {"a typo with a suggestion",
       with("  - upstream: api\n", "  - upstream: api\n    flush_intervl: 1s\n"), 9,
       "flush_intervl", "did you mean \"flush_interval\"?", 1},
      {"a typo that hides a required key", with("  - upstream: api\n", "  - upsteam: api\n"), 8,
       "upsteam", "unknown key \"upsteam\" (did you mean \"upstream\"?)", 2},
      {"a duplicate key", with("  - upstream: api\n", "  - upstream: api\n    upstream: api\n"), 9,
       "upstream", "duplicate key \"upstream\" (first at line 8)", 1},
      {"a duplicate upstream name",
       plus("").replace(std::string(kBase).find("routes:"), 0,
                        "  api:\n    servers: [{url: http://127.0.0.1:9002}]\n"),
       7, "api", "duplicate key \"api\" (first at line 4)", 1},
      {"a route to an undefined upstream", with("upstream: api\n", "upstream: apx\n"), 8,
       "upstream", "upstream \"apx\" is not defined (upstreams: api)", 1},
      {"a duration without a unit", plus("settings:\n  connect_timeout: 5\n"), 10, "5",
       "connect_timeout: \"5\" has no unit", 1},
      {"a duration that is not one", plus("settings:\n  connect_timeout: 5 parsecs\n"), 10, "5 ",
       "is not a duration", 1},
      {"a zero timeout", plus("settings:\n  idle_timeout: 0\n"), 10, "0", "must be positive", 1},
      {"a negative flush interval other than -1", plus("settings:\n  flush_interval: -5s\n"), 10,
       "-5s", "is not a flush interval", 1},
      {"a bad URL", with("http://127.0.0.1:9001", "htp://127.0.0.1:9001"), 6, "htp",
       "is not an http or https URL", 1},
      {"a server URL with a path", with("http://127.0.0.1:9001", "http://127.0.0.1:9001/base"), 6,
       "http", "has a path or query", 1},
      {"the same listen address twice",
       with("  - listen: 127.0.0.1:8080\n",
            "  - listen: 127.0.0.1:8080\n  - listen: 127.0.0.1:8080\n"),
       3, "listen", "127.0.0.1:8080 is already used at line 2", 1},
      {"the admin on a listener's address", plus("admin:\n  listen: 127.0.0.1:8080\n"), 10, "127",
       "is already used at line 2", 1},
      {"yes for a boolean",
       with("  - upstream: api\n",
            "  - upstream: api\n    path_prefix: /a\n    strip_prefix: yes\n"),
       10, "yes", "\"yes\" is not a boolean (use true or false)", 1},
      {"a quoted boolean",
       with("  - upstream: api\n",
            "  - upstream: api\n    path_prefix: /a\n    strip_prefix: \"true\"\n"),
       10, "\"true\"", "is not a boolean", 1},
      {"a listen address that is a name", with("127.0.0.1:8080", "localhost:8080"), 2, "localhost",
       "is not an address", 1},
      {"no listeners", std::string(kBase).substr(std::string(kBase).find("upstreams:")), 1, "",
       "listeners is required", 1},
      {"an empty file", "", 1, "", "the configuration is empty", 1},
      {"a YAML syntax error", "listeners: [\n", 2, "", "YAML: ", 1},
      {"two documents", plus("---\nlisteners: []\n"), 9, "---", "only one YAML document", 1},
      // yaml-cpp 0.7 reads this as an empty document, again and again: YAML::LoadAll never ends.
      {"a NUL byte (yaml-cpp would decode the file as UTF-16)", plus(std::string("\0x\n", 3)), 9,
       "", "NUL byte", 1},
      {"a stray comma", ",listeners:\n  - listen: 127.0.0.1:8080\n", 1, ",",
       "nothing here could be read", 2},
      {"a mapping where a list belongs",
       with("  - listen: 127.0.0.1:8080\n", "  listen: 127.0.0.1:8080\n"), 2, "listen",
       "listeners must be a list", 1},
      {"an empty server list", with("      - url: http://127.0.0.1:9001\n", "      []\n"), 6, "[]",
       "servers: the list is empty", 1},
      {"a server with url and dns",
       with("      - url: http://127.0.0.1:9001\n",
            "      - url: http://127.0.0.1:9001\n        dns: a.internal:80\n"),
       6, "url", "exactly one of url and dns", 1},
      {"a dns server without a port", with("- url: http://127.0.0.1:9001", "- dns: api.internal"),
       6, "api.internal", "is not NAME:PORT", 1},
      {"resolve_every on a url server",
       with("      - url: http://127.0.0.1:9001\n",
            "      - url: http://127.0.0.1:9001\n        resolve_every: 5s\n"),
       7, "resolve_every", "resolve_every is for dns: servers only", 1},
      {"an unknown balancer", with("    servers:\n", "    balance: fastest\n    servers:\n"), 5,
       "fastest", "is not one of round_robin, least_conn, random_two, hash", 1},
      {"hash without a key", with("    servers:\n", "    balance: hash\n    servers:\n"), 5, "hash",
       "balance: hash needs hash_key", 1},
      {"a hash key without hash", with("    servers:\n", "    hash_key: client_ip\n    servers:\n"),
       5, "hash_key", "hash_key is used only with balance: hash", 1},
      {"a malformed hash key",
       with("    servers:\n", "    balance: hash\n    hash_key: \"header:\"\n    servers:\n"), 6,
       "\"header:\"", "is not header:NAME, cookie:NAME or client_ip", 1},
      {"a health check timeout longer than its interval",
       with("    servers:\n", "    health_check: {interval: 1s, timeout: 2s}\n    servers:\n"), 5,
       "2s", "timeout must be shorter than interval", 1},
      {"a negative heartbeat", plus("settings:\n  sse_heartbeat: -1s\n"), 10, "-1s",
       "sse_heartbeat: \"-1s\" is not a duration", 1},
      {"an unknown coding", plus("settings:\n  compress: [gzip, lz4]\n"), 10, "lz4",
       "compress: names no coding: \"lz4\"", 1},
      {"a coding twice", plus("settings:\n  compress: [gzip, br, gzip]\n"), 10, "gzip]",
       "compress: names gzip twice", 1},
      {"compress as a string", plus("settings:\n  compress: gzip\n"), 10, "gzip",
       "compress must be a list", 1},
      {"zero resume attempts", plus("settings:\n  sse_resume_attempts: 0\n"), 10, "0", "", 1},
      {"a weight of 0",
       with("      - url: http://127.0.0.1:9001\n",
            "      - url: http://127.0.0.1:9001\n        weight: 0\n"),
       7, "0", "weight: \"0\" is out of range (1 to 1000)", 1},
      {"a quoted number",
       with("      - url: http://127.0.0.1:9001\n",
            "      - url: http://127.0.0.1:9001\n        weight: \"2\"\n"),
       7, "\"2\"", "is not a whole number", 1},
      {"too many retries", with("    servers:\n", "    retries: 11\n    servers:\n"), 5, "11",
       "out of range (0 to 10)", 1},
      {"the connection's write timeout on a route",
       with("  - upstream: api\n", "  - upstream: api\n    write_timeout: 5s\n"), 9,
       "write_timeout", "applies to the whole client connection: set it under settings", 1},
      {"a resolver server that is a name",
       with("upstreams:\n", "resolver:\n  servers: [dns.internal:53]\nupstreams:\n"), 4,
       "dns.internal:53", "resolver server: \"dns.internal:53\" is not an address", 1},
      {"a resolver without servers", with("upstreams:\n", "resolver: {}\nupstreams:\n"), 3, "{}",
       "servers is required", 1},
      {"a listener-wide setting on a route",
       with("  - upstream: api\n", "  - upstream: api\n    idle_timeout: 5s\n"), 9, "idle_timeout",
       "applies to the whole client connection: set it under settings", 1},
      {"strip_prefix without a prefix",
       with("  - upstream: api\n", "  - upstream: api\n    strip_prefix: true\n"), 9,
       "strip_prefix", "strip_prefix needs a path_prefix", 1},
      {"a path prefix without a slash",
       with("  - upstream: api\n", "  - upstream: api\n    path_prefix: v1\n"), 9, "v1",
       "must start with /", 1},
      {"a bad route host",
       with("  - upstream: api\n", "  - upstream: api\n    host: \"exa mple.com\"\n"), 9, "\"exa",
       "is not a host name or *.domain", 1},
      {"an unknown access log format", plus("settings:\n  access_log: verbose\n"), 10, "verbose",
       "is not one of off, text, json", 1},
      {"upstream tls with only http servers",
       with("    servers:\n", "    tls: {insecure: true}\n    servers:\n"), 5, "tls",
       "every server of this upstream is http://", 1},
      {"two routes with one name",
       with("  - upstream: api\n", "  - {name: a, upstream: api}\n  - {name: a, upstream: api}\n"),
       9, "{name", "route name \"a\" is already used at line 8", 1},
      {"an upstream name with a space", with("  api:\n", "  \"a pi\":\n"), 4, "\"a pi\"",
       "may use only letters, digits", 2},
      {"a tls certificate without its key",
       with("  - listen: 127.0.0.1:8080\n",
            "  - listen: 127.0.0.1:8080\n    tls: [{cert: a.pem}]\n"),
       3, "{cert", "tls certificate: key is required", 1},
      {"threads 0", plus("settings:\n  threads: 0\n"), 10, "0", "out of range (1 to 1024)", 1},
      {"a scalar where a mapping belongs", plus("settings: fast\n"), 9, "fast",
       "settings must be a mapping", 1},
  };
  return rows;
}

// One row: an error at the expected line and column with the expected message, and no other
// errors than the row counts.
testing::AssertionResult reports(const Invalid& row) {
  const auto result = load_fleet_config(row.file);
  const auto* errors = std::get_if<std::vector<ConfigError>>(&result);
  if (errors == nullptr) return testing::AssertionFailure() << "loaded without an error";
  // The expected column: where `at` starts on the expected line.
  std::size_t start = 0;
  for (int l = 1; l < row.line && start != std::string::npos; ++l) {
    start = row.file.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  std::string line_text;
  if (start != std::string::npos && start <= row.file.size()) {
    line_text = row.file.substr(start, row.file.find('\n', start) - start);
  }
  const std::size_t col = std::string_view(row.at).empty() ? 0 : line_text.find(row.at);
  if (col == std::string::npos) {
    return testing::AssertionFailure() << "test bug: \"" << row.at << "\" not on line " << row.line;
  }
  const bool found = std::any_of(errors->begin(), errors->end(), [&](const ConfigError& e) {
    return e.at.line == row.line && e.at.column == static_cast<int>(col) + 1 &&
           e.message.find(row.message) != std::string::npos;
  });
  if (!found || errors->size() != row.count) {
    return testing::AssertionFailure()
           << "expected f.yaml:" << row.line << ":" << col + 1 << ": ..." << row.message << "... ("
           << row.count << " error(s) in all), got:\n"
           << describe(*errors);
  }
  return testing::AssertionSuccess();
}

TEST(FleetConfig, EveryInvalidFileIsAnErrorAtItsPosition) {
  ASSERT_GE(invalid_files().size(), 25u);
  for (const Invalid& row : invalid_files())
    EXPECT_TRUE(reports(row)) << row.what << ":\n" << row.file;
}

TEST(FleetConfig, EveryErrorIsReportedNotOnlyTheFirst) {
  const auto result = load_fleet_config(
      "listeners:\n"
      "  - listen: nowhere\n"
      "settings:\n"
      "  connect_timeout: 5\n"
      "  write_timeout: 5\n"
      "upstreams:\n"
      "  api:\n"
      "    servers: [{url: ftp://x}]\n"
      "routes:\n"
      "  - upstream: none\n");
  const auto* errors = std::get_if<std::vector<ConfigError>>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 5u) << describe(*errors);
  // In file order.
  EXPECT_EQ((*errors)[0].at.line, 2);
  EXPECT_EQ((*errors)[1].at.line, 4);
  EXPECT_EQ((*errors)[2].at.line, 5);
  EXPECT_EQ((*errors)[3].at.line, 8);
  EXPECT_EQ((*errors)[4].at.line, 10);
  EXPECT_EQ(
      format_config_error("fleet.yaml", (*errors)[0]),
      "fleet.yaml:2:13: listen: \"nowhere\" is not an address (use 127.0.0.1:8080 or [::1]:8080)");
}

}  // namespace
}  // namespace sluice::app

namespace sluice::app {
namespace {

TEST(FleetConfig, AServerInTwoPoolsHasOneHealth) {
  const std::string text =
      "listeners:\n"                          // 1
      "  - listen: 127.0.0.1:8080\n"          // 2
      "upstreams:\n"                          // 3
      "  api:\n"                              // 4
      "    servers:\n"                        // 5
      "      - url: http://127.0.0.1:9001\n"  // 6
      "  web:\n"                              // 7
      "    servers:\n"                        // 8
      "      - url: http://127.0.0.1:9001\n"  // 9
      "    health_check: {path: /up}\n"       // 10
      "routes:\n"                             // 11
      "  - upstream: api\n";                  // 12
  const auto result = load_fleet_config(text);
  const auto* errors = std::get_if<std::vector<ConfigError>>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ(errors->front().at.line, 9);
  EXPECT_NE(errors->front().message.find("also in upstream \"api\""), std::string::npos)
      << errors->front().message;
  // The same settings on both: one server, shared.
  std::string same = text;
  same.replace(same.find("    health_check: {path: /up}\n"), 29, "");
  EXPECT_TRUE(std::holds_alternative<FleetConfig>(load_fleet_config(same)));
}

TEST(FleetConfig, AUrlWithAHostNameIsResolvedLikeDns) {
  const auto result = load_fleet_config(
      "listeners: [{listen: 127.0.0.1:8080}]\n"
      "upstreams:\n"
      "  api:\n"
      "    servers:\n"
      "      - url: https://api.internal\n"
      "      - url: http://127.0.0.1:9001\n"
      "      - url: http://[::1]:9002\n"
      "routes: [{upstream: api}]\n");
  const auto* c = std::get_if<FleetConfig>(&result);
  ASSERT_NE(c, nullptr);
  const auto& servers = c->upstreams[0].servers;
  EXPECT_EQ(servers[0].dns_host, "api.internal");
  EXPECT_EQ(servers[0].dns_port, 443) << "the scheme's port";
  EXPECT_EQ(servers[1].dns_host, "") << "an IP literal is one fixed server";
  EXPECT_EQ(servers[2].dns_host, "");
}

}  // namespace
}  // namespace sluice::app
