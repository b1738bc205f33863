// HealthChecker (src/fleet/health_checker.hpp) against FakeUpstream backends: a check passes on
// a 2xx/3xx head within `timeout` and fails otherwise, the server turns down after
// `unhealthy_after` failures in a row and up after `healthy_after` passes, each check is a new
// connection, and the checker stops promptly whatever its checks are doing.
//
// Every result is observed through the CheckObserver, which runs on the checker's thread: the
// test waits on a condition variable with a deadline, never on a sleep.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleet/health_checker.hpp"
#include "sluice/server.hpp"
#include "sluice/url.hpp"
#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/refusing_port.hpp"
#include "transport/server_health.hpp"
#include "transport/upstream_server.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct CheckResult {
  std::string server;
  bool passed = false;
  bool up = false;
  Clock::time_point at;
};

// Records the checker's results; must outlive the checker that calls it.
class CheckLog {
 public:
  HealthChecker::CheckObserver observer() {
    return [this](const UpstreamServer& server, bool passed, bool up) {
      std::lock_guard lock(mutex_);
      results_.push_back(CheckResult{server.key(), passed, up, Clock::now()});
      changed_.notify_all();
    };
  }

  // Waits until pred(results) holds (checked under the lock after every result).
  testing::AssertionResult wait_until(std::function<bool(const std::vector<CheckResult>&)> pred,
                                      std::string_view what,
                                      std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, deadline, [&] { return pred(results_); })) {
      return testing::AssertionSuccess();
    }
    auto failure = testing::AssertionFailure()
                   << what << ": not within " << deadline.count() << " ms; results so far:";
    for (const auto& r : results_)
      failure << " [" << (r.passed ? "pass" : "fail") << (r.up ? " up" : " down") << "]";
    return failure;
  }
  testing::AssertionResult wait_for_count(std::size_t n) {
    return wait_until([n](const auto& results) { return results.size() >= n; },
                      std::to_string(n) + " check results");
  }

  std::vector<CheckResult> results() const {
    std::lock_guard lock(mutex_);
    return results_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<CheckResult> results_;
};

// A one-shot flag a handler thread raises and the test waits for.
class Flag {
 public:
  void raise() {
    std::lock_guard lock(mutex_);
    raised_ = true;
    changed_.notify_all();
  }
  bool wait(std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [this] { return raised_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool raised_ = false;
};

HealthTarget target_for(const std::shared_ptr<UpstreamServer>& server, const std::string& url,
                        std::chrono::nanoseconds interval, std::chrono::nanoseconds timeout) {
  HealthTarget t;
  t.server = server;
  t.url = *Url::parse(url);
  t.interval = interval;
  t.timeout = timeout;
  return t;
}

// A server as a pool with health checks configures it.
std::shared_ptr<UpstreamServer> checked_server(const std::string& key, std::uint32_t healthy_after,
                                               std::uint32_t unhealthy_after) {
  auto server = std::make_shared<UpstreamServer>(key);
  server->configure(
      ServerHealth::Options{.healthy_after = healthy_after, .unhealthy_after = unhealthy_after},
      /*active_checks=*/true, 0);
  return server;
}

// Answers each check with `status` (changeable while the checks run), one request per
// connection, and records the requests.
class StatusBackend {
 public:
  explicit StatusBackend(int status) : status_(status) {
    upstream_.set_handler([this](UpstreamConn& conn) {
      std::size_t on_this_connection = 0;
      for (;;) {
        RecordedRequest req;
        // The checker closes its connection after the answer: the read ends then.
        if (!conn.read_request(req)) break;
        ++on_this_connection;
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(std::move(req));
        }
        if (!conn.send(response(status_.load(), {}, "health"))) break;
      }
      std::lock_guard lock(mutex_);
      most_on_one_connection_ = std::max(most_on_one_connection_, on_this_connection);
    });
  }
  void set_status(int status) { status_ = status; }
  std::string url(std::string_view path) const { return upstream_.url(path); }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t most_on_one_connection() const {
    std::lock_guard lock(mutex_);
    return most_on_one_connection_;
  }
  std::size_t connections() const { return upstream_.accepted_count(); }

 private:
  std::atomic<int> status_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::size_t most_on_one_connection_ = 0;
  FakeUpstream upstream_;  // last: destroyed first, joining the handlers that use the rest
};

// Reads the check's request, raises `arrived`, and never answers: the connection stays open
// until the checker closes it (its timeout, or its stop) or the upstream stops.
class SilentBackend {
 public:
  SilentBackend() {
    upstream_.set_handler([this](UpstreamConn& conn) {
      RecordedRequest req;
      if (!conn.read_request(req)) return;
      arrived_.raise();
      if (conn.wait_closed(std::chrono::minutes(1))) closed_.raise();
    });
  }
  std::string url(std::string_view path) const { return upstream_.url(path); }
  Flag& arrived() { return arrived_; }
  Flag& closed() { return closed_; }

