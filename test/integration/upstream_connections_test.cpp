// SPEC E (34, 35), L6 (reuse rules and the single safe retry, R45) and L2 (counters back to
// zero): the proxy's upstream connections as the upstream sees them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/full_listener.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

testing::AssertionResult wait_outcome(EventLog& log, ResponseOutcome outcome,
                                      std::chrono::milliseconds deadline) {
  return log.wait_until(
      [outcome](const std::vector<Event>& events) {
        return std::any_of(events.begin(), events.end(), [outcome](const Event& e) {
          return e.kind == Event::end && e.outcome == outcome;
        });
      },
      std::string("response_end outcome=") + to_string(outcome), deadline);
}

testing::AssertionResult wait_outcome(EventLog& log, ResponseOutcome outcome) {
  return wait_outcome(log, outcome, kDeadline);
}

std::size_t bytes_after_head(std::string_view received) {
  const auto end = received.find("\r\n\r\n");
  return end == std::string_view::npos ? 0 : received.size() - (end + 4);
}

std::string get(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: example\r\n\r\n";
}

// Reads the next request on `conn` and checks its method and target.
void expect_request(UpstreamConn& conn, std::string_view method, std::string_view target,
                    RecordedRequest* out = nullptr) {
  RecordedRequest req;
  ASSERT_TRUE(conn.read_request(req));
  EXPECT_EQ(req.method, method);
  EXPECT_EQ(req.target, target);
  if (out != nullptr) *out = std::move(req);
}

// The client's next response is a 200 with `body`.
void expect_ok(TestClient& client, std::string_view body) {
  ParsedResponse res;
  ASSERT_TRUE(client.read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, body);
}

// One keep-alive round trip on `client`, served by `conn` (which must be the connection the proxy
// uses for it).
void round_trip_on(TestClient& client, UpstreamConn& conn, std::string_view target) {
  ASSERT_TRUE(client.send(get(target)));
  ASSERT_NO_FATAL_FAILURE(expect_request(conn, "GET", target));
  ASSERT_TRUE(conn.send(response(200, {}, "served " + std::string(target))));
  ASSERT_NO_FATAL_FAILURE(expect_ok(client, "served " + std::string(target)));
}

// A GET on `client` that the proxy must send on a new upstream connection.
void expect_ok_via_new_connection(FakeUpstream& upstream, TestClient& client,
                                  std::string_view target) {
  ASSERT_TRUE(client.send(get(target)));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn, "GET", target));
  ASSERT_TRUE(conn->send(response(200, {}, "fresh " + std::string(target))));
  ASSERT_NO_FATAL_FAILURE(expect_ok(client, "fresh " + std::string(target)));
}

// ---- SPEC 34: client cancellation --------------------------------------------------------------

TEST(UpstreamConnections, Spec34_ClientCancelClosesUpstream) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/slow")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn, "GET", "/slow"));
  // The upstream holds the request; the client gives up.
  client->close();

  EXPECT_TRUE(conn->wait_closed()) << "the upstream request was not cancelled";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::client_gone));
  EXPECT_TRUE(proxy.log_contains("client aborted"));
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 0);
}

TEST(UpstreamConnections, Spec34_ClientCancelMidBodyClosesUpstream) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.flush_interval = -1ns; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/download")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn, "GET", "/download"));
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'd')));
  ASSERT_TRUE(
      client->read_until([](std::string_view got) { return bytes_after_head(got) >= 1000; }));
  client->close();

  EXPECT_TRUE(conn->wait_closed()) << "the upstream body stream was not cancelled";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::client_gone));
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 0);
}

// SPEC 34 / R47 / L4 while the proxy is still connecting (Go: the dial uses the request's
// context): a client that leaves ends the exchange as a client abort, without waiting for
// connect_timeout, and is not logged as an upstream error.
TEST(UpstreamConnections, Spec34_ClientCancelDuringConnectEndsExchange) {
  FullListener listener;
  if (!listener.queue_full()) {
    GTEST_SKIP() << "cannot make a loopback connect hang here (accept queue not reported full)";
  }
  ProxyHarness proxy(listener.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::connect_timeout, 3s);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(client->send(get("/connecting")));
  client->close();

  // Ends at the latest with the connect timeout (3 s, within the wait's deadline).
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  const auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_LT(took, 1500ms) << "the exchange outlived its client until the connect timeout ("
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms)";
  std::vector<std::string> ends;
  for (const auto& e : proxy.events().events()) {
    if (e.kind == Event::end) ends.emplace_back(to_string(e.outcome));
  }
  EXPECT_EQ(ends, std::vector<std::string>{"client_gone"});
  for (const auto& line : proxy.log_lines()) {
    EXPECT_EQ(line.find("upstream error"), std::string::npos)
        << "a client abort was logged as an upstream error: " << line;
  }
}

