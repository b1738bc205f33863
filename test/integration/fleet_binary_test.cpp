// The fleet (`sluice --config FILE`, `sluice check FILE`) end to end, through the binary: the
// check command and its exit statuses, start-up errors, routing by host and path, round robin,
// active health checks, and SIGHUP reloads: a route moved to another upstream while a stream
// that started before keeps its old upstream, the connections to a server the file dropped
// closing when its last request ends, a bad file that keeps the old configuration, listeners
// added and removed, and 20 reloads under keep-alive traffic and 50 streams.
//
// Each test writes its configuration files into a fresh temporary directory (support/
// fleet_files.hpp), removed when it ends. Listeners and the admin listener are on 127.0.0.1:0
// unless a test needs the address in advance: the kernel picks a free port at bind time (no race
// with other processes), and the test reads it from the start-up lines. The process helpers are
// support/sluice_process.hpp's; the binary is found from this test's own path, and
// app/CMakeLists.txt makes building this test build it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/fleet_files.hpp"
#include "support/prometheus_text.hpp"
#include "support/sluice_process.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using prometheus::Labels;

// How long an upstream connection may sit idle in the fake upstream before it gives up on it:
// longer than any test, so that sluice's pooled connections are never closed under it (which
// would count as new connections in the reload test). The upstream's stop ends the wait at once.
constexpr auto kUpstreamIdle = std::chrono::milliseconds(120'000);
// The most a commanded stream waits for the test's next chunk; the test pushes within its own
// deadlines, and the backend's destructor wakes the wait at once.
constexpr auto kCommandWait = std::chrono::milliseconds(20'000);
// The bound for what the sluice process does as a whole: start (up to its start-up lines), exit,
// and a reload (up to its verdict line). Each takes milliseconds; a sanitizer build on a loaded
// machine can take seconds, so this is wider than kDeadline. Waits end on the event.
constexpr auto kProcessDeadline = kExitDeadline;
// The spacing of the events of /events streams.
constexpr auto kEventInterval = 40ms;

constexpr std::string_view kStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The lines of `text` that a '\n' ended.
std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  for (std::size_t at = 0, end; (end = text.find('\n', at)) != std::string_view::npos;
       at = end + 1) {
    lines.emplace_back(text.substr(at, end - at));
  }
  return lines;
}

// One upstream server of the fleet, in FakeUpstream's handler mode. Every request is answered
// 200 with the backend's name as the body and, in headers, what the backend received (target,
// Host, X-Forwarded-For), so a test sees where sluice sent a request and how. Besides:
//   GET /healthz   the health status set_health() chose (sluice's active checks);
//   GET /stream*   an SSE-like response whose chunks the test pushes one by one (push_chunk);
//   GET /events*   numbered events every kEventInterval until finish_events(), then an "end"
//                  event with the count, then the last chunk.
class Backend {
 public:
  explicit Backend(std::string name) : name_(std::move(name)) {
    server_.set_handler([this](UpstreamConn& conn) { serve(conn); });
  }
  ~Backend() {
    // Handler threads waiting for a command or the next event tick wake up and end, so the
    // FakeUpstream (destroyed next) joins them at once.
    std::lock_guard lock(mutex_);
    closed_ = true;
    finish_ = true;
    wake_.notify_all();
  }
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  // "http://127.0.0.1:PORT": also sluice's name for the server in its metrics.
  std::string url() const { return server_.url(); }
  // Connections the backend accepted (health checks included).
  std::size_t accepted() const { return server_.accepted_count(); }
  // Requests other than health checks.
  std::size_t served() const { return served_.load(); }

  // Waits until exactly `n` connections are open (accepted and not yet closed), within
  // `deadline`.
  bool wait_open(std::size_t n, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return wake_.wait_for(lock, deadline, [&] { return open_ == n; });
  }
  std::size_t open_now() {
    std::lock_guard lock(mutex_);
    return open_;
  }

  void set_health(int status) { health_status_.store(status); }

  // The next chunk of the /stream response; "" ends it.
  void push_chunk(std::string data) {
    std::lock_guard lock(mutex_);
    chunks_.push_back(std::move(data));
    wake_.notify_all();
  }

  // Every /events stream sends its "end" event and ends.
  void finish_events() {
    std::lock_guard lock(mutex_);
    finish_ = true;
    wake_.notify_all();
  }

 private:
  void serve(UpstreamConn& conn) {
    // Counts the connection as open while this handler runs: it ends when the peer closes.
    struct Open {
      Backend& b;
      explicit Open(Backend& backend) : b(backend) {
        std::lock_guard lock(b.mutex_);
        ++b.open_;
        b.wake_.notify_all();
      }
      ~Open() {
        std::lock_guard lock(b.mutex_);
        --b.open_;
        b.wake_.notify_all();
      }
    } open(*this);
    RecordedRequest req;
    while (conn.read_request(req, kUpstreamIdle)) {
      if (req.target == "/healthz") {
        const int status = health_status_.load();
        // Checks come with Connection: close; each is a connection of its own.
        conn.send(response(status, {{"Connection", "close"}}, status == 200 ? "ok" : "sick"));
        return;
      }
      served_.fetch_add(1);
      if (req.target.starts_with("/stream")) {
        if (!stream_commanded(conn)) return;
        continue;
      }
      if (req.target.starts_with("/events")) {
        if (!stream_events(conn)) return;
        continue;
      }
      std::string xff;
      for (const auto& v : req.values("X-Forwarded-For"))
        xff += (xff.empty() ? "" : ", ") + v;
      std::vector<std::pair<std::string, std::string>> headers = {
          {"Content-Type", "text/plain"},
          {"X-Seen-Target", req.target},
          {"X-Seen-Host", req.header("Host").value_or("(none)")},
          {"X-Seen-XFF", xff.empty() ? "(none)" : xff}};
      const bool close = iequals(req.header("Connection").value_or(""), "close");
      if (close) headers.emplace_back("Connection", "close");
      if (!conn.send(response(200, headers, name_)) || close) return;
    }
  }

  bool stream_commanded(UpstreamConn& conn) {
    if (!conn.send(kStreamHead)) return false;
    for (;;) {
      std::string data;
      {
        std::unique_lock lock(mutex_);
        const bool woken =
            wake_.wait_for(lock, kCommandWait, [&] { return closed_ || !chunks_.empty(); });
        if (!woken || closed_) return false;
        data = std::move(chunks_.front());
        chunks_.pop_front();
      }
      if (data.empty()) return conn.send(kLastChunk);
      if (!conn.send(chunk(data))) return false;
    }
  }

  bool stream_events(UpstreamConn& conn) {
    if (!conn.send(kStreamHead)) return false;
    for (std::size_t i = 0;; ++i) {
      const std::string n = std::to_string(i);
      if (!conn.send(chunk("id: " + n + "\ndata: event " + n + "\n\n"))) return false;
      std::unique_lock lock(mutex_);
      // The wait paces the events; finish_events() ends it early, and the stream with it.
      if (wake_.wait_for(lock, kEventInterval, [&] { return finish_; })) {
        if (closed_) return false;
        lock.unlock();
        return conn.send(chunk("event: end\ndata: " + std::to_string(i + 1) + "\n\n") +
                         std::string(kLastChunk));
      }
    }
  }

  const std::string name_;
  std::atomic<int> health_status_{200};
  std::atomic<std::size_t> served_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> chunks_;
  bool finish_ = false;
  bool closed_ = false;
  std::size_t open_ = 0;  // connections whose handler runs
  // Last: destroyed first, joining its handler threads while everything they use still lives.
  FakeUpstream server_;
};

// A listening socket on 127.0.0.1:<ephemeral>, held for the test's life: an address that sluice
// cannot bind while it exists.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 1) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~HeldPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  std::uint16_t port() const { return port_; }  // 0: the socket failed
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// The start of every file: one listener and (optionally) the admin listener on ports the kernel
// picks, and no access log (its lines would only crowd the stderr the tests read).
std::string fleet_head(bool admin) {
  std::string text = "listeners:\n  - listen: 127.0.0.1:0\n";
  if (admin) text += "admin:\n  listen: 127.0.0.1:0\n";
  return text + "settings:\n  access_log: off\n";
}

// "  NAME:\n    servers:\n      - url: URL\n..." for `upstreams:`.
std::string upstream_yaml(std::string_view name, const std::vector<const Backend*>& servers,
                          std::string_view extra = "") {
  std::string text = "  " + std::string(name) + ":\n    servers:\n";
  for (const Backend* b : servers)
    text += "      - url: " + b->url() + "\n";
  return text + std::string(extra);
}

struct Fleet {
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;   // the first listener's
  std::uint16_t admin = 0;  // 0: no admin listener
};

// The port in the first line of `text` that starts with `prefix` (followed by the port).
std::optional<std::uint16_t> port_after(std::string_view text, std::string_view prefix) {
  for (const std::string& line : lines_of(text)) {
    if (!line.starts_with(prefix)) continue;
    unsigned port = 0;
    const char* first = line.data() + prefix.size();
    const auto [end, ec] = std::from_chars(first, line.data() + line.size(), port);
    if (ec != std::errc{} || end == first || port == 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
  }
  return std::nullopt;
}

bool has_line_starting(std::string_view text, std::string_view prefix) {
  const auto lines = lines_of(text);
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.starts_with(prefix); });
}

