// SPEC L1, L7, R36 at the edges of the flush timer's life: observers that break the "must not
// throw" rule, and an upstream that goes silent after its head, before anything was sent. Tests
// wait on the lifecycle events (EventLog) and on the wire with deadlines; nothing sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/error.hpp"
#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice {
// Readable failure messages ("shutdown", not "4-byte object <04-00 00-00>"); found by ADL.
static void PrintTo(FlushStopReason reason, std::ostream* os) { *os << to_string(reason); }
static void PrintTo(ResponseOutcome outcome, std::ostream* os) { *os << to_string(outcome); }
}  // namespace sluice

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::size_t count_kind(const std::vector<Event>& events, Event::Kind kind) {
  return static_cast<std::size_t>(std::count_if(events.begin(), events.end(),
                                                [kind](const Event& e) { return e.kind == kind; }));
}

std::optional<Event> first(const std::vector<Event>& events, Event::Kind kind) {
  for (const auto& e : events) {
    if (e.kind == kind) return e;
  }
  return std::nullopt;
}

testing::AssertionResult counters_at_rest(ProxyHarness& h) {
  const auto c = h.proxy().counts();
  if (c.in_flight_responses != 0 || c.armed_flush_timers != 0 || c.upstream_busy != 0) {
    return testing::AssertionFailure()
           << "in_flight=" << c.in_flight_responses << " armed=" << c.armed_flush_timers
           << " busy=" << c.upstream_busy;
  }
  if (!h.server().wait_for_no_sessions(kDeadline)) {
    return testing::AssertionFailure() << "sessions still live: " << h.server().live_sessions();
  }
  return testing::AssertionSuccess();
}

// How many times each throwing callback ran (and threw).
struct Throws {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::atomic<int> client_write{0};
};

// The EventLog's callbacks (already in p.observer), each followed by a throw: the event is
// recorded first, so the test still sees what the proxy reported.
void make_observer_throw(ReverseProxy& p, Throws& throws) {
  const Observer log = p.observer;
  p.observer.flush_timer_started = [log, &throws](ResponseId id) {
    log.flush_timer_started(id);
    ++throws.started;
    throw std::runtime_error("flush_timer_started observer bug");
  };
  p.observer.flush_timer_stopped = [log, &throws](ResponseId id, FlushStopReason reason) {
    log.flush_timer_stopped(id, reason);
    ++throws.stopped;
    throw std::runtime_error("flush_timer_stopped observer bug");
  };
  p.observer.client_write = [log, &throws](ResponseId id, std::size_t bytes) {
    log.client_write(id, bytes);
    ++throws.client_write;
    throw std::logic_error("client_write observer bug");
  };
}

// The flush interval of each run: negative (flush after every write) and positive (a timer
// that falls due while the body is still coming).
class ThrowingObservers : public testing::TestWithParam<std::chrono::nanoseconds> {};