// ---- SPEC 35: reuse --------------------------------------------------------------------------

TEST(UpstreamConnections, Spec35_UpstreamConnectionReused) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  // The client asks for close: outbound Close is cleared anyway (SPEC 15).
  ASSERT_TRUE(client->send("GET /first HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn, "GET", "/first", &req));
  EXPECT_EQ(req.count("Connection"), 0u) << "the client's Connection: close went upstream";
  ASSERT_TRUE(conn->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));
  ASSERT_TRUE(client->wait_closed());

  // A second client, a second request: same upstream connection.
  std::unique_ptr<TestClient> second;
  ASSERT_TRUE(TestClient::connect(proxy.port(), second));
  ASSERT_NO_FATAL_FAILURE(round_trip_on(*second, *conn, "/second"));
  ASSERT_TRUE(proxy.events().wait_for_ends(2));
  EXPECT_EQ(upstream.accepted_count(), 1u);
  const auto counts = proxy.proxy().counts();
  EXPECT_EQ(counts.upstream_idle, 1);
  EXPECT_EQ(counts.upstream_busy, 0);
}

// A backend `Connection: close` ends the upstream hop only.
TEST(UpstreamConnections, Spec35_UpstreamConnectionCloseAffectsOnlyUpstreamHop) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/first")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/first"));
  ASSERT_TRUE(first->send(response(200, {{"Connection", "close"}}, "one")));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "one");
  EXPECT_EQ(res.count("Connection"), 0u) << "the upstream's Connection: close reached the client";
  // The proxy honours the close on its side (the backend here keeps its end open).
  EXPECT_TRUE(first->wait_closed());

  // The client connection is still usable; the next request needs a new upstream connection.
  ASSERT_TRUE(client->send(get("/second")));
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(upstream.accept(second));
  ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/second"));
  ASSERT_TRUE(second->send(response(200, {}, "two")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "two"));
  EXPECT_FALSE(client->peer_closed_now());
  EXPECT_EQ(upstream.accepted_count(), 2u);
}

// ---- SPEC L6: reuse rules ----------------------------------------------------------------------

TEST(UpstreamConnections, L6_NotPooledAfterTruncatedResponse) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::idle_read_timeout, 300ms);
    p.flush_interval = -1ns;
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/partial")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/partial"));
  // 10 of 1000 bytes, then silence on a connection that stays open.
  ASSERT_TRUE(first->send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"));
  ASSERT_TRUE(client->wait_closed());
  EXPECT_FALSE(parse_response_prefix(client->received()).complete);
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::truncated));
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 0) << "a truncated connection was pooled";
  // Its unread 990 bytes would be taken for the next response: it must be closed.
  EXPECT_TRUE(first->wait_closed());

  std::unique_ptr<TestClient> next;
  ASSERT_TRUE(TestClient::connect(proxy.port(), next));
  ASSERT_TRUE(next->send(get("/after")));
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(upstream.accept(second));
  ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/after"));
  ASSERT_TRUE(second->send(response(200, {}, "fresh")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*next, "fresh"));
  EXPECT_EQ(upstream.accepted_count(), 2u);
}

// A complete response followed by bytes nobody asked for: the connection is out of step.
TEST(UpstreamConnections, L6_NotPooledWithUnreadBytes) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/first")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/first"));
  ASSERT_TRUE(first->send(response(200, {}, "one") + response(200, {}, "SMUGGLED")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));

  ASSERT_TRUE(client->send(get("/second")));
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(upstream.accept(second));
  ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/second"));
  ASSERT_TRUE(second->send(response(200, {}, "two")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "two"));
  EXPECT_TRUE(first->wait_closed());
}