// Runs `sluice --config FILE` and waits for its start-up lines: "sluice: listening on
// http://127.0.0.1:PORT[, ...] (FILE)" and, with `admin`, "sluice: admin on
// http://127.0.0.1:PORT (...)".
testing::AssertionResult start_fleet(const std::filesystem::path& file, Fleet& fleet, bool admin) {
  if (auto spawned = Child::spawn({"--config", file.string()}, fleet.child); !spawned) {
    return spawned;
  }
  constexpr std::string_view kListening = "sluice: listening on http://127.0.0.1:";
  constexpr std::string_view kAdmin = "sluice: admin on http://127.0.0.1:";
  const auto started = fleet.child->wait_stderr(
      [&](std::string_view err) {
        return has_line_starting(err, kListening) && (!admin || has_line_starting(err, kAdmin));
      },
      kProcessDeadline);
  if (!started) return started;
  const auto port = port_after(fleet.child->err(), kListening);
  if (!port) return testing::AssertionFailure() << "no port in:\n" << fleet.child->err();
  fleet.port = *port;
  if (!contains(fleet.child->err(), " (" + file.string() + ")\n")) {
    return testing::AssertionFailure() << "the start-up line does not name the file:\n"
                                       << fleet.child->err();
  }
  if (admin) {
    const auto admin_port = port_after(fleet.child->err(), kAdmin);
    if (!admin_port) return testing::AssertionFailure() << "no admin port:\n" << fleet.child->err();
    fleet.admin = *admin_port;
  }
  return testing::AssertionSuccess();
}

constexpr std::string_view kReloaded = "sluice: SIGHUP: configuration reloaded from ";
constexpr std::string_view kKeptOld = "the old configuration keeps serving";

// SIGHUP, then the reload's verdict: `n` "configuration reloaded" lines in all (`n`-th reload
// succeeded), or a "keeps serving" line (it failed: reported as such).
testing::AssertionResult reload(Child& child, std::size_t n) {
  const std::size_t failed_before = count_of(child.err(), kKeptOld);
  child.send_signal(SIGHUP);
  const auto said = child.wait_stderr(
      [&](std::string_view err) {
        return count_of(err, kReloaded) >= n || count_of(err, kKeptOld) > failed_before;
      },
      kProcessDeadline);
  if (!said) return said;
  if (count_of(child.err(), kKeptOld) > failed_before) {
    return testing::AssertionFailure() << "reload " << n << " failed:\n" << child.err();
  }
  return testing::AssertionSuccess();
}

// `text` with its first `key` replaced by `value`.
std::string substitute(std::string text, std::string_view key, std::string_view value) {
  const auto at = text.find(key);
  return at == std::string::npos ? text : text.replace(at, key.size(), value);
}