// events.hpp: callbacks must not throw, and one that does is swallowed. Whatever throws, the
// response reaches the client whole, ends `complete`, and its flush timer stops exactly once
// with reason `complete`; the connection stays usable for a second request.
TEST_P(ThrowingObservers, L1_ResponseStillCompleteAndTimerStopsOnceAsComplete) {
  const std::string part1(3000, 'a');
  const std::string part2(2000, 'b');
  FakeUpstream upstream;
  Throws throws;
  const auto interval = GetParam();
  ProxyHarness h(upstream.url(), [&throws, interval](ReverseProxy& p) {
    p.flush_interval = interval;
    make_observer_throw(p, throws);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + part1));
  // Part of the body is out (a flush ran, the observers threw) before the rest comes.
  ASSERT_TRUE(client->read_until(
      [&](std::string_view got) { return got.find(part1) != std::string_view::npos; }));
  ASSERT_TRUE(conn->send(part2));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.body, part1 + part2);

  ASSERT_TRUE(h.events().wait_for_ends(1));
  auto events = h.events().events();
  const auto end = first(events, Event::end);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->outcome, ResponseOutcome::complete) << to_string(end->outcome);
  EXPECT_EQ(count_kind(events, Event::started), 1u);
  ASSERT_EQ(count_kind(events, Event::stopped), 1u);
  EXPECT_EQ(first(events, Event::stopped)->reason, FlushStopReason::complete)
      << to_string(first(events, Event::stopped)->reason);
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  EXPECT_EQ(throws.started.load(), 1);
  EXPECT_EQ(throws.stopped.load(), 1);
  EXPECT_GE(throws.client_write.load(), 2) << "the head+first part and the rest were written";
  std::size_t written = 0;
  for (const auto& e : events)
    written += e.kind == Event::write ? e.bytes : 0;
  EXPECT_GE(written, part1.size() + part2.size());

  // The same client connection serves the next request: nothing was torn down by the throws.
  ASSERT_TRUE(client->send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n"));
  RecordedRequest req2;
  ASSERT_TRUE(conn->read_request(req2)) << "the upstream connection was not reused";
  EXPECT_EQ(req2.target, "/second");
  ASSERT_TRUE(conn->send(response(200, {}, "again")));
  ParsedResponse res2;
  ASSERT_TRUE(client->read_response(res2));
  EXPECT_EQ(res2.status, 200);
  EXPECT_EQ(res2.body, "again");
  ASSERT_TRUE(h.events().wait_for_ends(2));
  events = h.events().events();
  EXPECT_EQ(count_kind(events, Event::started), 2u);
  EXPECT_EQ(count_kind(events, Event::stopped), 2u);
  for (const auto& e : events) {
    if (e.kind == Event::stopped) {
      EXPECT_EQ(e.reason, FlushStopReason::complete);
    }
    if (e.kind == Event::end) {
      EXPECT_EQ(e.outcome, ResponseOutcome::complete);
    }
  }
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  client->close();
  EXPECT_TRUE(counters_at_rest(h));
}

INSTANTIATE_TEST_SUITE_P(Intervals, ThrowingObservers, testing::Values(-1ns, 5ms),
                         [](const testing::TestParamInfo<std::chrono::nanoseconds>& param) {
                           return param.param.count() < 0 ? std::string("Negative")
                                                          : std::string("Positive");
                         });

