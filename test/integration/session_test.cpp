// The client-connection session: limits and deadlines on the request head (SPEC L7, R24, R25,
// R32, R34), response framing guards, and the forced stop reaching every wait.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <semaphore>
#include <thread>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

ServerOptions fast_timeouts() {
  ServerOptions o;
  o.header_timeout = 200ms;
  o.idle_timeout = 300ms;
  return o;
}

using Clock = std::chrono::steady_clock;

// How late a deadline may be acted on and seen by the test: a timer firing, a close reaching the
// client, on a loaded 2-core machine under ASan/TSan.
constexpr auto kLate = 100ms;

FakeUpstream::Handler echo_target() {
  return [](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (!c.send(response(200, {}, "target=" + req.target))) return;
    }
  };
}

// An upstream that answers each request (with its target) only once the test lets it: a request
// stays in flight, its session busy, for as long as the test needs. `received` is released
// for each request read, `answer` is acquired before each answer. Both must outlive the
// upstream (declare them first).
using Gate = std::counting_semaphore<1000>;
FakeUpstream::Handler gated_echo_target(Gate& received, Gate& answer) {
  return [&received, &answer](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      received.release();
      if (!answer.try_acquire_for(kDeadline)) return;
      if (!c.send(response(200, {}, "target=" + req.target))) return;
    }
  };
}

// Waits until a server counter reads `n`. A counter has no event to wait on: polled, within the
// deadline.
testing::AssertionResult becomes(std::int64_t n, std::int64_t (Server::*counter)() const,
                                 const Server& server, std::string_view name,
                                 std::chrono::milliseconds deadline = kDeadline) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    const std::int64_t now = (server.*counter)();
    if (now == n) return testing::AssertionSuccess();
    if (Clock::now() >= until) {
      return testing::AssertionFailure()
             << name << "() is " << now << ", not " << n << ", after " << deadline.count() << " ms";
    }
    std::this_thread::sleep_for(1ms);
  }
}
testing::AssertionResult parked_becomes(const Server& server, std::int64_t n) {
  return becomes(n, &Server::parked_sessions, server, "parked_sessions");
}
testing::AssertionResult live_becomes(const Server& server, std::int64_t n) {
  return becomes(n, &Server::live_sessions, server, "live_sessions");
}

std::string ms(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0) +
         " ms";
}

TEST(Session, L7_SlowRequestHeadGets408AndClose) {
  FakeUpstream upstream;
  ProxyHarness h(upstream.url(), {}, fast_timeouts());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET / HTTP/1.1\r\nHost: slow"));  // and never the rest
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 408);
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(Session, L7_SilentConnectionClosedWithoutResponse) {
  FakeUpstream upstream;
  ProxyHarness h(upstream.url(), {}, fast_timeouts());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->received(), "");
}

