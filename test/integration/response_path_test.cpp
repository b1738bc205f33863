// SPEC B (17-23): the response path, backend -> client. Every test drives a real Server +
// ReverseProxy (ProxyHarness) against a scripted FakeUpstream with a raw-byte TestClient, and
// checks the bytes the client received.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

// n bytes of a recognisable, non-repeating-per-buffer pattern (so a dropped or duplicated
// buffer shows up as a mismatch, not just as a wrong length).
std::string pattern_body(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  }
  return s;
}

// The comma-separated tokens of every value, trimmed (a Trailer field's names).
std::set<std::string> tokens(const std::vector<std::string>& values) {
  std::set<std::string> out;
  for (const auto& value : values) {
    std::string_view v = value;
    while (!v.empty()) {
      const auto comma = v.find(',');
      auto t = v.substr(0, comma);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
        t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
        t.remove_suffix(1);
      if (!t.empty()) out.emplace(t);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

// A backend that answers every request of every connection with reply(request), for tests that
// check what follows a response on the same client connection (no stray body bytes).
void serve_all(FakeUpstream& upstream, std::function<std::string(const RecordedRequest&)> reply) {
  upstream.set_handler([reply = std::move(reply)](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(reply(req))) return;
    }
  });
}

constexpr std::string_view kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n";

// ---- SPEC 17 ---------------------------------------------------------------------------------

TEST(ResponsePath, Spec17_StatusHeadersBodyCopied) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /copy HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  const std::string body = pattern_body(100000);  // several proxy buffers
  ASSERT_TRUE(conn->send(response(404,
                                  {{"Content-Type", "application/octet-stream"},
                                   {"X-Multi", "one"},
                                   {"X-Multi", "two"},
                                   {"X-Multi", "three, four"},
                                   {"Set-Cookie", "a=1; Path=/"},
                                   {"Set-Cookie", "b=2; HttpOnly"},
                                   {"Trailers", "not-special"}},
                                  body)));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res.values("X-Multi"), (std::vector<std::string>{"one", "two", "three, four"}));
  EXPECT_EQ(res.values("Set-Cookie"), (std::vector<std::string>{"a=1; Path=/", "b=2; HttpOnly"}));
  EXPECT_EQ(res.header("Trailers"), "not-special");  // not the hop-by-hop `Trailer`
  EXPECT_EQ(res.header("Content-Length"), std::to_string(body.size()));
  EXPECT_EQ(res.body.size(), body.size());
  EXPECT_TRUE(res.body == body) << "body bytes differ";
}

// ---- SPEC 18 ---------------------------------------------------------------------------------

TEST(ResponsePath, Spec18_ResponseHopByHopRemoved) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /hop HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  // Go's TestReverseProxyStripHeadersPresentInConnection / TestReverseProxyStripEmptyConnection:
  // names in every Connection line go, an empty Connection line must not break that.
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\n"
                 "Connection: X-Resp-Hop, X-Other-Hop\r\n"
                 "Connection: \r\n"
                 "Connection: keep-alive, X-Third-Hop\r\n"
                 "X-Resp-Hop: secret-1\r\n"
                 "X-Other-Hop: secret-2\r\n"
                 "X-Third-Hop: secret-3\r\n"
                 "Keep-Alive: timeout=99\r\n"
                 "Upgrade: foo\r\n"
                 "Proxy-Authenticate: Basic realm=\"upstream\"\r\n"
                 "Proxy-Connection: keep-alive\r\n"
                 "X-End-To-End: kept\r\n"
                 "Content-Length: 4\r\n"
                 "\r\n"
                 "body"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "body");
  EXPECT_EQ(res.header("X-End-To-End"), "kept");
  for (const char* name : {"Connection", "X-Resp-Hop", "X-Other-Hop", "X-Third-Hop", "Keep-Alive",
                           "Upgrade", "Proxy-Authenticate", "Proxy-Connection"}) {
    EXPECT_EQ(res.count(name), 0u) << name << " reached the client: " << *res.header(name);
  }
}

// ---- SPEC 19 ---------------------------------------------------------------------------------

TEST(ResponsePath, Spec19_ContentLengthPassedOn) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /length HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  const std::string body = pattern_body(70001);
  // Head and body in separate writes, so the proxy has the head long before the last byte.
  const std::string full = response(200, {{"Content-Type", "text/plain"}}, body);
  const std::size_t head_size = full.size() - body.size();
  ASSERT_TRUE(conn->send(std::string_view(full).substr(0, head_size + 100)));
  ASSERT_TRUE(conn->send(std::string_view(full).substr(head_size + 100)));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), "70001");
  EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
  EXPECT_FALSE(res.chunked);
  EXPECT_TRUE(res.body == body) << "body differs: " << res.body.size() << " bytes";
}