// SPEC L7, R36: the upstream sends a head with Content-Length: 100 and then nothing. With
// flush_interval 0 the head is held, so when idle_read_timeout passes nothing of the response
// has been sent: the client gets a proper 504 (a timeout, not a 502), the error handler is told
// errc::upstream_idle_timeout, and the log says it was a timeout, not a close.
TEST(UpstreamIdle, R36_IdleTimeoutBeforeAnythingWasSentIs504WithTheTimeoutError) {
  static constexpr auto kIdle = 300ms;
  FakeUpstream upstream;
  std::mutex mutex;
  std::vector<std::error_code> handled;
  ProxyHarness h(upstream.url(), [&](ReverseProxy& p) {
    p.flush_interval = 0ns;
    set_transport_option(p, &TransportOptions::idle_read_timeout, kIdle);
    p.error_handler = [&](const Request&, std::error_code ec) {
      {
        std::lock_guard lock(mutex);
        handled.push_back(ec);
      }
      SimpleResponse res{default_error_status(ec), {}, "handled: " + ec.message()};
      res.header.set("X-Handled", "1");
      return res;
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  const auto sent_at = Clock::now();
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
  // ... and nothing more, with the connection left open.

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_GE(Clock::now() - sent_at, kIdle) << "answered before the idle timeout";
  EXPECT_EQ(res.status, 504) << "an idle timeout before anything was sent is a gateway timeout";
  EXPECT_EQ(res.header("X-Handled"), "1") << "the custom error handler did not answer";
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.body, "handled: " + make_error_code(errc::upstream_idle_timeout).message());
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(handled.size(), 1u);
    EXPECT_EQ(handled[0], errc::upstream_idle_timeout) << handled[0].message();
  }
  EXPECT_TRUE(conn->wait_closed()) << "the silent upstream connection was left open";

  ASSERT_TRUE(h.events().wait_for_ends(1));
  const auto events = h.events().events();
  EXPECT_EQ(first(events, Event::end)->outcome, ResponseOutcome::error_response)
      << to_string(first(events, Event::end)->outcome);
  EXPECT_EQ(count_kind(events, Event::started), 0u) << "flush_interval 0 starts no timer";
  EXPECT_TRUE(h.events().check_flush_lifecycle());

  const auto lines = h.log_lines();
  std::string all;
  for (const auto& line : lines)
    all += line + "\n";
  EXPECT_TRUE(h.log_contains("/stall")) << all;
  EXPECT_TRUE(h.log_contains("idle timeout")) << "the log does not name the timeout:\n" << all;
  EXPECT_FALSE(h.log_contains("closed")) << "the log blames a close for a timeout:\n" << all;

  client->close();
  EXPECT_TRUE(counters_at_rest(h));
}

// ReverseProxy::serve promises never to throw. A throwing `error_log` sink used to escape it
// (log_error called the sink unguarded): here the upstream goes silent after its head with a
// flush timer armed (interval longer than the idle timeout, so nothing was sent), and
// answer_error's log line throws. The exception unwound relay_response, ~FlushWriter stopped the
// timer with `shutdown` instead of `upstream_timeout`, and the session's fallback 500 went out
// through the same exchange with the proxy's observer still attached: a client_write after
// flush_timer_stopped and response_end, which L1 forbids. The sink's throw is contained now, and
// the ending is what it is with a sink that does not throw.
TEST(UpstreamIdle, ThrowingErrorLogSinkDoesNotChangeTheEnding) {
  static constexpr auto kIdle = 300ms;
  FakeUpstream upstream;
  std::atomic<int> log_throws{0};
  ProxyHarness h(upstream.url(), [&log_throws](ReverseProxy& p) {
    p.flush_interval = 10s;  // a timer is armed, and falls due long after the idle timeout
    set_transport_option(p, &TransportOptions::idle_read_timeout, kIdle);
    p.error_log = [&log_throws](std::string_view) {
      ++log_throws;
      throw std::runtime_error("error_log sink bug");
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 504) << res.body;
  ASSERT_TRUE(h.events().wait_for_ends(1));
  const auto events = h.events().events();
  ASSERT_EQ(count_kind(events, Event::stopped), 1u);
  EXPECT_EQ(first(events, Event::stopped)->reason, FlushStopReason::upstream_timeout);
  EXPECT_EQ(first(events, Event::end)->outcome, ResponseOutcome::error_response);
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  EXPECT_GE(log_throws.load(), 1);
  client->close();
  EXPECT_TRUE(counters_at_rest(h));
}

// A BufferPool whose get() throws once the head is out: an exception in the middle of a
// response. serve() contains it: the flush timer is stopped exactly once by the writer's
// destructor (`shutdown`, the last row of the endings table), response_end comes last, nothing
// is written to the client after it (the session's fallback answer is not the proxy's event),
// and the client sees the response cut, not completed.
class ThrowingPool final : public BufferPool {
 public:
  std::span<char> get() override { throw std::runtime_error("buffer pool bug"); }
  void put(std::span<char>) override {}
};

TEST(ExceptionMidStream, FlushTimerStopsOnceAndTheResponseIsCut) {
  FakeUpstream upstream;
  ThrowingPool pool;
  ProxyHarness h(upstream.url(), [&pool](ReverseProxy& p) {
    p.flush_interval = -1ns;  // the head is flushed at start(): the response is under way
    p.buffer_pool = &pool;
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /throws HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));

  EXPECT_TRUE(client->wait_closed()) << "the cut response must close the connection";
  EXPECT_EQ(client->received().find("hello"), std::string::npos) << client->received();
  ASSERT_TRUE(h.events().wait_for_ends(1));
  const auto events = h.events().events();
  ASSERT_EQ(count_kind(events, Event::started), 1u);
  ASSERT_EQ(count_kind(events, Event::stopped), 1u);
  EXPECT_EQ(first(events, Event::stopped)->reason, FlushStopReason::shutdown);
  EXPECT_EQ(events.back().kind, Event::end) << "response_end must be the last event";
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  EXPECT_TRUE(conn->wait_closed()) << "the upstream connection must be closed";
  EXPECT_TRUE(counters_at_rest(h));
}

}  // namespace
}  // namespace sluice::test