// One request with the given Host on a connection of its own.
testing::AssertionResult get(std::uint16_t port, std::string_view host, std::string_view target,
                             ParsedResponse& out) {
  std::unique_ptr<TestClient> client;
  if (auto connected = TestClient::connect(port, client); !connected) return connected;
  if (!client->send("GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
                    "\r\nConnection: close\r\n\r\n")) {
    return testing::AssertionFailure() << "cannot send to port " << port;
  }
  return client->read_response(out);
}

// One request on an open keep-alive connection.
testing::AssertionResult get_on(TestClient& client, std::string_view target, ParsedResponse& out) {
  if (!client.send("GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n")) {
    return testing::AssertionFailure() << "cannot send " << target;
  }
  return client.read_response(out);
}

// Which backend answered: its name (the body of a 200), or the status.
std::string answer(const ParsedResponse& res) {
  return res.status == 200 ? res.body : "status " + std::to_string(res.status) + ": " + res.body;
}

// GET /metrics on the admin port, parsed strictly.
testing::AssertionResult scrape(std::uint16_t admin, std::vector<prometheus::Family>& families,
                                std::string* text = nullptr) {
  ParsedResponse res;
  if (auto got = http_get(admin, "/metrics", res); !got) return got;
  if (res.status != 200) {
    return testing::AssertionFailure() << "GET /metrics: " << res.status << " " << res.body;
  }
  if (text) *text = res.body;
  families.clear();
  return prometheus::parses_strictly(res.body, &families);
}

// Scrapes until the sample name{labels} is `want`, within `deadline`: counters are bumped as a
// response ends (a moment after the client has it), and health turns at the checker's pace.
testing::AssertionResult wait_metric(std::uint16_t admin, std::string_view name,
                                     const Labels& labels, double want,
                                     std::chrono::milliseconds deadline = kDeadline) {
  const auto until = Clock::now() + deadline;
  std::vector<prometheus::Family> families;
  std::string text;
  for (;;) {
    if (auto scraped = scrape(admin, families, &text); !scraped) return scraped;
    const auto v = prometheus::value(families, name, labels);
    if (v == want) return testing::AssertionSuccess();
    if (Clock::now() >= until) {
      std::string shown;
      for (const auto& [k, val] : labels)
        shown += (shown.empty() ? "" : ",") + k + "=\"" + val + "\"";
      return testing::AssertionFailure()
             << name << "{" << shown << "} is " << (v ? std::to_string(*v) : std::string("absent"))
             << ", not " << want << ", after " << deadline.count() << "ms; last scrape:\n"
             << text;
    }
  }
}

Labels server_labels(std::string_view upstream, const Backend& b) {
  return {{"upstream", std::string(upstream)}, {"server", b.url()}};
}

// Runs sluice to completion, like run() but with kProcessDeadline for the exit.
testing::AssertionResult run_sluice(const std::vector<std::string>& args, RunResult& result) {
  std::unique_ptr<Child> child;
  if (auto spawned = Child::spawn(args, child); !spawned) return spawned;
  if (auto exited = child->wait_exit(result.status, kProcessDeadline); !exited) return exited;
  result.out = child->out();
  result.err = child->err();
  return testing::AssertionSuccess();
}

// ---- sluice check -------------------------------------------------------------------------------

TEST(FleetCheck, ValidFilePrintsOkAndBindsNothing) {
  // The file's addresses are held by this test: a check that bound them would fail.
  HeldPort listener;
  HeldPort admin;
  ASSERT_NE(listener.port(), 0);
  ASSERT_NE(admin.port(), 0);
  Backend a("a");
  TempDir dir;
  const auto file =
      dir.write("fleet.yaml", "listeners:\n  - listen: " + listener.address() +
                                  "\nadmin:\n  listen: " + admin.address() + "\nupstreams:\n" +
                                  upstream_yaml("a", {&a}) + "routes:\n  - upstream: a\n");
  RunResult r;
  ASSERT_TRUE(run_sluice({"check", file.string()}, r));
  ASSERT_TRUE(exited_with(r, 0));
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(a.accepted(), 0u) << "a check contacts no upstream";
}

TEST(FleetCheck, ThreeErrorsAreThreeLinesInFileOrder) {
  TempDir dir;
  const auto file = dir.write("bad.yaml",
                              "listeners:\n"                                // 1
                              "  - listen: nowhere\n"                       // 2
                              "settings:\n"                                 // 3
                              "  connect_timeout: 5\n"                      // 4
                              "upstreams:\n"                                // 5
                              "  a:\n"                                      // 6
                              "    servers: [{url: http://127.0.0.1:9}]\n"  // 7
                              "routes:\n"                                   // 8
                              "  - upstream: b\n");                         // 9
  RunResult r;
  ASSERT_TRUE(run_sluice({"check", file.string()}, r));
  ASSERT_TRUE(exited_with(r, 1));
  EXPECT_EQ(r.out, "") << "no ok on a bad file";
  const std::string f = file.string();
  const std::vector<std::string> expected = {
      f + ":2:13: listen: \"nowhere\" is not an address (use 127.0.0.1:8080 or [::1]:8080)",
      f + ":4:20: connect_timeout: \"5\" has no unit (use 250ms, 5s, 1m)",
      f + ":9:5: route \"0\": upstream \"b\" is not defined (upstreams: a)",
  };
  EXPECT_EQ(lines_of(r.err), expected) << r.err;
}

TEST(FleetCheck, MissingFileExits1NamingIt) {
  TempDir dir;
  const std::string missing = (dir.path() / "nowhere.yaml").string();
  RunResult r;
  ASSERT_TRUE(run_sluice({"check", missing}, r));
  ASSERT_TRUE(exited_with(r, 1));
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, missing)) << r.err;
  EXPECT_TRUE(contains(r.err, "No such file")) << r.err;
}