// R45, checkout side: the upstream closed an idle pooled connection; the next GET still gets its
// 200, through a fresh connection (whether the pool notices the close at checkout or the send
// fails on the dead connection and the request is retried).
TEST(UpstreamConnections, L6_GetRetriedOnceWhenReusedConnectionWasClosed) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/one")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
  ASSERT_TRUE(first->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  ASSERT_EQ(proxy.proxy().counts().upstream_idle, 1);

  first->close();  // the upstream's keep-alive timeout, say

  ASSERT_TRUE(client->send(get("/two")));
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(upstream.accept(second));
  ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/two"));
  ASSERT_TRUE(second->send(response(200, {}, "two")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "two"));
  EXPECT_EQ(upstream.accepted_count(), 2u);
}

// R45, the true race: the reused connection takes the request, then the upstream closes it
// without a byte of response (FIN, then RST). A GET is sent once more on a fresh connection.
TEST(UpstreamConnections, L6_GetRetriedOnceWhenReusedConnectionClosesOnRequest) {
  for (const bool rst : {false, true}) {
    SCOPED_TRACE(rst ? "upstream resets" : "upstream closes");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send(get("/one")));
    std::shared_ptr<UpstreamConn> first;
    ASSERT_TRUE(upstream.accept(first));
    ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
    ASSERT_TRUE(first->send(response(200, {}, "one")));
    ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));

    ASSERT_TRUE(client->send(get("/two")));
    ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/two"));  // reused
    if (rst) {
      first->reset();
    } else {
      first->close();
    }

    std::shared_ptr<UpstreamConn> second;
    ASSERT_TRUE(upstream.accept(second));
    ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/two"));
    ASSERT_TRUE(second->send(response(200, {}, "two")));
    ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "two"));
    EXPECT_EQ(upstream.accepted_count(), 2u);
  }
}

// Retried once, never twice: when the fresh connection fails as well, the client gets a 502.
TEST(UpstreamConnections, L6_GetRetriedAtMostOnce) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/one")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
  ASSERT_TRUE(first->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));

  ASSERT_TRUE(client->send(get("/two")));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/two"));
  first->close();
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(upstream.accept(second));
  ASSERT_NO_FATAL_FAILURE(expect_request(*second, "GET", "/two"));
  second->close();

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(upstream.accepted_count(), 2u) << "retried more than once";
}

// L6: once a byte of the response arrived, nothing is retried, not even a GET.
TEST(UpstreamConnections, L6_NoRetryAfterResponseBytes) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/one")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
  ASSERT_TRUE(first->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));

  ASSERT_TRUE(client->send(get("/two")));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/two"));
  ASSERT_TRUE(first->send("HTTP/1.1 200 OK\r\nContent-Le"));
  first->close();

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(upstream.accepted_count(), 1u) << "retried after response bytes arrived";
}

// L6 / TransportOptions: an idle pooled connection is closed after pool_idle_timeout.
TEST(UpstreamConnections, L6_IdleConnectionClosedAfterPoolIdleTimeout) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::pool_idle_timeout, 200ms);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/one")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
  ASSERT_TRUE(first->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 1);

  const auto idle_from = std::chrono::steady_clock::now();
  ASSERT_TRUE(first->wait_closed());
  EXPECT_GE(std::chrono::steady_clock::now() - idle_from, 150ms)
      << "closed long before the timeout";

  ASSERT_NO_FATAL_FAILURE(expect_ok_via_new_connection(upstream, *client, "/two"));
  EXPECT_EQ(upstream.accepted_count(), 2u);
  ASSERT_TRUE(proxy.events().wait_for_ends(2));
  // The swept connection left the idle count (at most the new one is pooled, unless it was
  // swept in turn already).
  EXPECT_LE(proxy.proxy().counts().upstream_idle, 1);
}

// L6 / TransportOptions: at most max_idle_connections stay pooled; the oldest is closed (once
// it has lingered for idle_surplus_linger: the unit test covers the linger itself).
TEST(UpstreamConnections, L6_MaxIdleConnectionsBound) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::max_idle_connections, 1);
    set_transport_option(p, &TransportOptions::idle_surplus_linger, 10ms);
  });
  // Two requests in flight at once: two upstream connections.
  std::unique_ptr<TestClient> a, b;
  ASSERT_TRUE(TestClient::connect(proxy.port(), a));
  ASSERT_TRUE(TestClient::connect(proxy.port(), b));
  ASSERT_TRUE(a->send(get("/a")));
  std::shared_ptr<UpstreamConn> conn_a;
  ASSERT_TRUE(upstream.accept(conn_a));
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn_a, "GET", "/a"));
  ASSERT_TRUE(b->send(get("/b")));
  std::shared_ptr<UpstreamConn> conn_b;
  ASSERT_TRUE(upstream.accept(conn_b));
  ASSERT_NO_FATAL_FAILURE(expect_request(*conn_b, "GET", "/b"));

  ASSERT_TRUE(conn_a->send(response(200, {}, "a")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*a, "a"));
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  ASSERT_TRUE(conn_b->send(response(200, {}, "b")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*b, "b"));
  ASSERT_TRUE(proxy.events().wait_for_ends(2));

  EXPECT_TRUE(conn_a->wait_closed()) << "the older idle connection was kept past the bound";
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 1);
  // The newer one is the pooled one: the next request arrives on it.
  ASSERT_NO_FATAL_FAILURE(round_trip_on(*a, *conn_b, "/c"));
  EXPECT_EQ(upstream.accepted_count(), 2u);
}

