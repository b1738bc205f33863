// The sluice binary's observability, end to end: the admin listener (--admin-listen: /metrics,
// /healthz, /ready, and nothing of it on the proxy's listener), /ready turning 503 the moment a
// graceful stop begins while an in-flight response still finishes, the flags' errors, a stalled
// stderr reader that must not hold up requests (lines are dropped and counted instead), and the
// JSON access log (--access-log json) as a strict parser reads it.
//
// The process helpers are support/sluice_process.hpp's. The binary is found from this test's own
// path (build/<dir>/test/admin_binary_test -> build/<dir>/app/sluice); app/CMakeLists.txt makes
// building this test build it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/json_check.hpp"
#include "support/sluice_process.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The lines of `text` that a '\n' ended (a line still being written is left out).
std::vector<std::string> complete_lines(std::string_view text) {
  std::vector<std::string> lines;
  for (std::size_t at = 0, end; (end = text.find('\n', at)) != std::string_view::npos;
       at = end + 1) {
    lines.emplace_back(text.substr(at, end - at));
  }
  return lines;
}

// An upstream that answers every request on a connection with 200 "upstream saw <target>".
FakeUpstream::Handler echo_target() {
  return [](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      const std::string body = "upstream saw " + req.target;
      if (!conn.send(response(200, {{"Content-Type", "text/plain"}}, body))) return;
    }
  };
}

struct Ports {
  std::uint16_t proxy = 0;
  std::uint16_t admin = 0;
};

// Starts sluice with `args` and --admin-listen 127.0.0.1:0, and learns the admin port the kernel
// chose from the startup line "sluice: admin on http://127.0.0.1:PORT (/metrics, /healthz,
// /ready)", which follows the "listening on" line.
testing::AssertionResult start_with_admin(std::vector<std::string> args,
                                          std::unique_ptr<Child>& child, Ports& ports,
                                          const SpawnOptions& options = {}) {
  args.insert(args.end(), {"--admin-listen", "127.0.0.1:0"});
  std::string startup;
  if (auto started = start_sluice(args, child, ports.proxy, startup, "http", options); !started) {
    return started;
  }
  const std::string prefix = "sluice: admin on http://127.0.0.1:";
  const auto said = child->wait_stderr([&](std::string_view err) {
    const auto at = err.find(prefix);
    return at != std::string_view::npos && err.find('\n', at) != std::string_view::npos;
  });
  if (!said) return said;
  const std::string& err = child->err();
  const std::size_t at = err.find(prefix) + prefix.size();
  const std::string rest = err.substr(at, err.find('\n', at) - at);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
  const std::string_view tail(end, static_cast<std::size_t>(rest.data() + rest.size() - end));
  if (ec != std::errc{} || port == 0 || port > 65535 || tail != " (/metrics, /healthz, /ready)") {
    return testing::AssertionFailure() << "bad admin startup line: " << prefix << rest;
  }
  ports.admin = static_cast<std::uint16_t>(port);
  if (ports.admin == ports.proxy) {
    return testing::AssertionFailure() << "the admin listener is on the proxy's port " << port;
  }
  return testing::AssertionSuccess();
}