TEST(FleetCheck, NoFileIsAUsageError) {
  RunResult r;
  ASSERT_TRUE(run_sluice({"check"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_EQ(r.out, "");
}

// ---- sluice --config: the command line and start-up errors --------------------------------------

TEST(FleetStart, ConfigWithAnotherFlagExits2NamingTheFlag) {
  Backend a("a");
  TempDir dir;
  const auto file =
      dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" + upstream_yaml("a", {&a}) +
                                  "routes:\n  - upstream: a\n");
  RunResult r;
  ASSERT_TRUE(run_sluice({"--config", file.string(), "--listen", "127.0.0.1:0"}, r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, "--listen")) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot be used with --config")) << r.err;
  EXPECT_FALSE(contains(r.err, "listening")) << r.err;
}

TEST(FleetStart, ErrorsExit1WithPositionsAndBindNothing) {
  // Addresses held by this test: a start that bound before checking would say "cannot listen"
  // instead of (or before) the file's errors.
  HeldPort listener;
  HeldPort admin;
  ASSERT_NE(listener.port(), 0);
  ASSERT_NE(admin.port(), 0);
  TempDir dir;
  const std::string text =
      "listeners:\n"                       // 1
      "  - listen: LISTENER\n"             // 2
      "admin:\n"                           // 3
      "  listen: ADMIN\n"                  // 4
      "upstreams:\n"                       // 5
      "  a:\n"                             // 6
      "    servers:\n"                     // 7
      "      - url: http://127.0.0.1:9\n"  // 8
      "        weigth: 2\n"                // 9
      "routes:\n"                          // 10
      "  - upstream: a\n"                  // 11
      "    flush_interval: 5\n";           // 12
  const auto file = dir.write(
      "bad.yaml",
      substitute(substitute(text, "LISTENER", listener.address()), "ADMIN", admin.address()));
  RunResult r;
  ASSERT_TRUE(run_sluice({"--config", file.string()}, r));
  ASSERT_TRUE(exited_with(r, 1));
  const std::string f = file.string();
  const std::vector<std::string> expected = {
      f + ":9:9: server: unknown key \"weigth\" (did you mean \"weight\"?)",
      f + ":12:21: flush_interval: \"5\" has no unit (use 0, -1, or e.g. 100ms)",
      "sluice: " + f + ": not started",
  };
  EXPECT_EQ(lines_of(r.err), expected) << r.err;
  EXPECT_FALSE(contains(r.err, "cannot listen")) << r.err;
  EXPECT_EQ(r.out, "");

  // A file that is not there: exit 1, named.
  const std::string missing = (dir.path() / "nowhere.yaml").string();
  RunResult m;
  ASSERT_TRUE(run_sluice({"--config", missing}, m));
  ASSERT_TRUE(exited_with(m, 1));
  EXPECT_TRUE(contains(m.err, missing)) << m.err;
}

// ---- Routing -----------------------------------------------------------------------------------

TEST(FleetRouting, HostPathStripAndFirstMatchWins) {
  Backend a("a");
  Backend b("b");
  TempDir dir;
  const auto file =
      dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" + upstream_yaml("a", {&a}) +
                                  upstream_yaml("b", {&b}) +
                                  "routes:\n"
                                  "  - name: exact-host\n"
                                  "    host: api.example.com\n"
                                  "    upstream: a\n"
                                  "  - name: wildcard-host\n"
                                  "    host: \"*.example.com\"\n"
                                  "    upstream: b\n"
                                  "  - name: stripped\n"
                                  "    path_prefix: /svc\n"
                                  "    strip_prefix: true\n"
                                  "    upstream: b\n"
                                  "  - name: first\n"
                                  "    path_prefix: /order\n"
                                  "    upstream: a\n"
                                  "  - name: shadowed\n"
                                  "    path_prefix: /order/deeper\n"
                                  "    upstream: b\n");
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, false));

  struct Case {
    const char* host;
    const char* target;
    const char* upstream;  // "" for sluice's own 404
    const char* seen;      // the target the upstream received
  };
  const Case cases[] = {
      // Exact host, whatever the path; case and port of Host do not matter.
      {"api.example.com", "/x?y=1", "a", "/x?y=1"},
      {"API.Example.COM:8080", "/svc/z", "a", "/svc/z"},  // before the strip route: it wins
      // Wildcard: any name under example.com, not example.com itself.
      {"www.example.com", "/svc/users", "b", "/svc/users"},
      {"a.b.example.com", "/", "b", "/"},
      {"example.com", "/x", "", ""},
      // Path prefix with strip_prefix: segment-aware, query kept.
      {"test", "/svc/users?q=1", "b", "/users?q=1"},
      {"test", "/svc", "b", "/"},
      {"test", "/svc/", "b", "/"},
      {"test", "/svcx", "", ""},
      // Two routes match /order/deeper/x: the first in the file wins.
      {"test", "/order/deeper/x", "a", "/order/deeper/x"},
      {"test", "/order", "a", "/order"},
      // Nothing matches.
      {"test", "/nothing", "", ""},
      {"other.org", "/", "", ""},
  };
  std::size_t to_a = 0;
  std::size_t to_b = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("Host: ") + c.host + ", " + c.target);
    ParsedResponse res;
    ASSERT_TRUE(get(fleet.port, c.host, c.target, res));
    if (std::string_view(c.upstream).empty()) {
      EXPECT_EQ(res.status, 404);
      EXPECT_EQ(res.body, "sluice: no route for this host and path\n");
      EXPECT_FALSE(res.header("X-Seen-Target").has_value()) << "the 404 is sluice's own";
      continue;
    }
    (std::string_view(c.upstream) == "a" ? to_a : to_b) += 1;
    EXPECT_EQ(answer(res), c.upstream);
    EXPECT_EQ(res.header("X-Seen-Target"), std::string(c.seen));
    EXPECT_EQ(res.header("X-Seen-Host"), std::string(c.host)) << "the inbound Host is kept";
    EXPECT_EQ(res.header("X-Seen-XFF"), "127.0.0.1") << "the client's address is appended";
  }
  // The 404s reached no upstream.
  EXPECT_EQ(a.served(), to_a);
  EXPECT_EQ(b.served(), to_b);
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