// R45 with a POST: never replayed (RFC 9110 §9.2.2); the client gets a 502.
TEST(UpstreamConnections, L6_PostNotReplayed) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(get("/one")));
  std::shared_ptr<UpstreamConn> first;
  ASSERT_TRUE(upstream.accept(first));
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "GET", "/one"));
  ASSERT_TRUE(first->send(response(200, {}, "one")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*client, "one"));

  ASSERT_TRUE(
      client->send("POST /submit HTTP/1.1\r\nHost: example\r\nContent-Length: 7\r\n\r\npayload"));
  RecordedRequest post;
  ASSERT_NO_FATAL_FAILURE(expect_request(*first, "POST", "/submit", &post));  // reused
  EXPECT_EQ(post.body, "payload");
  first->close();  // took the POST, answered nothing

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  // The response is out: had the proxy replayed the POST, it would have connected by now.
  EXPECT_EQ(upstream.accepted_count(), 1u) << "the POST was replayed on a new connection";
}

// ---- SPEC L2 -----------------------------------------------------------------------------------

// Every ending at once (complete, keep-alive, chunked, upstream reset and close mid-body, client
// reset, header and idle timeouts, modify_response error), on two workers: once every exchange
// ended, nothing is left in flight, no flush timer armed, no upstream connection busy; once the
// clients closed and the server stopped, no session is left.
TEST(UpstreamConnections, L2_CountersBackToZero) {
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      const std::string& t = req.target;
      if (t == "/ok") {
        if (!conn.send(response(200, {}, "ok"))) return;
      } else if (t == "/chunked") {
        if (!conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("c") +
                       std::string(kLastChunk))) {
          return;
        }
      } else if (t == "/reset") {
        conn.send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'r'));
        conn.reset();
        return;
      } else if (t == "/close-chunked") {
        conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("part"));
        return;  // FIN
      } else if (t == "/client-reset" || t == "/stall") {
        conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("part"));
        conn.wait_closed();
        return;
      } else if (t == "/no-answer") {
        conn.wait_closed();
        return;
      } else if (t == "/modify-error") {
        conn.send(response(200, {{"X-Fail", "1"}}, "x"));
        conn.wait_closed();
        return;
      }
    }
  });
  sluice::ServerOptions options;
  options.threads = 2;
  ProxyHarness proxy(
      upstream.url(),
      [](ReverseProxy& p) {
        p.flush_interval = 20ms;  // arms a flush timer for known-length responses too
        set_transport_option(p, &TransportOptions::response_header_timeout, 300ms);
        set_transport_option(p, &TransportOptions::idle_read_timeout, 300ms);
        p.modify_response = [](Response& res) -> std::error_code {
          if (res.header.count("X-Fail") != 0) return std::make_error_code(std::errc::io_error);
          return {};
        };
      },
      options);

  std::size_t exchanges = 0;
  // A keep-alive client that stays open until the end.
  std::unique_ptr<TestClient> keeper;
  ASSERT_TRUE(TestClient::connect(proxy.port(), keeper));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(keeper->send(get("/ok")));
    ASSERT_NO_FATAL_FAILURE(expect_ok(*keeper, "ok"));
    ++exchanges;
  }
  ASSERT_TRUE(keeper->send(get("/chunked")));
  ASSERT_NO_FATAL_FAILURE(expect_ok(*keeper, "c"));
  ++exchanges;

  // Endings that close the client connection: each on a client of its own, waited for.
  for (const char* target : {"/reset", "/close-chunked", "/stall", "/no-answer", "/modify-error"}) {
    SCOPED_TRACE(target);
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send("GET " + std::string(target) +
                             " HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(client->wait_closed());
    ++exchanges;
  }
  {  // The client resets mid-body.
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send(get("/client-reset")));
    ASSERT_TRUE(client->read_until(
        [](std::string_view got) { return got.find("part") != std::string_view::npos; }));
    client->reset();
    ++exchanges;
  }
  {  // The client leaves while the upstream holds the request.
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send(get("/no-answer")));
    // Whenever the proxy notices the close (before or after the upstream has the request),
    // the exchange ends as client_gone.
    client->close();
    ++exchanges;
  }

  ASSERT_TRUE(proxy.events().wait_for_ends(exchanges));
  const auto counts = proxy.proxy().counts();
  EXPECT_EQ(counts.in_flight_responses, 0);
  EXPECT_EQ(counts.armed_flush_timers, 0);
  EXPECT_EQ(counts.upstream_busy, 0);
  EXPECT_TRUE(proxy.events().check_flush_lifecycle());

  // Every outcome was exercised.
  std::vector<ResponseOutcome> seen;
  for (const auto& e : proxy.events().events()) {
    if (e.kind == Event::end) seen.push_back(e.outcome);
  }
  for (const auto outcome : {ResponseOutcome::complete, ResponseOutcome::error_response,
                             ResponseOutcome::truncated, ResponseOutcome::client_gone}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), outcome), seen.end()) << to_string(outcome);
  }

  keeper->close();
  proxy.stop();
  EXPECT_EQ(proxy.server().live_sessions(), 0);
  const auto after = proxy.proxy().counts();
  EXPECT_EQ(after.in_flight_responses, 0);
  EXPECT_EQ(after.armed_flush_timers, 0);
  EXPECT_EQ(after.upstream_busy, 0);
}

