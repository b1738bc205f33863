// The client-connection session: limits and deadlines on the request head (SPEC L7, R24, R25,
// R32, R34), response framing guards, and the forced stop reaching every wait.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "server/idle_sessions.hpp"
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

FakeUpstream::Handler echo_target() {
  return [](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (!c.send(response(200, {}, "target=" + req.target))) return;
    }
  };
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

TEST(Session, L7_IdleKeepAliveConnectionClosedAfterIdleTimeout) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url(), {}, fast_timeouts());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "target=/one");
  ASSERT_TRUE(client->wait_closed());  // no 408 for an idle connection: just the close
  EXPECT_EQ(client->received(), "");
}

// A keep-alive connection that stays quiet longer than kParkAfter is parked (its session ends,
// IdleSessions keeps the socket): the next request on it must be served as before, by a new
// session, and the session count must stay exact (wait_for_no_sessions after the close).
TEST(Session, R25_ParkedKeepAliveConnectionServesItsNextRequests) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  for (const char* target : {"/first", "/second", "/third"}) {
    ASSERT_TRUE(client->send(std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, std::string("target=") + target);
    // The client's think time (it paces the client, it waits for nothing): well past the
    // park delay, so the next request finds the connection parked.
    std::this_thread::sleep_for(sluice::detail::kParkAfter * 5);
  }
  client.reset();  // the client leaves: the parked connection closes and is no longer counted
  EXPECT_TRUE(h.server().wait_for_no_sessions(5s));
}

// A graceful stop closes parked connections at once: it does not wait out its grace for them.
TEST(Session, R25_GracefulStopClosesParkedConnections) {
  FakeUpstream upstream;
  upstream.set_handler(echo_target());
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  std::this_thread::sleep_for(sluice::detail::kParkAfter * 5);  // the client's think time, as above
  auto stopped = std::async(std::launch::async, [&h] { h.stop(60s); });
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready)
      << "the stop waited for a parked keep-alive connection";
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->received(), "");
}

TEST(Session, R32_OversizedHeadIs431AndNothingForwarded) {
  FakeUpstream upstream;
  ServerOptions o;
  o.max_request_header_bytes = 4096;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(8000, 'a') +
                           "\r\n\r\n"));
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
  ASSERT_TRUE(client->send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\r\n"
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
    p.transport.response_header_timeout = 600s;
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
