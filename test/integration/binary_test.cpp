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
#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/test_client.hpp"

extern char** environ;

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A stop waits for in-flight responses for up to 5 s (twice in demo mode: proxy, then demo
// upstream) plus the cut; a healthy stop takes milliseconds, this only bounds a broken one.
constexpr std::chrono::milliseconds kExitDeadline = 15s;

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
    "--help",
    "--version",
};

std::string sluice_path() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / ".." / "app" / "sluice").lexically_normal().string();
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// A port that was free a moment ago: bind 127.0.0.1:0, read the port, close. Another process
// may take it before sluice binds it; start_sluice() retries then.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// One sluice process with stdout and stderr on pipes. Every wait is bounded; the destructor
// kills (SIGKILL) and reaps a child that is still running, so a failed test leaves none behind.
class Child {
 public:
  static testing::AssertionResult spawn(const std::vector<std::string>& args,
                                        std::unique_ptr<Child>& out) {
    std::unique_ptr<Child> child(new Child());
    int out_pipe[2];
    int err_pipe[2];
    // O_CLOEXEC: the child gets only the ends dup2'ed onto 1 and 2, not these (nor those of
    // a child spawned concurrently), so EOF on a pipe really means the child is done.
    if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      return testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
    }
    if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
    }
    child->out_fd_ = out_pipe[0];
    child->err_fd_ = err_pipe[0];

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    // The child starts with the signals it will be sent at their defaults and unblocked,
    // whatever this test process did with them.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigset_t defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const std::string path = sluice_path();
    std::vector<char*> argv;
    std::vector<std::string> storage{path};
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& s : storage)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&child->pid_, path.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      child->pid_ = -1;
      return testing::AssertionFailure() << "posix_spawn " << path << ": " << std::strerror(rc);
    }
    out = std::move(child);
    return testing::AssertionSuccess();
  }

  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void send_signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }

  // Reads stderr until pred(stderr so far) holds. Fails at the deadline or when the child
  // closes its stderr (it exited) first.
  testing::AssertionResult wait_stderr(const std::function<bool(std::string_view)>& pred,
                                       std::chrono::milliseconds deadline = kDeadline) {
    const auto until = Clock::now() + deadline;
    while (!pred(err_)) {
      if (err_fd_ < 0) {
        return testing::AssertionFailure() << "sluice closed its stderr (exited?) first; stderr:\n"
                                           << err_;
      }
      const auto now = Clock::now();
      if (now >= until) {
        return testing::AssertionFailure()
               << "condition not met on stderr within " << deadline.count() << "ms; stderr:\n"
               << err_;
      }
      pump(std::chrono::duration_cast<std::chrono::milliseconds>(until - now) + 1ms);
    }
    return testing::AssertionSuccess();
  }

  // Waits for the child to exit, reading its output meanwhile (a child blocked on a full pipe
  // would never exit). No sleeping: each round is a poll() on the pipes, short once they are
  // closed, followed by waitpid(WNOHANG).
  testing::AssertionResult wait_exit(int& status, std::chrono::milliseconds deadline = kDeadline) {
    const auto until = Clock::now() + deadline;
    while (!reap()) {
      if (Clock::now() >= until) {
        return testing::AssertionFailure()
               << "sluice did not exit within " << deadline.count() << "ms; stderr:\n"
               << err_;
      }
      pump(20ms);
    }
    // Whatever it wrote just before exiting.
    while (out_fd_ >= 0 || err_fd_ >= 0)
      pump(100ms);
    status = *status_;
    return testing::AssertionSuccess();
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  Child() = default;

  // One poll() over the open pipes for at most `timeout`; appends what arrived and closes a
  // pipe at EOF.
  void pump(std::chrono::milliseconds timeout) {
    pollfd fds[2];
    int* owners[2];
    std::string* sinks[2];
    nfds_t n = 0;
    if (out_fd_ >= 0) {
      fds[n] = {out_fd_, POLLIN, 0};
      owners[n] = &out_fd_;
      sinks[n++] = &out_;
    }
    if (err_fd_ >= 0) {
      fds[n] = {err_fd_, POLLIN, 0};
      owners[n] = &err_fd_;
      sinks[n++] = &err_;
    }
    const int ms = static_cast<int>(std::max<std::int64_t>(timeout.count(), 0));
    if (::poll(n > 0 ? fds : nullptr, n, ms) <= 0) return;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      while (true) {
        const ssize_t got = ::read(*owners[i], buf, sizeof buf);
        if (got > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        ::close(*owners[i]);  // EOF or a real error: nothing more will come
        *owners[i] = -1;
        break;
      }
    }
  }

  bool reap() {
    if (status_) return true;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_.has_value();
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<int> status_;
};

struct RunResult {
  int status = -1;  // as waitpid() reports it
  std::string out;
  std::string err;
};

// Runs sluice to completion (for commands that exit at once: --help, bad flags).
testing::AssertionResult run(const std::vector<std::string>& args, RunResult& result) {
  std::unique_ptr<Child> child;
  if (auto spawned = Child::spawn(args, child); !spawned) return spawned;
  if (auto exited = child->wait_exit(result.status); !exited) return exited;
  result.out = child->out();
  result.err = child->err();
  return testing::AssertionSuccess();
}

testing::AssertionResult exited_with(const RunResult& r, int code) {
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == code) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "expected exit status " << code << ", got "
                                     << describe_status(r.status) << "\nstdout:\n"
                                     << r.out << "\nstderr:\n"
                                     << r.err;
}