// L1/L2: the server stopping is an ending too. One response streams (flush timer armed), one
// waits for its head; stop() with a short grace cuts both.
TEST(UpstreamConnections, L2_CountersBackToZeroAfterShutdownMidStream) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.flush_interval = -1ns; });

  std::unique_ptr<TestClient> streaming;
  ASSERT_TRUE(TestClient::connect(proxy.port(), streaming));
  ASSERT_TRUE(streaming->send(get("/stream")));
  std::shared_ptr<UpstreamConn> stream_conn;
  ASSERT_TRUE(upstream.accept(stream_conn));
  ASSERT_NO_FATAL_FAILURE(expect_request(*stream_conn, "GET", "/stream"));
  ASSERT_TRUE(stream_conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                chunk("streaming")));
  ASSERT_TRUE(streaming->read_until(
      [](std::string_view got) { return got.find("streaming") != std::string_view::npos; }));

  std::unique_ptr<TestClient> waiting;
  ASSERT_TRUE(TestClient::connect(proxy.port(), waiting));
  ASSERT_TRUE(waiting->send(get("/waiting")));
  std::shared_ptr<UpstreamConn> wait_conn;
  ASSERT_TRUE(upstream.accept(wait_conn));
  ASSERT_NO_FATAL_FAILURE(expect_request(*wait_conn, "GET", "/waiting"));
  EXPECT_EQ(proxy.proxy().counts().in_flight_responses, 2);

  proxy.stop(200ms);
  EXPECT_EQ(proxy.server().live_sessions(), 0);
  ASSERT_TRUE(proxy.events().wait_for_ends(2));
  const auto counts = proxy.proxy().counts();
  EXPECT_EQ(counts.in_flight_responses, 0);
  EXPECT_EQ(counts.armed_flush_timers, 0);
  EXPECT_EQ(counts.upstream_busy, 0);
  EXPECT_EQ(counts.upstream_idle, 0);
  EXPECT_TRUE(proxy.events().check_flush_lifecycle());
  for (const auto& e : proxy.events().events()) {
    if (e.kind == Event::end) {
      EXPECT_STREQ(to_string(e.outcome), "shutdown") << "response #" << e.id;
    }
    if (e.kind == Event::stopped) {
      EXPECT_STREQ(to_string(e.reason), "shutdown") << "response #" << e.id;
    }
  }
  EXPECT_TRUE(stream_conn->wait_closed());
  EXPECT_TRUE(wait_conn->wait_closed());
  ASSERT_TRUE(streaming->wait_closed());
  EXPECT_FALSE(parse_response_prefix(streaming->received()).complete);
}

}  // namespace
}  // namespace sluice::test
