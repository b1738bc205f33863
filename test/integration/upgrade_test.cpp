// SPEC 4, 36-38: protocol upgrades (WebSocket and the like) through the proxy.
#include <gtest/gtest.h>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kUpgradeRequest =
    "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: abc\r\nKeep-Alive: 5\r\n\r\n";

bool has(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

struct Upgraded {
  FakeUpstream upstream;
  std::unique_ptr<ProxyHarness> h;
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
  RecordedRequest req;

  explicit Upgraded(ProxyHarness::Configure configure = {}) {
    h = std::make_unique<ProxyHarness>(upstream.url(), std::move(configure));
  }
  testing::AssertionResult start(std::string_view request = kUpgradeRequest) {
    if (auto r = TestClient::connect(h->port(), client); !r) return r;
    if (!client->send(request)) return testing::AssertionFailure() << "client send";
    if (auto r = upstream.accept(conn); !r) return r;
    return conn->read_request(req);
  }
};

TEST(Upgrade, Spec04_UpgradeRequestCarriesExactlyTheUpgradePair) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  EXPECT_EQ(u.req.values("Connection"), std::vector<std::string>{"Upgrade"});
  EXPECT_EQ(u.req.header("Upgrade"), "websocket");
  EXPECT_EQ(u.req.header("Sec-WebSocket-Key"), "abc");
  EXPECT_EQ(u.req.count("Keep-Alive"), 0u);
}

TEST(Upgrade, Spec36_TunnelCarriesBytesBothWaysIncludingEarlyOnes) {
  Upgraded u;
  // The client sends its first frame right behind the request, before any 101: those bytes
  // belong to the tunnel, so they reach the upstream only after the switch.
  ASSERT_TRUE(u.start(std::string(kUpgradeRequest) + "early-client"));
  EXPECT_FALSE(has(u.conn->received(), "early-client"));
  // The upstream answers with a different case and its first frame in the same packet.
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                   "Connection: Upgrade\r\nX-Backend: yes\r\nKeep-Alive: 9\r\n\r\n"
                   "early-upstream"));
  ASSERT_TRUE(u.conn->read_until([](std::string_view got) { return got == "early-client"; }));
  u.conn->take();
  ASSERT_TRUE(
      u.client->read_until([](std::string_view got) { return has(got, "early-upstream"); }));
  const std::string head = u.client->take();
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101 ")) << head;
  EXPECT_TRUE(has(head, "Connection: Upgrade\r\n")) << head;
  EXPECT_TRUE(has(head, "Upgrade: WebSocket\r\n")) << head;
  EXPECT_TRUE(has(head, "X-Backend: yes\r\n")) << head;
  EXPECT_FALSE(has(head, "Keep-Alive")) << head;

  for (int i = 0; i < 3; ++i) {
    const std::string ping = "ping-" + std::to_string(i);
    const std::string pong = "pong-" + std::to_string(i);
    ASSERT_TRUE(u.client->send(ping));
    ASSERT_TRUE(u.conn->read_until([&](std::string_view got) { return got == ping; }));
    u.conn->take();
    ASSERT_TRUE(u.conn->send(pong));
    ASSERT_TRUE(u.client->read_until([&](std::string_view got) { return got == pong; }));
    u.client->take();
  }
  // The client closes: the upstream sees the EOF; the tunnel ends once the upstream closes too.
  u.client->close();
  ASSERT_TRUE(u.conn->wait_closed());
  u.conn->close();
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
  EXPECT_EQ(u.h->events().events().back().outcome, ResponseOutcome::upgraded);
  EXPECT_EQ(u.h->proxy().counts().upstream_busy, 0);
  EXPECT_EQ(u.h->proxy().counts().upstream_idle, 0);  // never pooled after a switch
}

TEST(Upgrade, Spec36_ModifyResponseSeesThe101) {
  Upgraded u([](ReverseProxy& p) {
    p.modify_response = [](Response& res) -> std::error_code {
      if (res.status == 101) res.header.set("X-Modified", "true");
      return {};
    };
  });
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  EXPECT_TRUE(has(u.client->received(), "X-Modified: true\r\n")) << u.client->received();
}

TEST(Upgrade, Spec36_SwitchToAnotherProtocolIs502) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(u.client->read_response(res));
  EXPECT_EQ(res.status, 502);
  ASSERT_TRUE(u.conn->wait_closed());
}

TEST(Upgrade, Spec36_NonPrintableSwitchedProtocolIs502) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: web\xc3\xa9socket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(u.client->read_response(res));
  EXPECT_EQ(res.status, 502);
  ASSERT_TRUE(u.conn->wait_closed());
}