TEST(ResponsePath, Spec19_ChunkedUpstreamRechunkedForHttp11) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /chunked HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  const std::string big = pattern_body(40000);
  ASSERT_TRUE(conn->send(std::string(kChunkedHead) + "\r\n" + chunk("hello ")));
  ASSERT_TRUE(conn->send(chunk("world ") + chunk(big)));
  // A chunk extension is framing of the upstream hop only.
  ASSERT_TRUE(conn->send("5;ext=\"x y\"\r\n!!!!!\r\n"));
  ASSERT_TRUE(conn->send(kLastChunk));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_EQ(res.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(res.count("Content-Length"), 0u);
  EXPECT_TRUE(res.body == "hello world " + big + "!!!!!") << "body differs: " << res.body.size();

  // The response was complete and well framed: the client connection serves the next request.
  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(conn->send(response(200, {}, "next")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "next");
}

// SPEC 19 / R44: no Content-Length, no Transfer-Encoding, body ends at the upstream's FIN.
TEST(ResponsePath, Spec19_CloseDelimitedUpstreamRelayedWhole) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  const std::string body = pattern_body(50000);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";

  {  // HTTP/1.1 client: re-chunked, complete (final chunk present).
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send("GET /close-delimited HTTP/1.1\r\nHost: example\r\n\r\n"));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_TRUE(upstream.accept(conn));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req));
    ASSERT_TRUE(conn->send(head + body.substr(0, 1000)));
    ASSERT_TRUE(conn->send(body.substr(1000)));
    conn->close();

    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, 200);
    EXPECT_TRUE(res.chunked);
    EXPECT_EQ(res.header("Transfer-Encoding"), "chunked");
    EXPECT_EQ(res.count("Content-Length"), 0u);
    EXPECT_TRUE(res.complete);
    EXPECT_TRUE(res.body == body) << "body differs: " << res.body.size() << " bytes";
  }

  {  // HTTP/1.0 client: close-delimited, the whole body before the close.
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send("GET /close-delimited HTTP/1.0\r\nHost: example\r\n\r\n"));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_TRUE(upstream.accept(conn));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req));
    ASSERT_TRUE(conn->send(head + body.substr(0, 1000)));
    ASSERT_TRUE(conn->send(body.substr(1000)));
    conn->close();

    ASSERT_TRUE(client->wait_closed());
    const ParsedResponse res = parse_response_prefix(client->received());
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 200);
    EXPECT_FALSE(res.chunked);
    EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
    EXPECT_EQ(res.count("Content-Length"), 0u);
    EXPECT_TRUE(res.body == body) << "body differs: " << res.body.size() << " bytes";
  }
}