TEST(FleetBalancing, RoundRobinAlternatesAndMetricsCountEachServer) {
  Backend s1("s1");
  Backend s2("s2");
  TempDir dir;
  const auto file = dir.write("fleet.yaml", fleet_head(true) + "upstreams:\n" +
                                                upstream_yaml("pool", {&s1, &s2}) +
                                                "routes:\n  - upstream: pool\n");
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, true));

  constexpr int kRequests = 10;
  std::vector<std::string> answers;
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(fleet.port, client));
  for (int i = 0; i < kRequests; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(get_on(*client, "/rr/" + std::to_string(i), res)) << i;
    answers.push_back(answer(res));
  }
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(answers[i] == "s1" || answers[i] == "s2") << i << ": " << answers[i];
    if (i > 0) {
      EXPECT_NE(answers[i], answers[i - 1]) << "request " << i << " did not alternate";
    }
  }
  EXPECT_EQ(s1.served(), static_cast<std::size_t>(kRequests / 2));
  EXPECT_EQ(s2.served(), static_cast<std::size_t>(kRequests / 2));

  for (const Backend* s : {&s1, &s2}) {
    SCOPED_TRACE(s->name());
    EXPECT_TRUE(
        wait_metric(fleet.admin, "sluice_upstream_server_up", server_labels("pool", *s), 1));
    EXPECT_TRUE(wait_metric(fleet.admin, "sluice_upstream_requests_total",
                            server_labels("pool", *s), kRequests / 2));
  }
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

// ---- Health -------------------------------------------------------------------------------------

TEST(FleetHealth, FailingChecksTakeAServerOutAndPassingOnesBringItBack) {
  Backend sick("sick");
  Backend well("well");
  TempDir dir;
  const auto file = dir.write("fleet.yaml", fleet_head(true) + "upstreams:\n" +
                                                upstream_yaml("hc", {&sick, &well},
                                                              "    health_check:\n"
                                                              "      path: /healthz\n"
                                                              "      interval: 100ms\n"
                                                              "      timeout: 50ms\n"
                                                              "      unhealthy_after: 1\n"
                                                              "      healthy_after: 1\n") +
                                                "routes:\n  - upstream: hc\n");
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, true));
  const Labels sick_up = server_labels("hc", sick);
  const Labels well_up = server_labels("hc", well);
  ASSERT_TRUE(wait_metric(fleet.admin, "sluice_upstream_server_up", sick_up, 1));
  ASSERT_TRUE(wait_metric(fleet.admin, "sluice_upstream_server_up", well_up, 1));

  // Down after one failed check: at the next tick (100ms), well within the deadline.
  sick.set_health(503);
  ASSERT_TRUE(wait_metric(fleet.admin, "sluice_upstream_server_up", sick_up, 0));
  const std::size_t sick_before = sick.served();
  for (int i = 0; i < 8; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(get(fleet.port, "test", "/down/" + std::to_string(i), res));
    EXPECT_EQ(answer(res), "well") << "request " << i << " while sick is down";
  }
  EXPECT_EQ(sick.served(), sick_before) << "a server that is down gets no new requests";
  EXPECT_TRUE(wait_metric(fleet.admin, "sluice_upstream_server_up", well_up, 1));

  // Up again after one passing check; then it gets requests again. Not at once in turn with the
  // other: a server that comes back starts slowly (10 % of its weight, growing over 5 s), so
  // round robin reaches it within about a dozen requests at first.
  sick.set_health(200);
  ASSERT_TRUE(wait_metric(fleet.admin, "sluice_upstream_server_up", sick_up, 1));
  bool reached = false;
  for (int i = 0; i < 40 && !reached; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(get(fleet.port, "test", "/up/" + std::to_string(i), res));
    ASSERT_EQ(res.status, 200) << answer(res);
    reached = answer(res) == "sick";
  }
  EXPECT_TRUE(reached) << "the recovered server gets requests again";
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

// ---- Reload -------------------------------------------------------------------------------------

TEST(FleetReload, NewRequestsTakeTheNewRouteWhileAnOldStreamFinishesOnTheOldUpstream) {
  Backend old_server("old");
  Backend new_server("new");
  TempDir dir;
  const auto file = dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" +
                                                upstream_yaml("old", {&old_server}) +
                                                "routes:\n  - name: main\n    upstream: old\n");
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, false));

  ParsedResponse before;
  ASSERT_TRUE(get(fleet.port, "test", "/before", before));
  EXPECT_EQ(answer(before), "old");
  // A keep-alive connection whose next request comes after the reload.
  std::unique_ptr<TestClient> kept;
  ASSERT_TRUE(TestClient::connect(fleet.port, kept));
  ParsedResponse first;
  ASSERT_TRUE(get_on(*kept, "/kept/1", first));
  EXPECT_EQ(answer(first), "old");

  // The stream starts on the old configuration and delivers its first event.
  std::unique_ptr<TestClient> stream;
  ASSERT_TRUE(TestClient::connect(fleet.port, stream));
  ASSERT_TRUE(stream->send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n"));
  old_server.push_chunk("data: one\n\n");
  ASSERT_TRUE(stream->read_until([](std::string_view got) {
    return contains(parse_response_prefix(got).body, "data: one\n\n");
  }));

  // The file now sends the route to another upstream; the old one is gone from it entirely.
  dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" + upstream_yaml("new", {&new_server}) +
                              "routes:\n  - name: main\n    upstream: new\n");
  ASSERT_TRUE(reload(*fleet.child, 1));
  const std::size_t old_served = old_server.served();

  for (int i = 0; i < 3; ++i) {
    ParsedResponse after;
    ASSERT_TRUE(get(fleet.port, "test", "/after/" + std::to_string(i), after));
    EXPECT_EQ(answer(after), "new") << i;
  }
  ParsedResponse second;
  ASSERT_TRUE(get_on(*kept, "/kept/2", second));
  EXPECT_EQ(answer(second), "new") << "a connection opened before the reload: its next request";

  // The stream still runs on the old upstream and gets every chunk, then its end.
  EXPECT_FALSE(parse_response_prefix(stream->received()).complete);
  old_server.push_chunk("data: two\n\n");
  old_server.push_chunk("data: three\n\n");
  old_server.push_chunk("");
  ParsedResponse streamed;
  ASSERT_TRUE(stream->read_response(streamed));
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.complete);
  EXPECT_EQ(streamed.body, "data: one\n\ndata: two\n\ndata: three\n\n");
  EXPECT_EQ(old_server.served(), old_served) << "no new request went to the old upstream";
  EXPECT_EQ(new_server.served(), 4u);
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

