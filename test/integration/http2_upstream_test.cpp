// The HTTP/2 upstream transport (make_http2_transport, --upstream-protocol h2): requests become
// streams on shared h2c connections to the upstream, with the request body streaming while the
// response does. The upstream here is a sluice Server with a scripted handler (it speaks HTTP/2
// to a client that starts with the preface); the gRPC test (grpc_test.cpp) uses an independent
// gRPC server.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <string>
#include <vector>

#include "net/race.hpp"
#include "support/deadline.hpp"
#include "support/h2_client.hpp"
#include "support/proxy_harness.hpp"
#include "support/server_upstream.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

ProxyHarness::Configure over_h2() {
  return [](ReverseProxy& p) { p.transport = make_http2_transport(); };
}

std::unique_ptr<H2Client> h2(std::uint16_t port) {
  std::unique_ptr<H2Client> c;
  EXPECT_TRUE(H2Client::connect(port, c));
  return c;
}

TEST(Http2Upstream, AnHttp1ClientsRequestGoesUpstreamAsAStream) {
  H2Upstream upstream(echo_head);
  ProxyHarness proxy(upstream.url(), over_h2());
  std::unique_ptr<TestClient> c;
  ASSERT_TRUE(TestClient::connect(proxy.port(), c));
  ASSERT_TRUE(c->send("GET /p?q=1 HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c->read_response(r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /p?q=1 host=app.test v=20 x-a=1");
}

TEST(Http2Upstream, ConcurrentRequestsShareOneConnection) {
  H2Upstream upstream(echo_head);
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 50; ++i)
    ids.push_back(c->get("/s" + std::to_string(i)));
  ASSERT_TRUE(c->run_until([&] {
    for (auto id : ids) {
      if (!c->response(id).ended && !c->response(id).reset) return false;
    }
    return true;
  }));
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(c->response(ids[i]).body, "GET /s" + std::to_string(i) + " host=sluice.test v=20");
  EXPECT_EQ(upstream.server().accepted_connections(), 1u);
}

TEST(Http2Upstream, AFullConnectionOpensAnother) {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  ServerOptions limited;
  limited.h2_max_concurrent_streams = 2;
  H2Upstream upstream(
      [&](Exchange& ex) -> asio::awaitable<void> {
        const int now = ++running;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        asio::steady_timer hold(ex.executor());
        hold.expires_after(100ms);  // overlap: the six requests are in flight together
        co_await race(hold, ex.stop_signal());
        --running;
        SimpleResponse res{200, {}, "ok"};
        co_await ex.respond(std::move(res));
      },
      limited);
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(c->get("/"));
  ASSERT_TRUE(c->run_until([&] {
    for (auto id : ids) {
      if (!c->response(id).ended && !c->response(id).reset) return false;
    }
    return true;
  }));
  for (auto id : ids)
    EXPECT_EQ(c->response(id).status, 200);
  EXPECT_GE(upstream.server().accepted_connections(), 3u) << "2 streams per connection";
  EXPECT_LE(most.load(), 6);
}