 private:
  Flag arrived_, closed_;
  FakeUpstream upstream_;  // last: destroyed first
};

// ---- Results and state -----------------------------------------------------------------------

TEST(HealthCheck, ServerAnswering200StaysUp) {
  StatusBackend backend(200);
  CheckLog log;
  auto server = checked_server(backend.url(""), 1, /*unhealthy_after=*/1);
  {
    HealthChecker checker({target_for(server, backend.url("/healthz"), 10ms, 1s)}, log.observer());
    ASSERT_TRUE(log.wait_for_count(5));
  }
  for (const auto& r : log.results()) {
    EXPECT_TRUE(r.passed);
    EXPECT_TRUE(r.up);
    EXPECT_EQ(r.server, backend.url(""));
  }
  EXPECT_TRUE(server->up());

  // What a check sends: a GET of the check path on a connection of its own, never reused.
  const auto requests = backend.requests();
  ASSERT_GE(requests.size(), 5u);
  for (const auto& req : requests) {
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.target, "/healthz");
    EXPECT_EQ(req.header("Connection"), "close");
    EXPECT_EQ(req.header("User-Agent"), "sluice-health-check");
  }
  EXPECT_EQ(backend.most_on_one_connection(), 1u);
  EXPECT_GE(backend.connections(), requests.size());
}

TEST(HealthCheck, FailingServerTurnsDownThenUpWhenItRecovers) {
  StatusBackend backend(503);
  CheckLog log;
  auto server = checked_server(backend.url(""), /*healthy_after=*/2, /*unhealthy_after=*/3);
  HealthChecker checker({target_for(server, backend.url("/healthz"), 10ms, 1s)}, log.observer());

  // Three failures in a row, and only the third turns it down.
  ASSERT_TRUE(log.wait_for_count(3));
  auto results = log.results();
  EXPECT_FALSE(results[0].passed);
  EXPECT_TRUE(results[0].up);
  EXPECT_FALSE(results[1].passed);
  EXPECT_TRUE(results[1].up);
  EXPECT_FALSE(results[2].passed);
  EXPECT_FALSE(results[2].up) << "still up after unhealthy_after (3) failures";

  backend.set_status(200);
  ASSERT_TRUE(log.wait_until(
      [](const auto& rs) {
        return std::any_of(rs.begin(), rs.end(), [](const auto& r) { return r.passed && r.up; });
      },
      "a passing check with the server up"));
  EXPECT_TRUE(server->up());
  // Checks that began before the switch may still fail; from the first pass on, it takes
  // exactly healthy_after (2) passes to come back.
  results = log.results();
  const auto first_pass =
      std::find_if(results.begin(), results.end(), [](const CheckResult& r) { return r.passed; });
  ASSERT_NE(first_pass, results.end());
  ASSERT_NE(first_pass + 1, results.end());
  EXPECT_FALSE(first_pass->up) << "up after one pass; healthy_after is 2";
  EXPECT_TRUE((first_pass + 1)->passed);
  EXPECT_TRUE((first_pass + 1)->up);
  ASSERT_GE(first_pass - results.begin(), 3);
  for (auto it = results.begin() + 3; it != first_pass; ++it)
    EXPECT_FALSE(it->up) << "a failing check brought the server up";
}

TEST(HealthCheck, RefusedCheckFails) {
  RefusingPort refusing;
  CheckLog log;
  auto server = checked_server(refusing.url(), 2, /*unhealthy_after=*/2);
  HealthChecker checker({target_for(server, refusing.url() + "/healthz", 10ms, 1s)},
                        log.observer());
  ASSERT_TRUE(log.wait_for_count(2));
  const auto results = log.results();
  EXPECT_FALSE(results[0].passed);
  EXPECT_TRUE(results[0].up);
  EXPECT_FALSE(results[1].passed);
  EXPECT_FALSE(results[1].up);
  EXPECT_FALSE(server->up());
}

// A check that gets no answer within `timeout` fails at the timeout, and closes its connection.
TEST(HealthCheck, CheckSlowerThanTimeoutFails) {
  SilentBackend backend;
  CheckLog log;
  auto server = checked_server(backend.url(""), 1, /*unhealthy_after=*/1);
  constexpr auto kTimeout = 200ms;
  const auto started = Clock::now();
  HealthChecker checker({target_for(server, backend.url("/healthz"), 1h, kTimeout)},
                        log.observer());
  ASSERT_TRUE(backend.arrived().wait());
  ASSERT_TRUE(log.wait_for_count(1));
  const auto result = log.results().front();
  EXPECT_FALSE(result.passed);
  EXPECT_FALSE(result.up);
  EXPECT_FALSE(server->up());
  EXPECT_GE(result.at - started, kTimeout) << "failed before its timeout";
  EXPECT_TRUE(backend.closed().wait()) << "the timed-out check left its connection open";
}