TEST(FleetReload, ARemovedServersConnectionsCloseWhenItsLastRequestEnds) {
  Backend old_server("old");
  Backend new_server("new");
  TempDir dir;
  const auto file = dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" +
                                                upstream_yaml("old", {&old_server}) +
                                                "routes:\n  - upstream: old\n");
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, false));

  // Two connections to the old server: a stream in flight, and one idle in the pool after a
  // request that ran beside the stream.
  std::unique_ptr<TestClient> stream;
  ASSERT_TRUE(TestClient::connect(fleet.port, stream));
  ASSERT_TRUE(stream->send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n"));
  old_server.push_chunk("data: one\n\n");
  ASSERT_TRUE(stream->read_until([](std::string_view got) {
    return contains(parse_response_prefix(got).body, "data: one\n\n");
  }));
  ParsedResponse beside;
  ASSERT_TRUE(get(fleet.port, "test", "/beside", beside));
  EXPECT_EQ(answer(beside), "old");
  EXPECT_TRUE(old_server.wait_open(2)) << old_server.open_now();

  // The old server leaves the configuration. The stream pins the old routes, and with them the
  // old server's pool: its connections stay while the stream runs.
  dir.write("fleet.yaml", fleet_head(false) + "upstreams:\n" + upstream_yaml("new", {&new_server}) +
                              "routes:\n  - upstream: new\n");
  ASSERT_TRUE(reload(*fleet.child, 1));
  EXPECT_EQ(old_server.open_now(), 2u);

  // The stream, the server's last request, ends. The issue: "servers removed get no new requests
  // and their pools close as their last request ends" (and src/fleet/router.hpp: the old
  // generation "is freed when the last request that pinned it ends, which is when the pools of
  // servers that the new one dropped close"). No other request comes meanwhile: one would make
  // the worker purge retired pools and hide a pool that does not close by itself.
  old_server.push_chunk("");
  ParsedResponse streamed;
  ASSERT_TRUE(stream->read_response(streamed));
  EXPECT_EQ(streamed.body, "data: one\n\n");
  EXPECT_TRUE(old_server.wait_open(0))
      << old_server.open_now() << " connection(s) to the removed server still open "
      << kDeadline.count() << "s after its last request ended";
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

TEST(FleetReload, BadFileKeepsTheOldConfigurationAndIsCounted) {
  Backend a("a");
  Backend b("b");
  TempDir dir;
  const std::string good =
      fleet_head(true) + "upstreams:\n" + upstream_yaml("a", {&a}) + "routes:\n  - upstream: a\n";
  const auto file = dir.write("fleet.yaml", good);
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, true));

  // A typo in a file that would otherwise send everything to b.
  const std::string bad = fleet_head(true) + "upstreams:\n" +
                          upstream_yaml("b", {&b}, "    retrys: 1\n") +
                          "routes:\n  - upstream: b\n";
  dir.write("fleet.yaml", bad);
  const std::size_t line = 1 + count_of(bad.substr(0, bad.find("retrys")), "\n");
  const std::string position = file.string() + ":" + std::to_string(line) + ":5: ";
  fleet.child->send_signal(SIGHUP);
  ASSERT_TRUE(fleet.child->wait_stderr([](std::string_view err) { return contains(err, kKeptOld); },
                                       kProcessDeadline));
  const std::string& err = fleet.child->err();
  EXPECT_TRUE(contains(err, position + "upstream \"b\": unknown key \"retrys\" (did you mean "
                                       "\"retries\"?)\n"))
      << "expected " << position << "...; stderr:\n"
      << err;
  EXPECT_TRUE(contains(
      err, "sluice: SIGHUP: 1 error(s) in " + file.string() + "; " + std::string(kKeptOld)))
      << err;
  EXPECT_FALSE(contains(err, kReloaded)) << err;

  for (int i = 0; i < 3; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(get(fleet.port, "test", "/still/" + std::to_string(i), res));
    EXPECT_EQ(answer(res), "a") << i;
  }
  EXPECT_EQ(b.served(), 0u);
  EXPECT_TRUE(wait_metric(fleet.admin, "sluice_config_reloads_total", {{"result", "failure"}}, 1));
  EXPECT_TRUE(wait_metric(fleet.admin, "sluice_config_reloads_total", {{"result", "success"}}, 0));

  // Fixed, the same change goes through.
  dir.write("fleet.yaml", fleet_head(true) + "upstreams:\n" + upstream_yaml("b", {&b}) +
                              "routes:\n  - upstream: b\n");
  ASSERT_TRUE(reload(*fleet.child, 1));
  ParsedResponse res;
  ASSERT_TRUE(get(fleet.port, "test", "/fixed", res));
  EXPECT_EQ(answer(res), "b");
  EXPECT_TRUE(wait_metric(fleet.admin, "sluice_config_reloads_total", {{"result", "success"}}, 1));
  EXPECT_TRUE(wait_metric(fleet.admin, "sluice_config_reloads_total", {{"result", "failure"}}, 1));
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