// The value of the sample `series` (its name and labels exactly as exposed, e.g.
// `sluice_active_requests` or `sluice_build_info{version="1.0.0"}`) in `exposition`.
std::optional<double> sample(std::string_view exposition, std::string_view series) {
  for (const std::string& line : complete_lines(exposition)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      char* end = nullptr;
      const std::string value = line.substr(series.size() + 1);
      const double v = std::strtod(value.c_str(), &end);
      if (end != value.c_str() + value.size()) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

// True if some sample line of `exposition` is of the metric `name` (with or without labels).
bool has_sample(std::string_view exposition, std::string_view name) {
  for (const std::string& line : complete_lines(exposition)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        (line[name.size()] == ' ' || line[name.size()] == '{')) {
      return true;
    }
  }
  return false;
}

// GET /metrics on the admin port: 200, its body in `body`.
testing::AssertionResult scrape(std::uint16_t admin_port, std::string& body) {
  ParsedResponse res;
  if (auto got = http_get(admin_port, "/metrics", res); !got) return got;
  if (res.status != 200) {
    return testing::AssertionFailure() << "GET /metrics: " << res.status << " " << res.body;
  }
  body = res.body;
  return testing::AssertionSuccess();
}

// Scrapes until `series` has the value `want` (counters are bumped as a response ends, which a
// client may see a moment before), within kDeadline.
testing::AssertionResult wait_sample(std::uint16_t admin_port, std::string_view series,
                                     double want) {
  const auto until = Clock::now() + kDeadline;
  std::string body;
  for (;;) {
    if (auto scraped = scrape(admin_port, body); !scraped) return scraped;
    if (sample(body, series) == want) return testing::AssertionSuccess();
    if (Clock::now() >= until) {
      return testing::AssertionFailure() << series << " is not " << want << " within "
                                         << kDeadline.count() << "s; last scrape:\n"
                                         << body;
    }
  }
}

constexpr std::string_view kRequestsOk =
    R"(sluice_requests_total{route="default",upstream="default",code="200"})";

// ---- The admin listener ----------------------------------------------------------------------

TEST(AdminListener, ServesMetricsHealthAndReadyApartFromTheProxy) {
  RunResult version;
  ASSERT_TRUE(run({"--version"}, version));
  ASSERT_TRUE(exited_with(version, 0));
  ASSERT_EQ(version.out.rfind("sluice ", 0), 0u) << version.out;
  const std::string version_number = version.out.substr(7, version.out.find('\n') - 7);

  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  std::unique_ptr<Child> child;
  Ports ports;
  ASSERT_TRUE(start_with_admin({"--upstream", upstream.url()}, child, ports));

  ParsedResponse proxied;
  ASSERT_TRUE(http_get(ports.proxy, "/hello", proxied));
  EXPECT_EQ(proxied.status, 200);
  EXPECT_EQ(proxied.body, "upstream saw /hello");

  ParsedResponse health;
  ASSERT_TRUE(http_get(ports.admin, "/healthz", health));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  ParsedResponse ready;
  ASSERT_TRUE(http_get(ports.admin, "/ready", ready));
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");

  // The request above is counted.
  ASSERT_TRUE(wait_sample(ports.admin, kRequestsOk, 1));
  ParsedResponse metrics;
  ASSERT_TRUE(http_get(ports.admin, "/metrics", metrics));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("Content-Type").value_or("").rfind("text/plain; version=0.0.4", 0), 0u)
      << metrics.header("Content-Type").value_or("(none)");
  for (const char* name :
       {"sluice_requests_total", "sluice_active_requests", "process_resident_memory_bytes",
        "sluice_build_info", "sluice_log_dropped_total"}) {
    EXPECT_TRUE(has_sample(metrics.body, name)) << name << " missing:\n" << metrics.body;
  }
  EXPECT_GT(sample(metrics.body, "process_resident_memory_bytes").value_or(0), 0);
  EXPECT_EQ(sample(metrics.body, "sluice_build_info{version=\"" + version_number + "\"}"), 1)
      << metrics.body;

  ParsedResponse unknown;
  ASSERT_TRUE(http_get(ports.admin, "/nope", unknown));
  EXPECT_EQ(unknown.status, 404);

  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(ports.admin, client));
  ASSERT_TRUE(client->send(
      "POST /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  ParsedResponse post;
  ASSERT_TRUE(client->read_response(post));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET, HEAD");

  // The proxy's listener knows nothing of the admin paths: they go to the upstream.
  for (const char* path : {"/metrics", "/healthz", "/ready"}) {
    ParsedResponse res;
    ASSERT_TRUE(http_get(ports.proxy, path, res));
    EXPECT_EQ(res.status, 200) << path;
    EXPECT_EQ(res.body, std::string("upstream saw ") + path);
  }

  ASSERT_TRUE(stop_cleanly(*child));
}

TEST(AdminListener, ReadyIs503FromSigtermWhileAnInFlightResponseFinishes) {
  FakeUpstream upstream;
  std::unique_ptr<Child> child;
  Ports ports;
  // -1: every chunk is flushed to the client at once, so the client sees the response start.
  ASSERT_TRUE(
      start_with_admin({"--upstream", upstream.url(), "--flush-interval", "-1"}, child, ports));

  ParsedResponse before;
  ASSERT_TRUE(http_get(ports.admin, "/ready", before));
  EXPECT_EQ(before.status, 200);

  // A streamed response: the head and one chunk, then the upstream holds.
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(ports.proxy, client));
  ASSERT_TRUE(client->send("GET /slow HTTP/1.1\r\nHost: test\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n" +
                 chunk("first;")));
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "first;"); }));

  child->send_signal(SIGTERM);
  ASSERT_TRUE(child->wait_stderr(
      [](std::string_view err) { return contains(err, "sluice: SIGTERM, stopping"); }));
  // The flag is set just after that line: poll /ready until it answers 503.
  const auto until = Clock::now() + kDeadline;
  int status = 0;
  while (status != 503) {
    if (Clock::now() >= until) FAIL() << "/ready still answers " << status << " after SIGTERM";
    ParsedResponse ready;
    ASSERT_TRUE(http_get(ports.admin, "/ready", ready));
    status = ready.status;
    ASSERT_TRUE(status == 200 || status == 503) << status << " " << ready.body;
  }
  ParsedResponse health;
  ASSERT_TRUE(http_get(ports.admin, "/healthz", health));
  EXPECT_EQ(health.status, 200) << "the process still serves while it stops";

  // The response is still in flight; the upstream ends it now and the client gets it whole.
  EXPECT_FALSE(parse_response_prefix(client->received()).complete);
  ASSERT_TRUE(conn->send(chunk("second") + std::string(kLastChunk)));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.body, "first;second");

  // With nothing left in flight the stop ends well before the 5 s grace.
  int exit_status = 0;
  ASSERT_TRUE(child->wait_exit(exit_status, 4s));
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0)
      << describe_status(exit_status) << "; stderr:\n"
      << child->err();
}