// ---- Stopping ---------------------------------------------------------------------------------

// The destructor abandons a check in progress (its timeout is far away) and returns at once; the
// abandoned check reports nothing, and its connection is closed.
TEST(HealthCheck, AServerThatSpeaksHttp2IsCheckedOverHttp2) {
  // 200 only to an HTTP/2 request, as an h2-only server (gRPC) answers nothing else.
  ServerOptions options;
  options.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
  options.access_log = AccessLog::off;
  options.log = [](std::string_view) {};
  Server upstream(options, [](Exchange& ex) -> boost::asio::awaitable<void> {
    SimpleResponse res{ex.request().version == 20 ? 200u : 505u, {}, {}};
    co_await ex.respond(std::move(res));
  });
  upstream.start();
  const std::string url =
      "http://127.0.0.1:" + std::to_string(upstream.local_endpoint().port()) + "/healthz";
  auto h2 = checked_server("h2", 1, 1);
  auto h1 = checked_server("h1", 1, 1);
  HealthTarget over_h2 = target_for(h2, url, 50ms, 1s);
  over_h2.http2 = true;
  CheckLog log;
  {
    HealthChecker checker({over_h2, target_for(h1, url, 50ms, 1s)}, log.observer());
    ASSERT_TRUE(log.wait_until(
        [](const auto& results) {
          bool h2_passed = false;
          bool h1_failed = false;
          for (const auto& r : results) {
            h2_passed = h2_passed || (r.server == "h2" && r.passed);
            h1_failed = h1_failed || (r.server == "h1" && !r.passed);
          }
          return h2_passed && h1_failed;
        },
        "a pass over HTTP/2 and a fail over HTTP/1"));
  }
  upstream.stop(0s);
}

TEST(HealthCheck, DestructorReturnsPromptlyDuringACheck) {
  SilentBackend backend;
  CheckLog log;
  auto server = checked_server(backend.url(""), 1, 1);
  auto checker = std::make_unique<HealthChecker>(
      std::vector<HealthTarget>{target_for(server, backend.url("/healthz"), 10ms, 30s)},
      log.observer());
  ASSERT_TRUE(backend.arrived().wait());

  const auto stopping = Clock::now();
  checker.reset();
  const auto took = Clock::now() - stopping;
  EXPECT_LT(took, 1s) << "the destructor waited for the check ("
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms)";
  EXPECT_TRUE(log.results().empty()) << "an abandoned check was reported";
  EXPECT_TRUE(server->up());
  EXPECT_TRUE(backend.closed().wait()) << "the abandoned check left its connection open";
}

// Between checks the loop waits for its interval (an hour here): the stop ends that wait too.
TEST(HealthCheck, DestructorReturnsPromptlyBetweenChecks) {
  StatusBackend backend(200);
  CheckLog log;
  auto server = checked_server(backend.url(""), 1, 1);
  auto checker = std::make_unique<HealthChecker>(
      std::vector<HealthTarget>{target_for(server, backend.url("/healthz"), 1h, 1s)},
      log.observer());
  ASSERT_TRUE(log.wait_for_count(1));

  const auto stopping = Clock::now();
  checker.reset();
  EXPECT_LT(Clock::now() - stopping, 1s);
  EXPECT_EQ(log.results().size(), 1u);
}

// Several targets run side by side on the one thread: a silent server does not hold up the
// checks of a healthy one.
TEST(HealthCheck, SlowServerDoesNotDelayTheOthers) {
  SilentBackend silent;
  StatusBackend healthy(200);
  CheckLog log;
  auto slow_server = checked_server(silent.url(""), 1, 1);
  auto fast_server = checked_server(healthy.url(""), 1, 1);
  HealthChecker checker({target_for(slow_server, silent.url("/healthz"), 10ms, 30s),
                         target_for(fast_server, healthy.url("/healthz"), 10ms, 1s)},
                        log.observer());
  ASSERT_TRUE(silent.arrived().wait());
  const std::string fast_key = healthy.url("");
  ASSERT_TRUE(log.wait_until(
      [&](const auto& rs) {
        return std::count_if(rs.begin(), rs.end(),
                             [&](const auto& r) { return r.server == fast_key && r.passed; }) >= 3;
      },
      "three passing checks of the healthy server"));
  EXPECT_TRUE(slow_server->up()) << "the silent server's check is still in progress";
}

}  // namespace
}  // namespace sluice::test