TEST(Http2Upstream, TrailersAndTrailersOnlyResponsesPassThrough) {
  H2Upstream upstream([](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().url.raw_path == "/only") {
      // gRPC's Trailers-Only: one HEADERS frame with END_STREAM.
      SimpleResponse res{200, {}, {}};
      res.header.set("content-type", "application/grpc");
      res.header.set("grpc-status", "5");
      co_await ex.respond(std::move(res));
      co_return;
    }
    Response head;
    head.header.set("content-type", "application/grpc");
    ex.begin_response(head, {"grpc-status"});
    const std::string message("\0\0\0\0\3abc", 8);
    co_await ex.write_body(asio::buffer(message));
    Fields trailers;
    trailers.set("grpc-status", "0");
    trailers.set("x-meta", "m");
    co_await ex.end_response(&trailers);
  });
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  const auto full =
      c->submit("POST", "/svc/M", {{"content-type", "application/grpc"}, {"te", "trailers"}},
                std::string("\0\0\0\0\0", 5));
  const auto only =
      c->submit("POST", "/only", {{"content-type", "application/grpc"}, {"te", "trailers"}},
                std::string("\0\0\0\0\0", 5));
  ASSERT_TRUE(c->finish(full));
  ASSERT_TRUE(c->finish(only));
  EXPECT_EQ(c->response(full).body, std::string("\0\0\0\0\3abc", 8));
  EXPECT_EQ(c->response(full).trailer("grpc-status"), "0");
  EXPECT_EQ(c->response(full).trailer("x-meta"), "m");
  EXPECT_TRUE(c->response(only).ended);
  EXPECT_EQ(c->response(only).header("grpc-status"), "5");
  EXPECT_TRUE(c->response(only).head_ended_stream) << "Trailers-Only stays one HEADERS frame";
}

TEST(Http2Upstream, TheRequestBodyStreamsWhileTheResponseDoes) {
  // A bidi echo: each piece the client sends comes back before the client sends the next.
  H2Upstream upstream([](Exchange& ex) -> asio::awaitable<void> {
    Response head;
    ex.begin_response(head);
    co_await ex.flush();
    char buf[256];
    for (int i = 0; i < 100; ++i) {
      auto [ec, n] = co_await ex.read_body(asio::buffer(buf));
      if (ec || n == 0) break;
      co_await ex.write_body(asio::buffer(buf, n));
      co_await ex.flush();
    }
    co_await ex.end_response();
  });
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    p.transport = make_http2_transport();
    p.flush_interval = -1ns;
  });
  auto c = h2(proxy.port());
  const auto id = c->submit("POST", "/bidi", {{"content-type", "application/grpc"}}, std::nullopt,
                            /*open_body=*/true);
  std::string expected;
  for (int i = 0; i < 3; ++i) {
    const std::string piece = "ping" + std::to_string(i) + ";";
    c->send_body(id, piece, /*end=*/false);
    expected += piece;
    ASSERT_TRUE(c->run_until([&] { return c->response(id).body == expected; }))
        << "piece " << i
        << " did not come back before the next was sent; body: " << c->response(id).body;
  }
  c->send_body(id, "", /*end=*/true);
  ASSERT_TRUE(c->finish(id));
  EXPECT_TRUE(c->response(id).ended);
  EXPECT_EQ(c->response(id).body, expected);
}

TEST(Http2Upstream, AClientResetReachesTheUpstreamStream) {
  std::atomic<bool> upstream_saw_cancel{false};
  H2Upstream upstream([&](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().url.raw_path != "/poll") {
      co_await echo_head(ex);
      co_return;
    }
    Response head;
    ex.begin_response(head);
    co_await ex.flush();
    // A long poll: it ends when its client (the proxy's stream) goes.
    asio::steady_timer hold(ex.executor());
    hold.expires_after(10s);
    co_await race(hold, ex.stop_signal(), ex.async_wait_client(asio::deferred));
    if (ex.client_gone_now()) upstream_saw_cancel = true;
  });
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  const auto id = c->get("/poll");
  ASSERT_TRUE(c->run_until([&] { return c->response(id).status == 200; }));
  c->reset(id);
  ASSERT_TRUE(c->run_until([&] { return upstream_saw_cancel.load(); }))
      << "the upstream stream was not reset";
  const auto next = c->get("/next");
  ASSERT_TRUE(c->finish(next));
  EXPECT_TRUE(c->response(next).ended);
}