TEST(FleetReload, ListenersAddedAnswerAndRemovedOnesStopWhileOthersKeepTheirConnections) {
  Backend a("a");
  TempDir dir;
  const std::string tail = "settings:\n  access_log: off\nupstreams:\n" + upstream_yaml("a", {&a}) +
                           "routes:\n  - upstream: a\n";
  const auto file = dir.write("fleet.yaml", "listeners:\n  - listen: 127.0.0.1:0\n" + tail);
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, false));

  // A keep-alive connection on the first listener, used before and after both reloads.
  std::unique_ptr<TestClient> kept;
  ASSERT_TRUE(TestClient::connect(fleet.port, kept));
  ParsedResponse res;
  ASSERT_TRUE(get_on(*kept, "/kept/1", res));
  EXPECT_EQ(answer(res), "a");

  // The second listener needs its address in the file: a port that was free a moment ago. If
  // something took it in between, the reload fails with "cannot listen" (changing nothing) and
  // another port is tried, three times in all, as start_sluice() does.
  std::uint16_t second = 0;
  std::size_t reloads = 0;
  for (int attempt = 0; attempt < 3 && second == 0; ++attempt) {
    const std::uint16_t port = free_port();
    ASSERT_NE(port, 0);
    dir.write("fleet.yaml", "listeners:\n  - listen: 127.0.0.1:0\n  - listen: 127.0.0.1:" +
                                std::to_string(port) + "\n" + tail);
    const std::size_t failed_before = count_of(fleet.child->err(), kKeptOld);
    fleet.child->send_signal(SIGHUP);
    ASSERT_TRUE(fleet.child->wait_stderr(
        [&](std::string_view err) {
          return count_of(err, kReloaded) > reloads || count_of(err, kKeptOld) > failed_before;
        },
        kProcessDeadline));
    if (count_of(fleet.child->err(), kReloaded) > reloads) {
      second = port;
      ++reloads;
    } else {
      ASSERT_TRUE(contains(fleet.child->err(), "cannot listen")) << fleet.child->err();
    }
  }
  ASSERT_NE(second, 0) << "no free port for the second listener in 3 tries";
  const std::string second_url = "http://127.0.0.1:" + std::to_string(second);
  EXPECT_TRUE(contains(fleet.child->err(), "sluice: SIGHUP: now listening on " + second_url))
      << fleet.child->err();
  ParsedResponse on_second;
  ASSERT_TRUE(get(second, "test", "/second", on_second));
  EXPECT_EQ(answer(on_second), "a");
  // A keep-alive connection on the second listener, idle when the listener is dropped.
  std::unique_ptr<TestClient> idle;
  ASSERT_TRUE(TestClient::connect(second, idle));
  ASSERT_TRUE(get_on(*idle, "/idle", res));
  EXPECT_EQ(answer(res), "a");

  // The second listener is dropped again. It has nothing in flight, so its stop does not wait
  // for the grace that in-flight responses get (5 s): the reload is done well before.
  dir.write("fleet.yaml", "listeners:\n  - listen: 127.0.0.1:0\n" + tail);
  const auto dropped_at = Clock::now();
  ASSERT_TRUE(reload(*fleet.child, reloads + 1));
  ASSERT_TRUE(fleet.child->wait_stderr(
      [&](std::string_view err) {
        return contains(err, "sluice: SIGHUP: stopped listening on " + second_url + "\n");
      },
      kProcessDeadline));
  EXPECT_LT(Clock::now() - dropped_at, 4s) << "the dropped listener's stop waited for its grace";
  std::unique_ptr<TestClient> refused;
  EXPECT_FALSE(TestClient::connect(second, refused)) << "the removed listener still accepts";
  // Its idle connection is closed, as at a stop.
  EXPECT_TRUE(idle->wait_closed());

  // The first listener's connection was never touched.
  ASSERT_FALSE(kept->peer_closed_now()) << "the first listener's connection was closed";
  ASSERT_TRUE(get_on(*kept, "/kept/2", res));
  EXPECT_EQ(answer(res), "a");
  ParsedResponse fresh;
  ASSERT_TRUE(get(fleet.port, "test", "/fresh", fresh));
  EXPECT_EQ(answer(fresh), "a");
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

// ---- Reload under load --------------------------------------------------------------------------

// What the client threads report to the test thread: counts it waits on (under the mutex, with
// a condition variable, so that every wait ends on the event or at its deadline) and failures.
struct Progress {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::size_t> events;  // per stream: events received so far
  std::vector<bool> ended;          // per stream: its thread is done
  std::size_t requests = 0;         // keep-alive responses received, all clients
  std::vector<std::string> failures;

  void fail(std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
    changed.notify_all();
  }
  // Waits until pred() (called under the mutex) holds or failures appear; false at the deadline.
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, deadline, [&] { return !failures.empty() || pred(); }) &&
           failures.empty();
  }
  bool ok() {
    std::lock_guard lock(mutex);
    return failures.empty();
  }
  std::string describe() {
    std::lock_guard lock(mutex);
    std::string text = std::to_string(requests) + " keep-alive responses; events per stream:";
    for (std::size_t e : events)
      text += " " + std::to_string(e);
    for (const auto& f : failures)
      text += "\nfailure: " + f;
    return text;
  }
};

// The events of an /events body: "id: k\ndata: event k\n\n" for k = 0, 1, ... then
// "event: end\ndata: <count>\n\n". Empty when the body is that, else what is wrong.
std::string check_events(std::string_view body) {
  std::size_t k = 0;
  std::size_t at = 0;
  for (;;) {
    const std::size_t end = body.find("\n\n", at);
    if (end == std::string_view::npos) return "no end event after " + std::to_string(k) + " events";
    const std::string_view event = body.substr(at, end - at);
    at = end + 2;
    const std::string n = std::to_string(k);
    if (event == "id: " + n + "\ndata: event " + n) {
      ++k;
      continue;
    }
    if (event != "event: end\ndata: " + n) {
      return "event " + n + " is \"" + std::string(event) + "\" (out of order or lost)";
    }
    if (at != body.size()) return "bytes after the end event";
    return "";
  }
}