// ---- Flags -----------------------------------------------------------------------------------

TEST(AdminCli, BadAccessLogAndAdminListenExit2NamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;  // sluice: --flag: "value"
  };
  const Case cases[] = {
      {{"--access-log", "loud"}, "sluice: --access-log: \"loud\""},
      {{"--admin-listen", "nowhere"}, "sluice: --admin-listen: \"nowhere\""},
      {{"--listen", "127.0.0.1:9901", "--admin-listen", "127.0.0.1:9901"},
       "sluice: --admin-listen: \"127.0.0.1:9901\""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--upstream", "http://127.0.0.1:9/"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    SCOPED_TRACE(c.message);
    RunResult r;
    ASSERT_TRUE(run(args, r));
    EXPECT_TRUE(exited_with(r, 2));
    EXPECT_TRUE(contains(r.err, c.message)) << r.err;
    EXPECT_FALSE(contains(r.err, "listening")) << r.err;
  }
}

TEST(AdminCli, AdminAddressInUseExits1NamingIt) {
  // A listening socket holds the port for the whole run.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  RunResult r;
  const auto ran = run(
      {"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--admin-listen", taken}, r);
  ::close(fd);
  ASSERT_TRUE(ran);
  EXPECT_TRUE(exited_with(r, 1));
  EXPECT_TRUE(contains(r.err, taken)) << r.err;
}

// ---- The log never holds up a request ----------------------------------------------------------