TEST(Upgrade, Spec36_101WithoutAnUpgradeRequestIs502) {
  Upgraded u;
  ASSERT_TRUE(u.start("GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(u.req.count("Upgrade"), 0u);
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(u.client->read_response(res));
  EXPECT_EQ(res.status, 502);
}

TEST(Upgrade, Spec04_H2cUpgradeIsNotForwarded) {
  Upgraded u;
  ASSERT_TRUE(
      u.start("GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"));
  EXPECT_EQ(u.req.count("Upgrade"), 0u);
  EXPECT_EQ(u.req.count("HTTP2-Settings"), 0u);
  EXPECT_EQ(u.req.count("Connection"), 0u);
}

TEST(Upgrade, Spec37_HalfCloseIsPropagatedAndTheOtherDirectionGoesOn) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  u.client->take();
  ASSERT_TRUE(u.client->send("last words"));
  u.client->shutdown_write();
  // The upstream reads the bytes, then EOF: the client's half-close reached it.
  ASSERT_TRUE(u.conn->read_until([](std::string_view got) { return got == "last words"; }));
  ASSERT_TRUE(u.conn->wait_closed());
  // The other direction still works until the upstream is done too.
  ASSERT_TRUE(u.conn->send("reply after half-close"));
  ASSERT_TRUE(
      u.client->read_until([](std::string_view got) { return got == "reply after half-close"; }));
  u.conn->close();
  ASSERT_TRUE(u.client->wait_closed());
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
}

TEST(Upgrade, Spec37_UpstreamResetClosesTheClient) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  u.conn->reset();
  ASSERT_TRUE(u.client->wait_closed());
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
}

TEST(Upgrade, Spec37_IdleTunnelIsClosed) {
  using Clock = std::chrono::steady_clock;
  static constexpr auto kIdle = 200ms;
  // How late the idle deadline may be acted on and the close seen, on a loaded 2-core machine
  // under ASan/TSan.
  constexpr auto kLate = 100ms;
  Upgraded u([](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::tunnel_idle_timeout, kIdle);
  });
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  const std::string head = u.client->take();
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101 ")) << head;
  // One exchange each way, then silence. The tunnel's last activity is the proxy relaying
  // "pong": after the upstream began sending it, before the client has it.
  ASSERT_TRUE(u.client->send("ping"));
  ASSERT_TRUE(u.conn->read_until([](std::string_view got) { return got == "ping"; }));
  const auto pong_sent_at = Clock::now();
  ASSERT_TRUE(u.conn->send("pong"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return got == "pong"; }));
  const auto pong_received_at = Clock::now();
  ASSERT_TRUE(u.client->wait_closed());
  const auto closed_at = Clock::now();
  ASSERT_TRUE(u.conn->wait_closed());
  EXPECT_EQ(u.client->received(), "pong") << "bytes after the last exchange";
  // No earlier than the idle timeout after the last byte (pong_sent_at precedes it, so no
  // tolerance is needed), and not much later.
  const auto ms = [](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count() /
                          1000.0);
  };
  EXPECT_GE(closed_at - pong_sent_at, kIdle)
      << "closed " << ms(closed_at - pong_sent_at) << " ms after the upstream sent the last byte";
  EXPECT_LE(closed_at - pong_received_at, kIdle + kLate)
      << "closed " << ms(closed_at - pong_received_at) << " ms after the client got the last byte";
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
  EXPECT_EQ(u.h->events().events().back().outcome, ResponseOutcome::upgraded);
}

TEST(Upgrade, Spec37_HalfClosedClientThatNeverReadsCannotPinTheTunnel) {
  // R35 for tunnels: the client half-closes and never reads while the upstream keeps sending.
  // The write toward the client is bounded by the idle timeout, so the tunnel ends.
  Upgraded u([](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::tunnel_idle_timeout, 300ms);
  });
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  u.client->shutdown_write();
  const std::string block(256 * 1024, 't');
  for (int i = 0; i < 256; ++i) {
    if (!u.conn->send(block, 500ms)) break;  // blocks once every buffer toward the client is full
  }
  ASSERT_TRUE(u.conn->wait_closed());
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
}

TEST(Upgrade, Spec37_ServerStopEndsTheTunnel) {
  Upgraded u;
  ASSERT_TRUE(u.start());
  ASSERT_TRUE(
      u.conn->send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(u.client->read_until([](std::string_view got) { return has(got, "\r\n\r\n"); }));
  u.h->stop(50ms);
  ASSERT_TRUE(u.h->events().wait_for_ends(1));
  EXPECT_EQ(u.h->events().events().back().outcome, ResponseOutcome::shutdown);
  ASSERT_TRUE(u.client->wait_closed());
  ASSERT_TRUE(u.conn->wait_closed());
}

}  // namespace
}  // namespace sluice::test