TEST(Http2Upstream, AnUpstreamResetCutsTheClientsResponse) {
  H2Upstream upstream([](Exchange& ex) -> asio::awaitable<void> {
    Response head;
    head.content_length = 100;
    ex.begin_response(head);
    const std::string part(10, 'p');
    co_await ex.write_body(asio::buffer(part));
    co_await ex.flush();
    ex.abort();  // RST_STREAM(INTERNAL_ERROR) to the proxy
  });
  // Every write flushed, so the head is out before the cut (else the client gets a 502).
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    p.transport = make_http2_transport();
    p.flush_interval = -1ns;
  });
  auto c = h2(proxy.port());
  const auto id = c->get("/cut");
  ASSERT_TRUE(c->finish(id));
  EXPECT_EQ(c->response(id).status, 200);
  EXPECT_EQ(c->response(id).body.size(), 10u);
  EXPECT_TRUE(c->response(id).reset);
  EXPECT_FALSE(c->response(id).ended);
}

TEST(Http2Upstream, TheHeadTimeoutCountsFromTheEndOfTheUpload) {
  // The server answers only once the whole body is in (a gRPC client stream, a slow PUT).
  H2Upstream upstream([](Exchange& ex) -> asio::awaitable<void> {
    char buf[1024];
    std::size_t total = 0;
    for (int i = 0; i < 1000; ++i) {
      auto [ec, n] = co_await ex.read_body(asio::buffer(buf));
      if (ec || n == 0) break;
      total += n;
    }
    SimpleResponse res{200, {}, "got " + std::to_string(total)};
    co_await ex.respond(std::move(res));
  });
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    TransportOptions t;
    t.response_header_timeout = 200ms;
    p.transport = make_http2_transport(t);
  });
  auto c = h2(proxy.port());
  const auto id = c->submit("POST", "/slow-upload", {}, std::nullopt, /*open_body=*/true);
  c->send_body(id, "first", /*end=*/false);
  // Longer than the head timeout passes while the body is still coming.
  const auto until = std::chrono::steady_clock::now() + 400ms;
  ASSERT_TRUE(c->run_until([&] { return std::chrono::steady_clock::now() >= until; }));
  EXPECT_EQ(c->response(id).status, 0) << "answered before the body ended";
  c->send_body(id, "last", /*end=*/true);
  ASSERT_TRUE(c->finish(id));
  EXPECT_EQ(c->response(id).status, 200);
  EXPECT_EQ(c->response(id).body, "got 9");
}

TEST(Http2Upstream, AnOversizedResponseHeadIs502) {
  H2Upstream upstream([](Exchange& ex) -> asio::awaitable<void> {
    SimpleResponse res{200, {}, "x"};
    for (int i = 0; i < 40; ++i)
      res.header.set("x-big-" + std::to_string(i), std::string(1000, 'v'));
    co_await ex.respond(std::move(res));
  });
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    TransportOptions t;
    t.max_response_header_bytes = 16 * 1024;
    p.transport = make_http2_transport(t);
  });
  auto c = h2(proxy.port());
  const auto id = c->get("/");
  ASSERT_TRUE(c->finish(id));
  EXPECT_EQ(c->response(id).status, 502);
}