TEST(AdminLog, StalledStderrReaderDoesNotStopRequests) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  std::unique_ptr<Child> child;
  Ports ports;
  // stderr: a one-page pipe whose writes block, as a paused `sluice ... 2>&1 | less` would.
  SpawnOptions options;
  options.stderr_pipe_bytes = 4096;
  options.blocking_stderr = true;
  ASSERT_TRUE(start_with_admin(
      {"--upstream", upstream.url(), "--access-log", "text", "--max-uri-bytes", "65536"}, child,
      ports, options));
  // From here on nobody reads stderr.
  child->stall_stderr();

  // 300 lines of over 32 KiB each: far more than the pipe and the 4 MiB log queue hold together,
  // so the writer thread stalls in write(2) and later lines are dropped.
  constexpr int kRequests = 300;
  const std::string long_path = "/" + std::string(32 * 1024, 'a');
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(ports.proxy, client));
  for (int i = 0; i < kRequests; ++i) {
    const std::string target = long_path + "?" + std::to_string(i);
    ASSERT_TRUE(client->send("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n")) << i;
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res, 2s)) << "request " << i;
    ASSERT_EQ(res.status, 200) << i;
    ASSERT_EQ(res.body, "upstream saw " + target) << i;
  }

  ASSERT_TRUE(wait_sample(ports.admin, kRequestsOk, kRequests));
  std::string metrics;
  ASSERT_TRUE(scrape(ports.admin, metrics));
  EXPECT_GT(sample(metrics, "sluice_log_dropped_total").value_or(0), 0) << metrics;

  // The stop flushes the log for at most 1 s, then exits with the writer still stuck.
  child->send_signal(SIGTERM);
  int status = 0;
  ASSERT_TRUE(child->wait_exit(status, 4s));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

// ---- --access-log json -------------------------------------------------------------------------

// Every key of the JSON line (src/server/access_log.hpp) with its type: strings, integers, and
// durations in milliseconds with three decimals or null.
testing::AssertionResult has_every_key(const JsonObject& o, std::string_view line) {
  static const std::regex integer(R"(0|[1-9][0-9]*)");
  static const std::regex millis(R"((0|[1-9][0-9]*)\.[0-9]{3})");
  std::size_t expected = 0;
  for (const char* key : {"time", "client", "method", "target", "protocol", "route", "upstream",
                          "server", "ending", "error", "refused"}) {
    ++expected;
    if (json_string(o, key) == "<no string>") {
      return testing::AssertionFailure() << key << " is not a string: " << line;
    }
  }
  for (const char* key : {"status", "bytes_sent", "bytes_received", "flushes"}) {
    ++expected;
    if (!std::regex_match(json_number(o, key), integer)) {
      return testing::AssertionFailure() << key << " is not an integer: " << line;
    }
  }
  for (const char* key :
       {"upstream_connect_ms", "upstream_first_byte_ms", "upstream_total_ms", "total_ms"}) {
    ++expected;
    const bool nullable = std::string_view(key) != "total_ms";
    if (!std::regex_match(json_number(o, key), millis) && !(nullable && json_null(o, key))) {
      return testing::AssertionFailure() << key << " is not milliseconds: " << line;
    }
  }
  if (o.size() != expected) {
    return testing::AssertionFailure() << o.size() << " keys, not " << expected << ": " << line;
  }
  return testing::AssertionSuccess();
}