TEST(ResponsePath, Spec19_HeadHasNoBody) {
  FakeUpstream upstream;
  serve_all(upstream, [](const RecordedRequest& req) {
    if (req.method == "HEAD") {
      // The length of the representation a GET would get; no body follows.
      return std::string(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n");
    }
    return response(200, {}, "after-head");
  });
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("HEAD /resource HTTP/1.1\r\nHost: example\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kDeadline, /*head_request=*/true));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), "100");
  EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(res.body, "");

  // Any body byte after the HEAD response would be parsed as the start of this one.
  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "after-head");
}

TEST(ResponsePath, Spec19_204HasNoBody) {
  FakeUpstream upstream;
  serve_all(upstream, [](const RecordedRequest& req) {
    if (req.target == "/empty") return std::string("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n");
    return response(200, {}, "after-204");
  });
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("DELETE /empty HTTP/1.1\r\nHost: example\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.header("X-A"), "b");
  EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(res.count("Content-Length"), 0u);  // RFC 9110 §8.6: MUST NOT in a 204
  EXPECT_EQ(res.body, "");

  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "after-204");
}

TEST(ResponsePath, Spec19_304HasNoBody) {
  FakeUpstream upstream;
  serve_all(upstream, [](const RecordedRequest& req) {
    if (req.target == "/cached") {
      return std::string(
          "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\n\r\n");
    }
    return response(200, {}, "after-304");
  });
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(
      client->send("GET /cached HTTP/1.1\r\nHost: example\r\nIf-None-Match: \"v1\"\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 304);
  EXPECT_EQ(res.header("ETag"), "\"v1\"");
  EXPECT_EQ(res.header("Cache-Control"), "max-age=60");
  EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(res.body, "");

  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "after-304");
}

// ---- SPEC 20-22 ------------------------------------------------------------------------------

TEST(ResponsePath, Spec20_AnnouncedTrailersReannouncedAndSent) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /trailers HTTP/1.1\r\nHost: example\r\nTE: trailers\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(std::string(kChunkedHead) + "Trailer: X-Trailer, X-Other\r\n\r\n" +
                         chunk("hello ") + chunk("trailers")));
  ASSERT_TRUE(conn->send("0\r\nX-Trailer: t-value\r\nX-Other: o-value\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_EQ(tokens(res.values("Trailer")), (std::set<std::string>{"X-Trailer", "X-Other"}));
  EXPECT_EQ(res.body, "hello trailers");
  EXPECT_EQ(header_values(res.trailers, "X-Trailer"), std::vector<std::string>{"t-value"});
  EXPECT_EQ(header_values(res.trailers, "X-Other"), std::vector<std::string>{"o-value"});
  // Trailers stay trailers: never merged into the header section.
  EXPECT_EQ(res.count("X-Trailer"), 0u);
  EXPECT_EQ(res.count("X-Other"), 0u);
}

TEST(ResponsePath, Spec21_UnannouncedTrailersForwarded) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /unannounced HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(std::string(kChunkedHead) + "\r\n" + chunk("body")));
  ASSERT_TRUE(conn->send("0\r\nX-Unannounced: surprise\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_EQ(res.body, "body");
  EXPECT_EQ(header_values(res.trailers, "X-Unannounced"), std::vector<std::string>{"surprise"});
  EXPECT_EQ(res.count("X-Unannounced"), 0u);
}

// With trailers the response must stay chunked even when the whole body is tiny and nothing was
// flushed before the end (flush_interval 0): a computed Content-Length would drop the trailers.
TEST(ResponsePath, Spec22_TrailersForceChunking) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.flush_interval = 0ns; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /short HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  // Head, body and trailers in one write: the proxy sees the whole response at once.
  ASSERT_TRUE(conn->send(std::string(kChunkedHead) + "Trailer: X-Sum\r\n\r\n" + chunk("hi") +
                         "0\r\nX-Sum: 42\r\nX-Late: yes\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_EQ(res.count("Content-Length"), 0u);
  EXPECT_EQ(res.body, "hi");
  EXPECT_EQ(header_values(res.trailers, "X-Sum"), std::vector<std::string>{"42"});
  EXPECT_EQ(header_values(res.trailers, "X-Late"), std::vector<std::string>{"yes"});
}

// ---- SPEC 23 / R31 ---------------------------------------------------------------------------

// Forwarding the 1xx is a later issue (Go 1.20+); what is required now: the final response
// arrives intact and none of the 1xx's fields leak into it.
TEST(ResponsePath, Spec23_InformationalResponsesForwardedFinalIntact) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /hints HTTP/1.1\r\nHost: example\r\n\r\n"));

  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 102 Processing\r\n\r\n"));
  ASSERT_TRUE(
      conn->send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"));
  ASSERT_TRUE(conn->send(response(200, {{"X-Final", "yes"}}, "final body")));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Final"), "yes");
  EXPECT_EQ(res.count("Link"), 0u) << "a 103 field leaked into the final response";
  EXPECT_EQ(res.body, "final body");
  EXPECT_EQ(res.header("Content-Length"), "10");
  // Forwarded in order (Go 1.20+), each with its own fields.
  EXPECT_EQ(res.informational, (std::vector<int>{102, 103}));

  // The connection is still in step: the next request gets its own response.
  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(conn->send(response(200, {}, "next")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "next");
}

// SPEC 23: Go's transport takes at most 5 informational responses before the final one; a
// sixth is an upstream error (502), never a relayed 1xx storm.
TEST(ResponsePath, Spec23_AtMostFiveInformationalResponses) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  const auto hints = [](int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out += "HTTP/1.1 103 Early Hints\r\nLink: </" + std::to_string(i) + ">\r\n\r\n";
    }
    return out;
  };

  ASSERT_TRUE(client->send("GET /five HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(hints(5) + response(200, {}, "after five")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "after five");
  EXPECT_EQ(res.count("Link"), 0u);

  // Same client, same (pooled) upstream connection.
  ASSERT_TRUE(client->send("GET /six HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/six");
  ASSERT_TRUE(conn->send(hints(6) + response(200, {}, "after six")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_TRUE(conn->wait_closed()) << "the misbehaving upstream connection was kept";
}

}  // namespace
}  // namespace sluice::test