TEST(Http2Upstream, AWebSocketUpgradeIsRefusedNotSentAsAPlainRequest) {
  std::atomic<int> requests{0};
  H2Upstream upstream([&](Exchange& ex) -> asio::awaitable<void> {
    ++requests;
    co_await echo_head(ex);
  });
  ProxyHarness proxy(upstream.url(), over_h2());
  std::unique_ptr<TestClient> c;
  ASSERT_TRUE(TestClient::connect(proxy.port(), c));
  ASSERT_TRUE(
      c->send("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c->read_response(r));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(requests.load(), 0);
}

TEST(Http2Upstream, ConnectionsAreCountedBusyAndIdle) {
  std::atomic<bool> release{false};
  H2Upstream upstream([&](Exchange& ex) -> asio::awaitable<void> {
    asio::steady_timer poll(ex.executor());
    // Holds the stream until the test has seen it busy (bounded by the test's deadline).
    for (int i = 0; i < 500 && !release.load(); ++i) {
      poll.expires_after(10ms);
      co_await race(poll, ex.stop_signal());
    }
    co_await echo_head(ex);
  });
  auto transport = make_http2_transport();
  ProxyHarness proxy(upstream.url(), [transport](ReverseProxy& p) { p.transport = transport; });
  auto c = h2(proxy.port());
  const auto id = c->get("/held");
  ASSERT_TRUE(c->run_until([&] { return transport->counts().busy == 1; }));
  EXPECT_EQ(transport->counts().idle, 0);
  release = true;
  ASSERT_TRUE(c->finish(id));
  ASSERT_TRUE(c->run_until([&] { return transport->counts().idle == 1; }));
  EXPECT_EQ(transport->counts().busy, 0);
}

TEST(Http2Upstream, AConnectionTheServerClosedIsReplaced) {
  ServerOptions quick_idle;
  quick_idle.idle_timeout = 100ms;  // the upstream says GOAWAY and closes an idle connection
  H2Upstream upstream(echo_head, quick_idle);
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  const auto first = c->get("/one");
  ASSERT_TRUE(c->finish(first));
  EXPECT_EQ(c->response(first).status, 200);
  ASSERT_TRUE(upstream.server().wait_for_no_sessions(kDeadline));
  const auto second = c->get("/two");
  ASSERT_TRUE(c->finish(second));
  EXPECT_EQ(c->response(second).status, 200) << "a closed connection must not take a request";
  EXPECT_EQ(upstream.server().accepted_connections(), 2u);
}

// A transport that goes (a reload removed its server) ends its connections as their last
// stream does, idle ones at once, rather than after the pool's idle timeout.
TEST(Http2Upstream, ARetiredTransportsConnectionsCloseAfterTheirLastStream) {
  std::promise<void> started;
  auto started_future = started.get_future();
  H2Upstream upstream([&started](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().url.request_target() == "/slow") {
      started.set_value();
      asio::steady_timer hold(ex.executor());
      hold.expires_after(300ms);  // keeps the stream open while the test retires its transport
      co_await hold.async_wait(asio::use_awaitable);
    }
    co_await echo_head(ex);
  });
  ProxyHarness proxy(upstream.url(), over_h2());
  auto c = h2(proxy.port());
  const auto slow = c->get("/slow");
  ASSERT_TRUE(c->run_until([] { return true; }));  // the request goes out
  ASSERT_EQ(started_future.wait_for(kDeadline), std::future_status::ready);
  proxy.proxy().transport = make_http2_transport();  // the old one is destroyed
  ASSERT_TRUE(c->finish(slow));
  EXPECT_EQ(c->response(slow).status, 200) << "a stream in flight must finish";
  EXPECT_TRUE(upstream.server().wait_for_no_sessions(kDeadline))
      << "the retired transport's connection stayed open";
}

ProxyHarness::Configure over_h2_tls(const TlsServerUpstream& u) {
  return with_transport_trusting(u, [](TransportOptions o) { return make_http2_transport(o); });
}

TEST(Http2Upstream, OverTlsTheServerMustChooseH2ByAlpn) {
  TlsServerUpstream good(echo_head, {"h2", "http/1.1"});
  ProxyHarness proxy(good.url(), over_h2_tls(good));
  auto c = h2(proxy.port());
  const auto id = c->get("/tls");
  ASSERT_TRUE(c->finish(id));
  EXPECT_EQ(c->response(id).status, 200);
  EXPECT_EQ(c->response(id).body, "GET /tls host=sluice.test v=20");

  TlsServerUpstream http1_only(echo_head, {"http/1.1"});
  ProxyHarness refused(http1_only.url(), over_h2_tls(http1_only));
  auto d = h2(refused.port());
  const auto rid = d->get("/tls");
  ASSERT_TRUE(d->finish(rid));
  EXPECT_EQ(d->response(rid).status, 502);
  EXPECT_TRUE(refused.log_contains("did not choose h2 by ALPN"));
}

}  // namespace
}  // namespace sluice::test