TEST(AdminLog, JsonAccessLogLinesParseAndHaveEveryKey) {
  auto upstream = std::make_unique<FakeUpstream>();
  upstream->set_handler(echo_target());
  const std::uint16_t upstream_port = upstream->port();
  const std::string upstream_address = "127.0.0.1:" + std::to_string(upstream_port);
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;
  std::string startup;
  // No idle upstream connections: once the upstream is gone, the next request must connect.
  ASSERT_TRUE(start_sluice({"--upstream", upstream->url(), "--access-log", "json",
                            "--max-header-bytes", "2048", "--max-idle-upstream", "0"},
                           child, port, startup));

  // The access lines are the JSON ones; the others are sluice's own ("sluice: ...").
  const auto wait_json_lines = [&](std::size_t n) {
    return child->wait_stderr([n](std::string_view err) {
      std::size_t json = 0;
      for (const std::string& line : complete_lines(err))
        json += line.rfind("{", 0) == 0 ? 1 : 0;
      return json >= n;
    });
  };

  // A 200.
  ParsedResponse ok;
  ASSERT_TRUE(http_get(port, "/ok?x=1", ok));
  EXPECT_EQ(ok.status, 200);
  ASSERT_TRUE(wait_json_lines(1));

  // A 502: the upstream's port is closed now.
  upstream.reset();
  ParsedResponse bad_gateway;
  ASSERT_TRUE(http_get(port, "/down", bad_gateway));
  EXPECT_EQ(bad_gateway.status, 502);
  ASSERT_TRUE(wait_json_lines(2));

  // A 431, refused before any handler ran.
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(port, client));
  ASSERT_TRUE(client->send("GET /big HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(4000, 'b') +
                           "\r\n\r\n"));
  ParsedResponse too_large;
  ASSERT_TRUE(client->read_response(too_large));
  EXPECT_EQ(too_large.status, 431);
  ASSERT_TRUE(wait_json_lines(3));

  std::vector<JsonObject> entries;
  for (const std::string& line : complete_lines(child->err())) {
    if (line.rfind("sluice: ", 0) == 0) continue;
    JsonObject o;
    ASSERT_TRUE(parse_json_object(line, o));
    ASSERT_TRUE(has_every_key(o, line));
    EXPECT_TRUE(std::regex_match(json_string(o, "time"),
                                 std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)")))
        << line;
    EXPECT_TRUE(std::regex_match(json_string(o, "client"), std::regex(R"(127\.0\.0\.1:\d+)")))
        << line;
    entries.push_back(std::move(o));
  }
  ASSERT_EQ(entries.size(), 3u) << child->err();

  const JsonObject& served = entries[0];
  EXPECT_EQ(json_string(served, "method"), "GET");
  EXPECT_EQ(json_string(served, "target"), "/ok?x=1");
  EXPECT_EQ(json_string(served, "protocol"), "HTTP/1.1");
  EXPECT_EQ(json_number(served, "status"), "200");
  EXPECT_EQ(json_number(served, "bytes_sent"), std::to_string(ok.body.size()));
  EXPECT_EQ(json_number(served, "bytes_received"), "0");
  EXPECT_EQ(json_string(served, "route"), "default");
  EXPECT_EQ(json_string(served, "upstream"), "default");
  EXPECT_EQ(json_string(served, "server"), "http://" + upstream_address);
  EXPECT_NE(json_number(served, "upstream_connect_ms"), "<no number>") << "a new connection";
  EXPECT_NE(json_number(served, "upstream_first_byte_ms"), "<no number>");
  EXPECT_NE(json_number(served, "upstream_total_ms"), "<no number>");
  EXPECT_EQ(json_string(served, "ending"), "complete");
  EXPECT_EQ(json_string(served, "error"), "");
  EXPECT_EQ(json_string(served, "refused"), "");
  EXPECT_NE(json_number(served, "flushes"), "0");

  const JsonObject& failed = entries[1];
  EXPECT_EQ(json_string(failed, "target"), "/down");
  EXPECT_EQ(json_number(failed, "status"), "502");
  EXPECT_NE(json_string(failed, "ending"), "complete");
  EXPECT_TRUE(contains(json_string(failed, "error"), upstream_address))
      << json_string(failed, "error");
  EXPECT_TRUE(contains(json_string(failed, "error"), "Connection refused"))
      << json_string(failed, "error");
  EXPECT_EQ(json_string(failed, "refused"), "");
  EXPECT_TRUE(json_null(failed, "upstream_first_byte_ms"));

  const JsonObject& refused = entries[2];
  EXPECT_EQ(json_number(refused, "status"), "431");
  EXPECT_EQ(json_string(refused, "ending"), "refused");
  EXPECT_NE(json_string(refused, "refused"), "");
  EXPECT_EQ(json_string(refused, "route"), "");
  EXPECT_EQ(json_string(refused, "server"), "");
  EXPECT_TRUE(json_null(refused, "upstream_connect_ms"));
  EXPECT_TRUE(json_null(refused, "upstream_first_byte_ms"));
  EXPECT_TRUE(json_null(refused, "upstream_total_ms"));

  ASSERT_TRUE(stop_cleanly(*child));
}

}  // namespace
}  // namespace sluice::test