// A new connection that has sent nothing holds no session: it waits parked, as an idle
// keep-alive connection does, and its first request is served as usual once it comes.
TEST(Session, L7_ANewSilentConnectionWaitsParkedThenIsServed) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(parked_becomes(h.server(), 1));
  EXPECT_EQ(h.server().live_sessions(), 1);  // counted as a session all the same (SPEC L2)
  ASSERT_TRUE(client->send("GET /late HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "target=/late");
}

// Parked until its first byte, a new connection still has header_timeout from its accept for
// its first head (SPEC L7, R34): a client cannot buy time by waiting before it starts.
TEST(Session, L7_TheFirstHeadDeadlineCountsFromTheAccept) {
  FakeUpstream upstream;
  ServerOptions options;
  options.header_timeout = 600ms;
  ProxyHarness h(upstream.url(), {}, options);
  const auto before_connect = Clock::now();
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(parked_becomes(h.server(), 1));
  // More than half the timeout before the first byte: counted from it, the 408 would come
  // 600 ms after it, far later than 600 ms after the accept.
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(client->send("GET / HTTP/1.1\r\nHost: slow"));  // and never the rest
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  const auto answered_at = Clock::now();
  EXPECT_EQ(res.status, 408);
  EXPECT_LE(answered_at - before_connect, options.header_timeout + kLate)
      << "408 after " << ms(answered_at - before_connect) << " since the connect";
}

TEST(Session, L7_IdleKeepAliveConnectionClosedAfterIdleTimeout) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  const ServerOptions options = fast_timeouts();
  ProxyHarness h(upstream.url(), {}, options);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ParsedResponse res;
  // A first exchange opens the upstream connection, so that the measured one is quick.
  ASSERT_TRUE(client->send("GET /warm HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  // The connection goes idle after its response is written: after the request was sent, before
  // the response arrived. Those two instants bound when idle_timeout started counting.
  const auto sent_at = Clock::now();
  ASSERT_TRUE(client->send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  const auto answered_at = Clock::now();
  EXPECT_EQ(res.body, "target=/one");
  ASSERT_TRUE(client->wait_closed());  // no 408 for an idle connection: just the close
  const auto closed_at = Clock::now();
  EXPECT_EQ(client->received(), "");
  // Not before idle_timeout (measured from an instant before the idle wait began, so no
  // tolerance is needed), and not much after it.
  EXPECT_GE(closed_at - sent_at, options.idle_timeout)
      << "closed " << ms(closed_at - sent_at) << " after the request was sent";
  EXPECT_LE(closed_at - answered_at, options.idle_timeout + kLate)
      << "closed " << ms(closed_at - answered_at) << " after the response arrived";
}

// A keep-alive connection that stays quiet longer than kParkAfter is parked (its session ends,
// IdleSessions keeps the socket): the next request on it must wake it and be served as before,
// by a new session, and the session counts must stay exact. The upstream answers only when the
// test lets it, so the woken connection is observed busy (not parked) while its request is in
// flight, without racing the next park.
TEST(Session, R25_ParkedKeepAliveConnectionServesItsNextRequests) {
  Gate received{0};
  Gate answer{0};
  FakeUpstream upstream;
  upstream.set_handler(gated_echo_target(received, answer));
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  for (const char* target : {"/first", "/second", "/third"}) {
    SCOPED_TRACE(target);
    ASSERT_TRUE(client->send(std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(received.try_acquire_for(kDeadline)) << "the request did not reach the upstream";
    // In flight: the connection has a session again, and nothing is parked.
    EXPECT_EQ(h.server().parked_sessions(), 0);
    EXPECT_EQ(h.server().live_sessions(), 1);
    answer.release();
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, std::string("target=") + target);
    // Quiet past kParkAfter: parked, and still counted as a live session (SPEC L2).
    ASSERT_TRUE(parked_becomes(h.server(), 1));
    EXPECT_EQ(h.server().live_sessions(), 1);
  }
  client.reset();  // the client leaves: the parked connection closes and is no longer counted
  EXPECT_TRUE(parked_becomes(h.server(), 0));
  EXPECT_TRUE(h.server().wait_for_no_sessions(5s));
}

// A graceful stop closes parked connections at once: it does not wait out its grace for them.
// A second connection keeps a request in flight, so the stop is still inside its (long) grace
// when the parked connection must already be closed.
TEST(Session, R25_GracefulStopClosesParkedConnections) {
  Gate received{0};
  Gate answer{0};
  FakeUpstream upstream;
  upstream.set_handler(gated_echo_target(received, answer));
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> idle;
  ASSERT_TRUE(TestClient::connect(h.port(), idle));
  ASSERT_TRUE(idle->send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
  answer.release();
  ParsedResponse res;
  ASSERT_TRUE(idle->read_response(res));
  EXPECT_EQ(res.body, "target=/one");
  ASSERT_TRUE(parked_becomes(h.server(), 1));

  std::unique_ptr<TestClient> busy;
  ASSERT_TRUE(TestClient::connect(h.port(), busy));
  ASSERT_TRUE(busy->send("GET /busy HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(received.try_acquire_for(kDeadline));  // /one
  ASSERT_TRUE(received.try_acquire_for(kDeadline)) << "/busy did not reach the upstream";

  auto stopped = std::async(std::launch::async, [&h] { h.stop(30s); });
  ASSERT_TRUE(idle->wait_closed()) << "the stop left a parked connection open";
  EXPECT_EQ(idle->received(), "");
  EXPECT_TRUE(parked_becomes(h.server(), 0));
  EXPECT_TRUE(live_becomes(h.server(), 1));  // the busy one only
  EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout)
      << "the stop did not wait for the request in flight";

  // The request in flight finishes within the grace; then the stop returns.
  answer.release();
  ASSERT_TRUE(busy->read_response(res));
  EXPECT_EQ(res.body, "target=/busy");
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(busy->wait_closed());
  EXPECT_EQ(h.server().live_sessions(), 0);
}

TEST(Session, R32_OversizedHeadIs431AndNothingForwarded) {
  FakeUpstream upstream;
  ServerOptions o;
  o.max_request_header_bytes = 4096;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(
      client->send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 431);
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(Session, MalformedRequestLineIs400AndClose) {
  FakeUpstream upstream;
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("NOT AN HTTP REQUEST\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 400);
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(Session, R24_PipelinedRequestsAnsweredInOrder) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(
      "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
      "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /d HTTP/1.1\r\nHost: t\r\n\r\n"));
  for (const char* target : {"/a", "/b", "/c", "/d"}) {
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, std::string("target=") + target);
  }
}

TEST(Session, EmptyLineBeforeARequestLineIsIgnored) {
  // RFC 9112 §2.2: some clients send a CRLF after a POST body.
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(
      client->send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\r\n"
                   "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
  for (const char* target : {"/a", "/b"}) {
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, std::string("target=") + target);
  }
}

TEST(Session, R25_Http10ClientConnectionClosedAfterResponse) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /x HTTP/1.0\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "target=/x");
  ASSERT_TRUE(client->wait_closed());
}

TEST(Session, R25_ConnectionCloseHonoured) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.header("Connection"), "close");
  ASSERT_TRUE(client->wait_closed());
}

TEST(Session, ContentLengthAHookGotWrongNeverSplitsTheStream) {
  // modify_response claims a longer body than the upstream sends: the response must be cut,
  // not completed, and a pipelined second request must never read as part of the first.
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url(), [](ReverseProxy& p) {
    p.modify_response = [](Response& res) -> std::error_code {
      res.content_length = 100;
      return {};
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client->wait_closed());
  auto first = parse_response_prefix(client->received());
  EXPECT_FALSE(first.complete);
  EXPECT_EQ(client->received().find("target=/b"), std::string::npos);
}

TEST(Session, ForcedStopReachesAWaitForTheUpstreamHead) {
  // The upstream never answers and the header timeout is long: only the stop signal can end
  // the exchange. stop() must return and the exchange must end as `shutdown`.
  FakeUpstream upstream;
  ProxyHarness h(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::response_header_timeout, 600s);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /hang HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  h.stop(50ms);
  ASSERT_TRUE(h.events().wait_for_ends(1));
  EXPECT_EQ(h.events().events().back().outcome, ResponseOutcome::shutdown);
  EXPECT_EQ(h.proxy().counts().in_flight_responses, 0);
  EXPECT_EQ(h.proxy().counts().upstream_busy, 0);
  ASSERT_TRUE(conn->wait_closed());
}

TEST(Session, SecondServerOnABusyPortFailsToStart) {
  // One acceptor per worker shares the port through SO_REUSEPORT; that must not let another
  // server (another process) join a port that is already taken.
  auto handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
    // A named local, not a temporary in the co_await operand: GCC 12 mis-sequences the
    // latter in some coroutines (see docs/architecture.md, conventions).
    SimpleResponse res{200, {}, "ok"};
    co_await ex.respond(std::move(res));
  };
  ServerOptions o;
  o.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
  o.threads = 2;
  Server first(o, handler);
  first.start();
  o.listen = first.local_endpoint();
  Server second(o, handler);
  EXPECT_THROW(second.start(), std::system_error);
  ParsedResponse res;
  ASSERT_TRUE(http_get(first.local_endpoint().port(), "/", res));
  EXPECT_EQ(res.body, "ok");
}

}  // namespace
}  // namespace sluice::test
