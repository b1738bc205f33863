// The sluice binary end to end: command-line errors and exit statuses, a real proxy run and a
// `sluice demo` run, each driven through the child's stderr and stopped with SIGTERM. Plus
// parse_config() called directly, for the value mapping that a run cannot show.
//
// The binary is found from this test's own path (build/<dir>/test/binary_test ->
// build/<dir>/app/sluice); app/CMakeLists.txt makes building this test build it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config.hpp"
#include "sluice/version.hpp"
#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/sluice_process.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::vector<std::string> kFlags = {
    "--listen",
    "--upstream",
    "--flush-interval",
    "--threads",
    "--connect-timeout",
    "--response-header-timeout",
    "--upstream-idle-timeout",
    "--header-timeout",
    "--idle-timeout",
    "--write-timeout",
    "--tunnel-idle-timeout",
    "--max-header-bytes",
    "--max-uri-bytes",
    "--max-header-count",
    "--max-body-bytes",
    "--max-response-header-bytes",
    "--max-idle-upstream",
    "--access-log",
    "--tls-cert",
    "--tls-key",
    "--upstream-ca",
    "--help",
    "--version",
};

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// ---- The command line, through the binary ---------------------------------------------------

TEST(BinaryCli, HelpExitsZeroAndMentionsEveryFlag) {
  RunResult r;
  ASSERT_TRUE(run({"--help"}, r));
  ASSERT_TRUE(exited_with(r, 0));
  for (const auto& flag : kFlags) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from --help:\n" << r.out;
  }
  // The flush interval's three kinds of value, and the defaults, are explained.
  EXPECT_NE(r.out.find("no periodic flush"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("flush after every write"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("text/event-stream"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Default: 5s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("demo"), std::string::npos) << r.out;
}

TEST(BinaryCli, VersionPrintsTheVersion) {
  RunResult r;
  ASSERT_TRUE(run({"--version"}, r));
  ASSERT_TRUE(exited_with(r, 0));
  EXPECT_EQ(r.out, "sluice " SLUICE_VERSION "\n");
}

TEST(BinaryCli, BadDurationExits2NamingFlagAndValue) {
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--connect-timeout", "5 seconds"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_NE(r.err.find("--connect-timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"5 seconds\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("250ms"), std::string::npos) << "the message shows valid forms: " << r.err;
}

TEST(BinaryCli, UnknownFlagExits2) {
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--bogus", "1"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
}

TEST(BinaryCli, MissingUpstreamExits2) {
  RunResult r;
  ASSERT_TRUE(run({"--listen", "127.0.0.1:0"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_NE(r.err.find("--upstream"), std::string::npos) << r.err;
}

TEST(BinaryCli, BadUpstreamUrlExits2) {
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "ftp://example.com/"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_NE(r.err.find("--upstream"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"ftp://example.com/\""), std::string::npos) << r.err;
}

// ---- Real runs ---------------------------------------------------------------------------------

TEST(BinaryRun, ProxiesLogsAndStopsOnSigterm) {
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      const std::string body = "upstream saw " + req.target;
      if (!conn.send(response(200, {{"Content-Type", "text/plain"}}, body))) return;
    }
  });
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;
  std::string startup;
  ASSERT_TRUE(start_sluice({"--upstream", upstream.url("/base?x=1"), "--flush-interval", "100ms",
                            "--threads", "2", "--connect-timeout", "2s", "--access-log", "on"},
                           child, port, startup));
  EXPECT_EQ(startup, "sluice: listening on http://127.0.0.1:" + std::to_string(port) + " -> " +
                         upstream.url("/base"));

  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/hello?y=2", res));
  EXPECT_EQ(res.status, 200);
  // The upstream's path is joined with the request's, its query merged with the request's.
  EXPECT_EQ(res.body, "upstream saw /base/hello?x=1&y=2");
  // The access log line follows the response; it is the last thing written for it.
  EXPECT_TRUE(child->wait_stderr([](std::string_view err) {
    return err.find("\"GET /hello?y=2 HTTP/1.1\" 200") != std::string_view::npos;
  }));

  ASSERT_TRUE(stop_cleanly(*child));
}

TEST(BinaryRun, DemoServesPageAndEvents) {
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;
  std::string startup;
  ASSERT_TRUE(start_sluice({"demo"}, child, port, startup));

  ParsedResponse page;
  ASSERT_TRUE(http_get(port, "/", page));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.header("Content-Type").value_or("").find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/events"), std::string::npos) << page.body;

  ParsedResponse missing;
  ASSERT_TRUE(http_get(port, "/nope", missing));
  EXPECT_EQ(missing.status, 404);

  {
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(port, client));
    ASSERT_TRUE(client->send("GET /events HTTP/1.1\r\nHost: test\r\n\r\n"));
    // One event at once, the next a second later: two events show that the stream flows
    // through the proxy event by event (flush interval 0 would otherwise hold 16 KiB).
    ASSERT_TRUE(
        client->read_until([](std::string_view got) { return count_of(got, "data: ") >= 2; }, 5s));
    const ParsedResponse head = parse_response_prefix(client->received());
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Type"), "text/event-stream");
    EXPECT_NE(head.body.find("id: 1\n"), std::string::npos) << head.body;
    EXPECT_NE(head.body.find("id: 2\n"), std::string::npos) << head.body;
    client->close();
  }

  ASSERT_TRUE(stop_cleanly(*child));
}

// ---- parse_config(), directly: how values map onto the library's options -------------------

struct Parsed {
  std::variant<app::Config, int> result;
  std::string out;
  std::string err;

  const app::Config* config() const { return std::get_if<app::Config>(&result); }
  int status() const {
    const int* s = std::get_if<int>(&result);
    return s ? *s : -1;
  }
};

Parsed parse(std::vector<std::string> args) {
  std::vector<const char*> argv{"sluice"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out;
  std::ostringstream err;
  auto result = app::parse_config(static_cast<int>(argv.size()), argv.data(), out, err);
  return Parsed{std::move(result), out.str(), err.str()};
}

TEST(ParseConfig, DefaultsAreTheLibraryDefaults) {
  const Parsed p = parse({"--upstream", "http://127.0.0.1:9000/base?x=1"});
  ASSERT_NE(p.config(), nullptr) << p.err;
  const app::Config& c = *p.config();
  const ServerOptions server;
  const TransportOptions transport;
  EXPECT_FALSE(c.demo);
  ASSERT_TRUE(c.upstream);
  EXPECT_EQ(c.upstream->host, "127.0.0.1");
  EXPECT_EQ(c.upstream->port, "9000");
  EXPECT_EQ(c.upstream->raw_path, "/base");
  EXPECT_EQ(c.upstream->raw_query, "x=1");
  EXPECT_EQ(c.server.listen, server.listen);
  EXPECT_EQ(c.server.threads, server.threads);
  EXPECT_EQ(c.server.header_timeout, server.header_timeout);
  EXPECT_EQ(c.server.idle_timeout, server.idle_timeout);
  EXPECT_EQ(c.server.access_log, server.access_log);
  EXPECT_EQ(c.flush_interval, std::chrono::nanoseconds{0});
  EXPECT_EQ(c.transport.connect_timeout, transport.connect_timeout);
  EXPECT_EQ(c.transport.response_header_timeout, transport.response_header_timeout);
  EXPECT_EQ(c.transport.idle_read_timeout, transport.idle_read_timeout);
}

TEST(ParseConfig, EveryFlagMapsToItsOption) {
  const Parsed p = parse({"--listen",
                          "[::1]:9090",
                          "--upstream",
                          "http://up:81",
                          "--flush-interval",
                          "100ms",
                          "--threads",
                          "4",
                          "--connect-timeout",
                          "250ms",
                          "--response-header-timeout",
                          "2s",
                          "--upstream-idle-timeout",
                          "1m30s",
                          "--header-timeout",
                          "3s",
                          "--idle-timeout",
                          "4s",
                          "--access-log",
                          "off",
                          "--write-timeout",
                          "7s",
                          "--tunnel-idle-timeout",
                          "8s",
                          "--max-header-bytes",
                          "32768",
                          "--max-uri-bytes",
                          "2048",
                          "--max-header-count",
                          "50",
                          "--max-body-bytes",
                          "1000000",
                          "--max-response-header-bytes",
                          "16384",
                          "--max-idle-upstream",
                          "7"});
  ASSERT_NE(p.config(), nullptr) << p.err;
  const app::Config& c = *p.config();
  EXPECT_EQ(c.server.listen.address().to_string(), "::1");
  EXPECT_EQ(c.server.listen.port(), 9090);
  ASSERT_TRUE(c.upstream);
  EXPECT_EQ(c.upstream->host, "up");
  EXPECT_EQ(c.upstream->port, "81");
  EXPECT_EQ(c.flush_interval, 100ms);
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.transport.connect_timeout, 250ms);
  EXPECT_EQ(c.transport.response_header_timeout, 2s);
  EXPECT_EQ(c.transport.idle_read_timeout, 90s);
  EXPECT_EQ(c.server.header_timeout, 3s);
  EXPECT_EQ(c.server.idle_timeout, 4s);
  EXPECT_EQ(c.server.access_log, sluice::AccessLog::off);
  EXPECT_EQ(c.server.write_timeout, 7s);
  EXPECT_EQ(c.transport.tunnel_idle_timeout, 8s);
  EXPECT_EQ(c.server.max_request_header_bytes, 32768u);
  EXPECT_EQ(c.server.max_uri_bytes, 2048u);
  EXPECT_EQ(c.server.max_header_count, 50u);
  EXPECT_EQ(c.server.max_body_bytes, 1000000u);
  EXPECT_EQ(c.transport.max_response_header_bytes, 16384u);
  EXPECT_EQ(c.transport.max_idle_connections, 7u);
  EXPECT_EQ(app::listen_url(c.server.listen), "http://[::1]:9090");
}

TEST(ParseConfig, StreamingFeaturesAreOffByDefaultAndMapToTheProxy) {
  const Parsed off = parse({"--upstream", "http://h"});
  ASSERT_NE(off.config(), nullptr) << off.err;
  EXPECT_EQ(off.config()->streaming.sse_heartbeat.count(), 0);
  EXPECT_FALSE(off.config()->streaming.sse_resume);
  EXPECT_EQ(off.config()->streaming.sse_resume_attempts, 3u);
  EXPECT_TRUE(off.config()->streaming.compress.empty());

  const Parsed on = parse({"--upstream", "http://h", "--sse-heartbeat", "15s", "--sse-resume",
                           "--sse-resume-attempts", "5", "--compress", "br,gzip"});
  ASSERT_NE(on.config(), nullptr) << on.err;
  ReverseProxy proxy;
  app::apply_stream_features(on.config()->streaming, proxy);
  EXPECT_EQ(proxy.sse_heartbeat, 15s);
  EXPECT_TRUE(proxy.sse_resume);
  EXPECT_EQ(proxy.sse_resume_attempts, 5u);
  EXPECT_EQ(proxy.compress.codings, (std::vector{ContentCoding::br, ContentCoding::gzip}));
}

TEST(ParseConfig, FlushIntervalTakesZeroAndMinusOne) {
  const Parsed every = parse({"--upstream", "http://h", "--flush-interval", "-1"});
  ASSERT_NE(every.config(), nullptr) << every.err;
  EXPECT_LT(every.config()->flush_interval.count(), 0);
  const Parsed never = parse({"--upstream", "http://h", "--flush-interval", "0"});
  ASSERT_NE(never.config(), nullptr) << never.err;
  EXPECT_EQ(never.config()->flush_interval.count(), 0);
}

TEST(ParseConfig, DemoNeedsNoUpstreamAndTakesListenAfterIt) {
  const Parsed p = parse({"demo", "--listen", "127.0.0.1:0"});
  ASSERT_NE(p.config(), nullptr) << p.err;
  EXPECT_TRUE(p.config()->demo);
  EXPECT_FALSE(p.config()->upstream);
  EXPECT_EQ(p.config()->server.listen.port(), 0);
}

TEST(ParseConfig, BadValuesExit2NamingFlagAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--listen", "::1:80"},
      {"--listen", "localhost:80"},
      {"--listen", "127.0.0.1"},
      {"--listen", "127.0.0.1:70000"},
      {"--listen", "[127.0.0.1]:80"},
      {"--upstream", "127.0.0.1:9000"},
      {"--flush-interval", "5"},
      {"--flush-interval", "-5s"},
      {"--threads", "0"},
      {"--threads", "two"},
      {"--threads", "5000"},
      {"--connect-timeout", "0"},
      {"--connect-timeout", "-1"},
      {"--response-header-timeout", "-1s"},
      {"--upstream-idle-timeout", "1x"},
      {"--header-timeout", ""},
      {"--write-timeout", "0"},
      {"--tunnel-idle-timeout", "-1"},
      {"--max-header-bytes", "10"},
      {"--max-uri-bytes", "abc"},
      {"--max-header-count", "0"},
      {"--max-body-bytes", "-5"},
      {"--max-response-header-bytes", "1e6"},
      {"--max-idle-upstream", "70000"},
      {"--idle-timeout", "5 s"},
      {"--access-log", "yes"},
      {"--sse-heartbeat", "-1s"},
      {"--sse-heartbeat", "15"},
      {"--sse-heartbeat", "10ms"},
      {"--sse-resume-attempts", "0"},
      {"--sse-resume-attempts", "101"},
      {"--compress", "lz4"},
      {"--compress", "gzip,gzip"},
      {"--compress", "gzip,"},
      {"--compress", "GZIP"},
  };
  for (const auto& [flag, value] : cases) {
    std::vector<std::string> args;
    if (flag != "--upstream") args = {"--upstream", "http://127.0.0.1:9000"};
    if (flag == "--sse-resume-attempts") args.push_back("--sse-resume");
    args.push_back(flag);
    args.push_back(value);
    const Parsed p = parse(args);
    EXPECT_EQ(p.status(), app::kUsageError) << flag << " " << value;
    EXPECT_NE(p.err.find("sluice: " + flag + ": \"" + value + "\""), std::string::npos)
        << flag << " " << value << ": " << p.err;
  }
}

TEST(ParseConfig, ResumeAttemptsNeedResume) {
  const Parsed p = parse({"--upstream", "http://h", "--sse-resume-attempts", "5"});
  EXPECT_EQ(p.status(), app::kUsageError);
  EXPECT_NE(p.err.find("needs --sse-resume"), std::string::npos) << p.err;
}

TEST(ParseConfig, DemoRefusesUpstream) {
  const Parsed p = parse({"demo", "--upstream", "http://127.0.0.1:9000"});
  EXPECT_EQ(p.status(), app::kUsageError);
  EXPECT_NE(p.err.find("--upstream"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace sluice::test
