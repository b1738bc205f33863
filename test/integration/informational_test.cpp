// SPEC 23 (R31, Go 1.20+): every 1xx (not 101) the upstream sends before its final response
// reaches the client at once, in order, with its own fields minus hop-by-hop; the final response
// does not carry them; an upstream 100 is not repeated after sluice's own 100 Continue; HTTP/1.0
// clients get none. The at-most-five rule is in response_path_test.cpp (Spec23_AtMostFive...).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/fresh_get.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

// Reads until `bytes` holds `n` complete heads (1xx heads have no body).
testing::AssertionResult read_heads(TestClient& client, std::size_t n) {
  return client.read_until([n](std::string_view got) {
    std::size_t count = 0;
    for (auto pos = got.find("\r\n\r\n"); pos != std::string_view::npos;
         pos = got.find("\r\n\r\n", pos + 4)) {
      ++count;
    }
    return count >= n;
  });
}

constexpr std::string_view kHints1 =
    "HTTP/1.1 103 Early Hints\r\n"
    "Link: </style.css>; rel=preload; as=style\r\n"
    "Connection: X-Hop\r\n"
    "X-Hop: secret\r\n"
    "Keep-Alive: timeout=5\r\n"
    "\r\n";

TEST(Informational, Spec23_EarlyHintsForwardedInOrder) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /hints HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));

  // Each 1xx reaches the client before the upstream sends anything more: not buffered.
  ASSERT_TRUE(conn->send("HTTP/1.1 102 Processing\r\n\r\n"));
  ASSERT_TRUE(read_heads(*client, 1));
  EXPECT_EQ(client->received(), "HTTP/1.1 102 Processing\r\n\r\n");
  ASSERT_TRUE(conn->send(kHints1));
  ASSERT_TRUE(read_heads(*client, 2));
  ASSERT_TRUE(conn->send("HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n"));
  ASSERT_TRUE(read_heads(*client, 3));
  EXPECT_EQ(client->received(),
            "HTTP/1.1 102 Processing\r\n\r\n"
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
            "HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n")
      << printable(client->received());

  ASSERT_TRUE(conn->send(response(200, {{"X-Final", "yes"}}, "final body")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, (std::vector<int>{102, 103, 103}));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Final"), "yes");
  EXPECT_EQ(res.count("Link"), 0u) << "a 103 field leaked into the final response";
  EXPECT_EQ(res.count("X-Hop"), 0u);
  EXPECT_EQ(res.body, "final body");
  EXPECT_EQ(res.header("Content-Length"), "10");

  // In step on both hops: the same connections serve the next request.
  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(conn->send(response(200, {}, "next")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_TRUE(res.informational.empty());
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "next");
  EXPECT_EQ(upstream.accepted_count(), 1u);
}

TEST(Informational, Spec23_Http10ClientGetsNoInformational) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /old HTTP/1.0\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(std::string(kHints1) + response(200, {}, "old")));
  ASSERT_TRUE(client->wait_closed());  // HTTP/1.0: the connection ends with the response
  EXPECT_EQ(client->received().substr(0, 13), "HTTP/1.1 200 ") << printable(client->received());
  const ParsedResponse res = parse_response_prefix(client->received());
  EXPECT_TRUE(res.informational.empty());
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "old");
  EXPECT_EQ(res.count("Link"), 0u);
}

// sluice answered the client's Expect itself (Exchange::read_body); the upstream never saw the
// Expect, but if it sends a 100 anyway the client must not get a second one.
TEST(Informational, Spec23_UpstreamContinueDroppedAfterOwnContinue) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(read_heads(*client, 1));
  EXPECT_EQ(client->received(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(client->send("hello"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.body, "hello");
  EXPECT_EQ(req.count("Expect"), 0u);
  ASSERT_TRUE(conn->send("HTTP/1.1 100 Continue\r\n\r\n" +
                         std::string("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n") +
                         response(201, {}, "made")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, (std::vector<int>{100, 103})) << "one 100 only, then the 103";
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "made");
  EXPECT_EQ(client->received(), "");
}

// No Expect from the client, so sluice sent no 100: an upstream 100 is passed on like any 1xx.
TEST(Informational, Spec23_UpstreamContinueForwardedWhenProxySentNone) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 100 Continue\r\nX-Note: one\r\n\r\n" + response(200, {}, "ok")));
  ASSERT_TRUE(
      client->read_until([](std::string_view got) { return parse_response_prefix(got).complete; }));
  constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\nX-Note: one\r\n\r\n";
  EXPECT_EQ(client->received().substr(0, kContinue.size()), kContinue)
      << printable(client->received());
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, (std::vector<int>{100}));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.count("X-Note"), 0u);
  EXPECT_EQ(res.body, "ok");
}

// A 1xx is not the response: when the upstream fails after it, the client still gets a 502.
TEST(Informational, Spec23_UpstreamFailsAfterInformationalIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /dies HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"));
  ASSERT_TRUE(read_heads(*client, 1));
  conn->close();
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, (std::vector<int>{103}));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(upstream.accepted_count(), 1u) << "a response had begun: never retried";
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

// R42 applies to 1xx heads too: a folded 103 is never relayed, the exchange gets a 502.
TEST(Informational, Spec23_MalformedInformationalIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /fold HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 103 Early Hints\r\nLink: </a>,\r\n </b>\r\n\r\n" +
                         response(200, {}, "never")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_TRUE(res.informational.empty());
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_TRUE(conn->wait_closed());
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

}  // namespace
}  // namespace sluice::test