TEST(FleetReload, TwentyReloadsUnderKeepAliveLoadAndFiftyStreamsLoseNothing) {
  constexpr std::size_t kStreams = 50;
  constexpr std::size_t kClients = 4;
  constexpr std::size_t kReloads = 20;
  Backend app1("app1");
  Backend app2("app2");
  Backend sse("sse");
  TempDir dir;
  // Two workers, so that requests and streams spread over two event loops (and two sets of
  // upstream pools). Every reload alternates the file between two versions that keep every
  // server: one with an extra route, one without.
  const auto version = [&](std::size_t n) {
    std::string text =
        "listeners:\n  - listen: 127.0.0.1:0\n"
        "settings:\n  access_log: off\n  threads: 2\n"
        "upstreams:\n" +
        upstream_yaml("app", {&app1, &app2}) + upstream_yaml("sse", {&sse}) +
        "routes:\n"
        "  - name: events\n    path_prefix: /events\n    upstream: sse\n";
    if (n % 2 == 1) text += "  - name: extra\n    path_prefix: /extra\n    upstream: app\n";
    return text + "  - name: app\n    upstream: app\n";
  };
  const auto file = dir.write("fleet.yaml", version(0));
  Fleet fleet;
  ASSERT_TRUE(start_fleet(file, fleet, false));

  Progress progress;
  progress.events.assign(kStreams, 0);
  progress.ended.assign(kStreams, false);
  std::vector<std::string> bodies(kStreams);  // each written by its stream's thread only
  std::atomic<bool> stop_clients{false};
  std::vector<std::thread> threads;
  // Joins every thread however the test ends (an ASSERT included): the clients stop at their
  // next request, the streams end with the upstream's end event.
  struct Joiner {
    std::vector<std::thread>& threads;
    std::function<void()> stop;
    ~Joiner() {
      stop();
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{threads, [&] {
             stop_clients.store(true);
             sse.finish_events();
           }};

  // The streams: each reads its response to the end, counting events as they arrive.
  for (std::size_t s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      std::unique_ptr<TestClient> client;
      if (!TestClient::connect(fleet.port, client) ||
          !client->send("GET /events/" + std::to_string(s) + " HTTP/1.1\r\nHost: test\r\n\r\n")) {
        progress.fail("stream " + std::to_string(s) + ": cannot connect or send");
        return;
      }
      // Long: the stream lasts as long as the reloads take. A cut ends the read at once.
      const auto read = client->read_until(
          [&](std::string_view got) {
            const ParsedResponse r = parse_response_prefix(got);
            {
              std::lock_guard lock(progress.mutex);
              progress.events[s] = count_of(r.body, "\ndata: event ");
            }
            progress.changed.notify_all();
            return r.complete;
          },
          60s);
      if (!read) {
        progress.fail("stream " + std::to_string(s) + ": " + read.message());
      } else {
        ParsedResponse r = parse_response_prefix(client->received());
        if (r.status != 200) progress.fail("stream " + std::to_string(s) + ": " + answer(r));
        bodies[s] = std::move(r.body);
      }
      std::lock_guard lock(progress.mutex);
      progress.ended[s] = true;
      progress.changed.notify_all();
    });
  }
  const auto every_stream = [&](std::size_t at_least) {
    return std::all_of(progress.events.begin(), progress.events.end(),
                       [&](std::size_t e) { return e >= at_least; });
  };
  ASSERT_TRUE(progress.wait([&] { return every_stream(1); }, 10s)) << progress.describe();

  // The keep-alive clients: one connection each, requests back to back until told to stop.
  for (std::size_t c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      std::unique_ptr<TestClient> client;
      if (!TestClient::connect(fleet.port, client)) {
        progress.fail("client " + std::to_string(c) + ": cannot connect");
        return;
      }
      for (std::size_t i = 0; !stop_clients.load(); ++i) {
        const std::string target = "/ka/" + std::to_string(c) + "/" + std::to_string(i);
        ParsedResponse res;
        if (auto got = get_on(*client, target, res); !got) {
          progress.fail("client " + std::to_string(c) + " " + target + ": " + got.message());
          return;
        }
        const std::string who = answer(res);
        if ((who != "app1" && who != "app2") || res.header("X-Seen-Target") != target) {
          progress.fail("client " + std::to_string(c) + " " + target + ": " + who);
          return;
        }
        std::lock_guard lock(progress.mutex);
        ++progress.requests;
        progress.changed.notify_all();
      }
    });
  }
  ASSERT_TRUE(progress.wait([&] { return progress.requests >= 4 * kClients; }))
      << progress.describe();

  std::size_t requests_at_first = 0;
  for (std::size_t r = 1; r <= kReloads; ++r) {
    dir.write("fleet.yaml", version(r));
    if (r == 1) {
      std::lock_guard lock(progress.mutex);
      requests_at_first = progress.requests;
    }
    ASSERT_TRUE(reload(*fleet.child, r)) << progress.describe();
    ASSERT_TRUE(progress.ok()) << "after reload " << r << ": " << progress.describe();
  }
  std::vector<std::size_t> events_at_last;
  std::size_t requests_at_last = 0;
  {
    std::lock_guard lock(progress.mutex);
    events_at_last = progress.events;
    requests_at_last = progress.requests;
  }
  // After the last reload every stream still delivers (on the generation it started with) and
  // the clients still get answers.
  ASSERT_TRUE(progress.wait(
      [&] {
        for (std::size_t s = 0; s < kStreams; ++s) {
          if (progress.events[s] < events_at_last[s] + 2) return false;
        }
        return progress.requests >= requests_at_last + kClients;
      },
      10s))
      << progress.describe();
  EXPECT_GT(requests_at_last, requests_at_first) << "no keep-alive request ran during the reloads";

  stop_clients.store(true);
  sse.finish_events();
  ASSERT_TRUE(progress.wait(
      [&] {
        return std::all_of(progress.ended.begin(), progress.ended.end(), [](bool e) { return e; });
      },
      10s))
      << progress.describe();
  for (auto& t : threads)
    t.join();
  {
    std::lock_guard lock(progress.mutex);
    EXPECT_TRUE(progress.failures.empty()) << progress.describe();
  }
  for (std::size_t s = 0; s < kStreams; ++s) {
    EXPECT_EQ(check_events(bodies[s]), "") << "stream " << s << ":\n" << bodies[s];
  }

  // No reconnect storm: the servers stayed in every version, so they kept their pools. The
  // streams need one connection each, and the keep-alive clients at most one per client per
  // server per worker pool they can land on (each client is on one worker): 2 per client.
  EXPECT_EQ(sse.accepted(), kStreams);
  EXPECT_LE(app1.accepted() + app2.accepted(), 2 * kClients)
      << "app1 " << app1.accepted() << ", app2 " << app2.accepted();
  EXPECT_EQ(count_of(fleet.child->err(), kReloaded), kReloads);
  ASSERT_TRUE(stop_cleanly(*fleet.child));
}

}  // namespace
}  // namespace sluice::test