// Starts `sluice <args> --listen 127.0.0.1:<port>` and waits for its startup line. The port
// was free a moment ago; when something took it in between, sluice exits 1 ("cannot listen")
// and another port is tried, three times in all.
testing::AssertionResult start_sluice(const std::vector<std::string>& args,
                                      std::unique_ptr<Child>& child, std::uint16_t& port,
                                      std::string& startup_line) {
  std::string last_err;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port = free_port();
    if (port == 0) return testing::AssertionFailure() << "no free port: " << std::strerror(errno);
    std::vector<std::string> full = args;
    full.push_back("--listen");
    full.push_back("127.0.0.1:" + std::to_string(port));
    child.reset();
    if (auto spawned = Child::spawn(full, child); !spawned) return spawned;
    const std::string prefix = "sluice: listening on http://127.0.0.1:" + std::to_string(port);
    const auto started = child->wait_stderr([&](std::string_view err) {
      const auto at = err.find(prefix);
      return at != std::string_view::npos && err.find('\n', at) != std::string_view::npos;
    });
    if (started) {
      const auto at = child->err().find(prefix);
      startup_line = child->err().substr(at, child->err().find('\n', at) - at);
      return testing::AssertionSuccess();
    }
    last_err = child->err();
    if (last_err.find("cannot listen") == std::string::npos) return started;
    int status = 0;
    if (auto exited = child->wait_exit(status); !exited) return exited;
  }
  child.reset();
  return testing::AssertionFailure() << "sluice could not bind a free port 3 times; stderr:\n"
                                     << last_err;
}

// SIGTERM, then the exit within kExitDeadline, which must be status 0.
testing::AssertionResult stop_cleanly(Child& child) {
  child.send_signal(SIGTERM);
  int status = 0;
  if (auto exited = child.wait_exit(status, kExitDeadline); !exited) return exited;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "after SIGTERM: " << describe_status(status) << "; stderr:\n"
         << child.err();
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
  EXPECT_FALSE(c.server.access_log);
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
  };
  for (const auto& [flag, value] : cases) {
    std::vector<std::string> args;
    if (flag != "--upstream") args = {"--upstream", "http://127.0.0.1:9000"};
    args.push_back(flag);
    args.push_back(value);
    const Parsed p = parse(args);
    EXPECT_EQ(p.status(), app::kUsageError) << flag << " " << value;
    EXPECT_NE(p.err.find("sluice: " + flag + ": \"" + value + "\""), std::string::npos)
        << flag << " " << value << ": " << p.err;
  }
}

TEST(ParseConfig, DemoRefusesUpstream) {
  const Parsed p = parse({"demo", "--upstream", "http://127.0.0.1:9000"});
  EXPECT_EQ(p.status(), app::kUsageError);
  EXPECT_NE(p.err.find("--upstream"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace sluice::test
