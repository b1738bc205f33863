// The auto transport (make_auto_transport, --upstream-protocol auto): HTTP/1.1 to http://
// servers; to https:// servers "h2" and "http/1.1" offered by ALPN and the server's choice
// spoken, on the connection the choice was made on. The upstreams are sluice Servers that say
// which HTTP version each request arrived in (echo_head: v=11 or v=20).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/proxy_harness.hpp"
#include "support/server_upstream.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

ProxyHarness::Configure over_auto(const TlsServerUpstream& u, TransportOptions options = {}) {
  return with_transport_trusting(
      u, [](TransportOptions o) { return make_auto_transport(o); }, options);
}

// Two GETs one after the other on one client connection; their bodies.
void two_gets(std::uint16_t port, std::string& first, std::string& second) {
  std::unique_ptr<TestClient> c;
  ASSERT_TRUE(TestClient::connect(port, c));
  ParsedResponse r;
  ASSERT_TRUE(c->send("GET /one HTTP/1.1\r\nHost: app.test\r\n\r\n"));
  ASSERT_TRUE(c->read_response(r));
  ASSERT_EQ(r.status, 200) << r.body;
  first = r.body;
  ASSERT_TRUE(c->send("GET /two HTTP/1.1\r\nHost: app.test\r\n\r\n"));
  ASSERT_TRUE(c->read_response(r));
  ASSERT_EQ(r.status, 200) << r.body;
  second = r.body;
}

// Two GETs on one client connection both arrive upstream as HTTP version `v` ("11" or "20").
void expect_two_gets_as(std::uint16_t port, const std::string& v) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(two_gets(port, first, second));
  EXPECT_EQ(first, "GET /one host=app.test v=" + v);
  EXPECT_EQ(second, "GET /two host=app.test v=" + v);
}

TEST(AutoTransport, AServerThatChoosesH2IsSpokenHttp2) {
  TlsServerUpstream upstream(echo_head, {"h2", "http/1.1"});
  ProxyHarness proxy(upstream.url(), over_auto(upstream));
  ASSERT_NO_FATAL_FAILURE(expect_two_gets_as(proxy.port(), "20"));
  EXPECT_EQ(upstream.upstream->server().accepted_connections(), 1u);
}

// The connection the server chose http/1.1 on carries the request that made it, and the next
// one: no second connect for the first request, none for the next.
TEST(AutoTransport, AServerThatChoosesHttp1IsSpokenHttp1OnTheSameConnection) {
  TlsServerUpstream upstream(echo_head, {"http/1.1"});
  ProxyHarness proxy(upstream.url(), over_auto(upstream));
  ASSERT_NO_FATAL_FAILURE(expect_two_gets_as(proxy.port(), "11"));
  EXPECT_EQ(upstream.upstream->server().accepted_connections(), 1u);
  ASSERT_TRUE(proxy.events().wait_for_ends(2));  // released to the pool by then
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 1);
}

// The hand-over does not go through the pool: one connect even when the pool keeps nothing.
TEST(AutoTransport, TheConnectionAskedOnCarriesTheRequestWithNoIdlePool) {
  TlsServerUpstream upstream(echo_head, {"http/1.1"});
  TransportOptions no_idle;
  no_idle.max_idle_connections = 0;
  ProxyHarness proxy(upstream.url(), over_auto(upstream, no_idle));
  std::unique_ptr<TestClient> c;
  ASSERT_TRUE(TestClient::connect(proxy.port(), c));
  ParsedResponse r;
  ASSERT_TRUE(c->send("GET /one HTTP/1.1\r\nHost: app.test\r\n\r\n"));
  ASSERT_TRUE(c->read_response(r));
  EXPECT_EQ(r.body, "GET /one host=app.test v=11");
  EXPECT_EQ(upstream.upstream->server().accepted_connections(), 1u);
}

TEST(AutoTransport, AServerWithoutAlpnIsSpokenHttp1) {
  TlsServerUpstream upstream(echo_head, {});
  ProxyHarness proxy(upstream.url(), over_auto(upstream));
  ASSERT_NO_FATAL_FAILURE(expect_two_gets_as(proxy.port(), "11"));
  EXPECT_EQ(upstream.upstream->server().accepted_connections(), 1u);
}

TEST(AutoTransport, CleartextIsHttp1) {
  H2Upstream upstream(echo_head);
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.transport = make_auto_transport(); });
  ASSERT_NO_FATAL_FAILURE(expect_two_gets_as(proxy.port(), "11"));
}

// An upgrade needs HTTP/1.1 even to a server that speaks HTTP/2 (RFC 8441 is not built).
TEST(AutoTransport, AnUpgradeGoesOverHttp1ToAnH2Server) {
  TlsServerUpstream upstream(echo_head, {"h2", "http/1.1"});
  ProxyHarness proxy(upstream.url(), over_auto(upstream));
  std::unique_ptr<TestClient> c;
  ASSERT_TRUE(TestClient::connect(proxy.port(), c));
  ASSERT_TRUE(
      c->send("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c->read_response(r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /ws host=t v=11");
}

}  // namespace
}  // namespace sluice::test
