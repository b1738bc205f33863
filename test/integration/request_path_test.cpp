// SPEC A (request path, client -> backend), wire-level behaviours: 1-6 (hop-by-hop stripping,
// TE: trailers, upgrade headers, X-Forwarded-For in Director mode) and 13-15 (User-Agent, request
// body framing, method/target, Connection: close). The hook-driven behaviours (7-12, 16) are in
// request_path_hooks_test.cpp. Every test drives a real Server + ReverseProxy (ProxyHarness, which
// routes like Go's NewSingleHostReverseProxy) with raw client bytes and inspects the request
// exactly as a scripted upstream received it.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

// Sends `raw` on a fresh client connection, takes the request the upstream receives (on `conn`,
// accepting a new upstream connection first when `conn` is null), answers it 200 "ok" and reads
// the client's response. Every wait is bounded by kDeadline.
testing::AssertionResult forward(FakeUpstream& upstream, ProxyHarness& proxy, std::string_view raw,
                                 RecordedRequest& got, std::shared_ptr<UpstreamConn>& conn,
                                 ParsedResponse* res_out = nullptr) {
  std::unique_ptr<TestClient> client;
  if (auto r = TestClient::connect(proxy.port(), client); !r) return r;
  if (!client->send(raw)) return testing::AssertionFailure() << "client could not send the request";
  if (!conn) {
    if (auto r = upstream.accept(conn); !r) return r;
  }
  if (auto r = conn->read_request(got); !r) return r;
  if (!conn->send(response(200, {{"Content-Type", "text/plain"}}, "ok"))) {
    return testing::AssertionFailure() << "upstream could not send the response";
  }
  ParsedResponse res;
  if (auto r = client->read_response(res); !r) return r;
  if (res.status != 200 || res.body != "ok") {
    return testing::AssertionFailure() << "client got status " << res.status << " body \""
                                       << printable(res.body) << "\", want 200 \"ok\"";
  }
  if (res_out) *res_out = std::move(res);
  return testing::AssertionSuccess();
}

testing::AssertionResult forward(FakeUpstream& upstream, ProxyHarness& proxy, std::string_view raw,
                                 RecordedRequest& got, ParsedResponse* res_out = nullptr) {
  std::shared_ptr<UpstreamConn> conn;
  return forward(upstream, proxy, raw, got, conn, res_out);
}

// The last request a handler-mode upstream received, handed to the test thread.
class ForwardedToUpstream {
 public:
  void set(RecordedRequest req) {
    std::lock_guard lock(mutex_);
    req_ = std::move(req);
  }
  std::optional<RecordedRequest> get() const {
    std::lock_guard lock(mutex_);
    return req_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<RecordedRequest> req_;
};

// Handler mode: records each request and answers it 200 "ok", for tests in which the proxy
// might (wrongly) forward or (wrongly) not, so that the client always gets an answer.
FakeUpstream::Handler record_and_answer(ForwardedToUpstream& into) {
  return [&into](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      into.set(req);
      if (!conn.send(response(200, {}, "ok"))) return;
    }
  };
}

// ---- SPEC 1 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec01_FixedHopByHopListRemoved) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  // None of the fixed-list fields is named in Connection: they go whatever Connection says.
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET /hop HTTP/1.1\r\n"
                      "Host: some-name\r\n"
                      "Connection: keep-alive\r\n"
                      "Proxy-Connection: keep-alive\r\n"
                      "Keep-Alive: timeout=5, max=100\r\n"
                      "Proxy-Authenticate: Basic realm=\"x\"\r\n"
                      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
                      "TE: gzip\r\n"
                      "Trailer: X-Trailer\r\n"
                      "Upgrade: foo\r\n"
                      "X-End-To-End: kept\r\n"
                      "\r\n",
                      req));
  for (const char* name :
       {"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade"}) {
    EXPECT_EQ(req.count(name), 0u) << name << " reached the upstream:\n" << printable(req.raw);
  }
  EXPECT_EQ(req.values("X-End-To-End"), std::vector<std::string>{"kept"});
  EXPECT_EQ(req.header("Host"), "some-name");
}

TEST(RequestPath, Spec01_ProxyConnectionWithNonTokenValueIsRejected) {
  // Deviation from Go, on purpose: Go's TestReverseProxy sends "Proxy-Connection: should be
  // deleted" and Go serves it. Beast's parser reads Proxy-Connection like Connection, as a token
  // list, and rejects a value that is none; sluice answers 400 and forwards nothing rather than
  // guess what a malformed connection-control field meant. Valid values are stripped (above).
  FakeUpstream upstream;
  ForwardedToUpstream upstream_saw;
  upstream.set_handler(record_and_answer(upstream_saw));
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(
      "GET / HTTP/1.1\r\nHost: some-name\r\nProxy-Connection: should be deleted\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 400);
  ASSERT_TRUE(client->wait_closed());
  EXPECT_FALSE(upstream_saw.get().has_value()) << "a rejected request reached the upstream";
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

// ---- SPEC 2 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec02_HeadersNamedInConnectionRemoved) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  // Go's TestReverseProxyStripHeadersPresentInConnection, plus RFC 9110 §7.6.1 details: tokens
  // over several lines, OWS and empty elements ignored, names matched case-insensitively.
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\n"
                      "Host: h\r\n"
                      "Connection: X-Some-Conn-Header, X-Fake-Connection-Token\r\n"
                      "Connection: keep-alive, ,\t x-hop-secret ,,\r\n"
                      "X-Some-Conn-Header: original value\r\n"
                      "X-Fake-Connection-Token: should be deleted\r\n"
                      "X-Hop-Secret: s3cr3t\r\n"
                      "X-Hop-Secret: second line\r\n"
                      "X-Not-Named: kept\r\n"
                      "\r\n",
                      req));
  for (const char* name :
       {"Connection", "X-Some-Conn-Header", "X-Fake-Connection-Token", "X-Hop-Secret"}) {
    EXPECT_EQ(req.count(name), 0u) << name << " reached the upstream:\n" << printable(req.raw);
  }
  EXPECT_EQ(req.values("X-Not-Named"), std::vector<std::string>{"kept"});
}

TEST(RequestPath, Spec02_EmptyConnectionLineDoesNotBreakStripping) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  // Go's TestReverseProxyStripEmptyConnection: an empty Connection line next to a real one.
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\n"
                      "Host: h\r\n"
                      "Connection: \r\n"
                      "Connection: X-Some-Conn-Header\r\n"
                      "X-Some-Conn-Header: should be deleted\r\n"
                      "X-Other: kept\r\n"
                      "\r\n",
                      req));
  EXPECT_EQ(req.count("Connection"), 0u) << printable(req.raw);
  EXPECT_EQ(req.count("X-Some-Conn-Header"), 0u) << printable(req.raw);
  EXPECT_EQ(req.values("X-Other"), std::vector<std::string>{"kept"});
}

TEST(RequestPath, Spec02_ConnectionNamingFramingOrHostKeepsMessageIntact) {
  // Connection may name fields the proxy re-derives itself (Go keeps req.Host and
  // req.ContentLength outside the header map): the body stays framed and Host stays.
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "POST /f HTTP/1.1\r\nHost: some-name\r\n"
                      "Connection: Content-Length, Host, Transfer-Encoding\r\n"
                      "Content-Length: 5\r\n\r\nhello",
                      req));
  EXPECT_EQ(req.values("Host"), std::vector<std::string>{"some-name"}) << printable(req.raw);
  EXPECT_EQ(req.values("Content-Length"), std::vector<std::string>{"5"}) << printable(req.raw);
  EXPECT_EQ(req.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(req.body, "hello");
}

// ---- SPEC 3 -----------------------------------------------------------------------------------

struct TeCase {
  const char* te_lines;  // the client's TE field line(s)
  bool want_trailers;    // upstream sees exactly "TE: trailers", else no TE at all
};

TEST(RequestPath, Spec03_TeTrailersReAdded) {
  const TeCase cases[] = {
      {"TE: trailers\r\n", true},
      {"TE: deflate, trailers\r\n", true},           // token match, not whole-value match
      {"TE: deflate;q=0.5 , TRAILERS\r\n", true},    // tokens are case-insensitive
      {"TE: gzip\r\nTE: trailers\r\n", true},        // any TE line counts
      {"Connection: TE\r\nTE: trailers\r\n", true},  // as RFC 9110 §10.1.4 clients send it
      {"TE: gzip\r\n", false},                       // any other value is dropped
      {"TE: trailersx, xtrailers\r\n", false},       // not the token
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(printable(c.te_lines));
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        std::string("GET / HTTP/1.1\r\nHost: h\r\n") + c.te_lines + "\r\n", req));
    if (c.want_trailers) {
      EXPECT_EQ(req.values("TE"), std::vector<std::string>{"trailers"}) << printable(req.raw);
    } else {
      EXPECT_EQ(req.count("TE"), 0u) << printable(req.raw);
    }
  }
}

// ---- SPEC 4 (stripping half; the 101 tunnel is a later issue) ---------------------------------

TEST(RequestPath, Spec04_UpgradeWithoutConnectionTokenIsStripped) {
  const char* connection_lines[] = {
      "",                            // no Connection at all
      "Connection: keep-alive\r\n",  // Connection without the upgrade token
      "Connection: X-Up-Grade\r\n",  // a token that only contains the word
  };
  for (const char* connection : connection_lines) {
    SCOPED_TRACE(printable(connection));
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        std::string("GET /ws HTTP/1.1\r\nHost: h\r\n") + connection +
                            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
                        req));
    EXPECT_EQ(req.count("Upgrade"), 0u) << printable(req.raw);
    EXPECT_EQ(req.count("Connection"), 0u) << printable(req.raw);
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.target, "/ws");
    // End-to-end fields of the would-be upgrade are not hop-by-hop and pass.
    EXPECT_EQ(req.header("Sec-WebSocket-Version"), "13");
  }
}

// ---- SPEC 5 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec05_InvalidUpgradeProtocolIs502NotForwarded) {
  FakeUpstream upstream;
  ForwardedToUpstream upstream_saw;
  upstream.set_handler(record_and_answer(upstream_saw));
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  // A non-ASCII byte (obs-text, legal in a field value) in the requested upgrade protocol.
  ASSERT_TRUE(client->send(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: web\xc3\xa9socket\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  const auto req = upstream_saw.get();
  EXPECT_FALSE(req.has_value()) << "the request was forwarded:\n" << printable(req ? req->raw : "");
}

// ---- SPEC 6 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec06_XForwardedForAppended) {
  {
    SCOPED_TRACE("no prior value");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", req));
    EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
  }
  {
    SCOPED_TRACE("one prior value");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: client ip\r\n\r\n", req));
    EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"client ip, 127.0.0.1"});
  }
  {
    SCOPED_TRACE("several prior lines");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET / HTTP/1.1\r\nHost: h\r\n"
                        "X-Forwarded-For: 10.0.0.1\r\n"
                        "X-Other: between\r\n"
                        "x-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
                        "\r\n",
                        req));
    EXPECT_EQ(req.values("X-Forwarded-For"),
              std::vector<std::string>{"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"})
        << printable(req.raw);
  }
}

TEST(RequestPath, Spec06_AppendedAfterTheDirector) {
  // The append happens after the Director: a value it sets is the prior value.
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    p.director = [inner = p.director](Request& out) {
      inner(out);
      out.header.set("X-Forwarded-For", "192.0.2.1");
    };
  });
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n", req));
  EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"192.0.2.1, 127.0.0.1"});
}

TEST(RequestPath, Spec06_DirectorCanOmitXForwardedFor) {
  const auto omit = [](ReverseProxy& p) {
    p.director = [inner = p.director](Request& out) {
      inner(out);
      out.omit_x_forwarded_for = true;
    };
  };
  {
    SCOPED_TRACE("no prior value: none sent");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url(), omit);
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", req));
    EXPECT_EQ(req.count("X-Forwarded-For"), 0u) << printable(req.raw);
  }
  {
    // omit_x_forwarded_for suppresses the append only (message.hpp); the client's value is
    // end-to-end and is not touched.
    SCOPED_TRACE("prior value: passed through without the client IP");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url(), omit);
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.9.8.7\r\n\r\n", req));
    EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"10.9.8.7"});
  }
  {
    // The full port of Go's `Header["X-Forwarded-For"] = nil`: erase and omit.
    SCOPED_TRACE("director erases and omits: none sent");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
      p.director = [inner = p.director](Request& out) {
        inner(out);
        out.header.erase("X-Forwarded-For");
        out.omit_x_forwarded_for = true;
      };
    });
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.9.8.7\r\n\r\n", req));
    EXPECT_EQ(req.count("X-Forwarded-For"), 0u) << printable(req.raw);
  }
}

// ---- SPEC 13 ----------------------------------------------------------------------------------

TEST(RequestPath, Spec13_NoUserAgentInjected) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET /noua HTTP/1.1\r\nHost: h\r\n\r\n", req));
  EXPECT_EQ(req.count("User-Agent"), 0u) << printable(req.raw);
}

TEST(RequestPath, Spec13_EmptyUserAgentForwarded) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(
      forward(upstream, proxy, "GET /noua HTTP/1.1\r\nHost: h\r\nUser-Agent: \r\n\r\n", req));
  EXPECT_EQ(req.values("User-Agent"), std::vector<std::string>{""}) << printable(req.raw);
}

TEST(RequestPath, Spec13_ExplicitUserAgentForwarded) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: explicit UA/1.0 (x)\r\n\r\n", req));
  EXPECT_EQ(req.values("User-Agent"), std::vector<std::string>{"explicit UA/1.0 (x)"});
}

// ---- SPEC 14 ----------------------------------------------------------------------------------

// The request head as the upstream received it: everything up to and including the blank line.
std::string head_of(const RecordedRequest& req) {
  const auto end = req.raw.find("\r\n\r\n");
  return end == std::string::npos ? req.raw : req.raw.substr(0, end + 4);
}

TEST(RequestPath, Spec14_GetWithoutBodyHasNoBodyNoTE) {
  const char* variants[] = {
      "GET /nobody HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /nobody HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
  };
  for (const char* raw : variants) {
    SCOPED_TRACE(printable(raw));
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy, raw, req));
    EXPECT_EQ(req.count("Content-Length"), 0u) << printable(req.raw);
    EXPECT_EQ(req.count("Transfer-Encoding"), 0u) << printable(req.raw);
    EXPECT_FALSE(req.chunked);
    EXPECT_EQ(req.body, "");
    EXPECT_EQ(req.raw, head_of(req)) << "bytes after the head:\n" << printable(req.raw);
  }
}

TEST(RequestPath, Spec14_GetWithBodyStreamedAsSent) {
  // A body is forwarded whatever the method: known length as Content-Length, unknown as chunked.
  {
    SCOPED_TRACE("GET with Content-Length");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET /q HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}", req));
    EXPECT_EQ(req.values("Content-Length"), std::vector<std::string>{"7"});
    EXPECT_EQ(req.body, "{\"a\":1}");
  }
  {
    SCOPED_TRACE("DELETE chunked");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "DELETE /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunk("gone") + std::string(kLastChunk),
                        req));
    EXPECT_TRUE(req.chunked);
    EXPECT_EQ(req.count("Content-Length"), 0u);
    EXPECT_EQ(req.body, "gone");
  }
}

TEST(RequestPath, Spec14_PostEmptyKeepsContentLengthZero) {
  const char* variants[] = {
      "POST /empty HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
      "PUT /empty HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
  };
  for (const char* raw : variants) {
    SCOPED_TRACE(printable(raw));
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy, raw, req));
    EXPECT_EQ(req.values("Content-Length"), std::vector<std::string>{"0"}) << printable(req.raw);
    EXPECT_EQ(req.count("Transfer-Encoding"), 0u) << printable(req.raw);
    EXPECT_EQ(req.body, "");
    EXPECT_EQ(req.raw, head_of(req));
  }
}

TEST(RequestPath, Spec14_Post1MiBBodyByteExact) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  constexpr std::size_t kSize = std::size_t{1} << 20;
  std::string body(kSize, '\0');
  for (std::size_t i = 0; i < kSize; ++i) {
    // Every byte value, CR/LF and NUL included, in a pattern that does not repeat every 256 bytes.
    body[i] = static_cast<char>((i * 131 + (i >> 9) * 7 + (i >> 16)) & 0xff);
  }
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: " +
      std::to_string(kSize) + "\r\n\r\n";
  // 1 MiB may not fit in the socket buffers: the client writes on its own thread while this
  // thread plays the upstream (joined before the client is used again).
  bool sent = false;
  std::thread sender([&] { sent = client->send(head + body); });
  std::shared_ptr<UpstreamConn> conn;
  RecordedRequest req;
  const bool accepted = static_cast<bool>(upstream.accept(conn));
  testing::AssertionResult read =
      accepted ? conn->read_request(req) : testing::AssertionFailure() << "no upstream connection";
  if (read) (void)conn->send(response(200, {}, "ok"));
  sender.join();
  ASSERT_TRUE(sent) << "client could not send the body";
  ASSERT_TRUE(read);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/upload");
  EXPECT_EQ(req.values("Content-Length"), std::vector<std::string>{std::to_string(kSize)});
  EXPECT_EQ(req.count("Transfer-Encoding"), 0u);
  EXPECT_FALSE(req.chunked);
  ASSERT_EQ(req.body.size(), kSize);
  EXPECT_TRUE(req.body == body)
      << "body differs from byte "
      << std::distance(body.begin(),
                       std::mismatch(body.begin(), body.end(), req.body.begin()).first);
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok");
}

TEST(RequestPath, Spec14_ChunkedRequestBodyStaysChunked) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::string big(20000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i % 26);
  const std::string want = "hello world" + big + "!";
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          chunk("hello") + chunk(" world") + chunk(big) + chunk("!") +
                          std::string(kLastChunk),
                      req));
  EXPECT_TRUE(req.chunked) << printable(head_of(req));
  EXPECT_EQ(req.values("Transfer-Encoding"), std::vector<std::string>{"chunked"});
  EXPECT_EQ(req.count("Content-Length"), 0u);
  EXPECT_EQ(req.body.size(), want.size());
  EXPECT_TRUE(req.body == want) << "decoded body differs";
}

TEST(RequestPath, Spec14_ExpectContinueBodyDelivered) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send(
      "POST /expect HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));
  // The client sends no body byte before it sees the 100.
  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return got.find("\r\n\r\n") != std::string_view::npos; }));
  EXPECT_EQ(client->received().substr(0, 12), "HTTP/1.1 100") << printable(client->received());
  ASSERT_TRUE(client->send("hello world"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.body, "hello world");
  EXPECT_EQ(req.values("Content-Length"), std::vector<std::string>{"11"});
  ASSERT_TRUE(conn->send(response(201, {}, "made")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, std::vector<int>{100});
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "made");
}

TEST(RequestPath, Spec14_Http10GetWithoutHostOrBody) {
  // Go's TestNilBody: an HTTP/1.0 GET without body (and without Host) goes up as a body-less
  // request; the Host falls back to the target's authority.
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET /old HTTP/1.0\r\n\r\n", req));
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/old");
  EXPECT_EQ(req.header("Host"), "127.0.0.1:" + std::to_string(upstream.port()));
  EXPECT_EQ(req.count("Content-Length"), 0u);
  EXPECT_EQ(req.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(req.raw, head_of(req));
}

// ---- SPEC 15 ----------------------------------------------------------------------------------

TEST(RequestPath, Spec15_MethodAndTargetUnchangedAndConnectionCloseNotForwarded) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::shared_ptr<UpstreamConn> conn;
  {
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(
        client->send("DELETE /a%20b/c%2Fd;p=1/~x?q=%41&r=b+c&s=%2F HTTP/1.1\r\nHost: "
                     "h\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(upstream.accept(conn));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req));
    EXPECT_EQ(req.method, "DELETE");
    EXPECT_EQ(req.target, "/a%20b/c%2Fd;p=1/~x?q=%41&r=b+c&s=%2F");
    EXPECT_EQ(req.version, "HTTP/1.1");
    EXPECT_EQ(req.count("Connection"), 0u) << printable(req.raw);
    ASSERT_TRUE(conn->send(response(200, {}, "first")));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, "first");
    // The client asked for close: it gets it (RFC 9112 §9.6) ...
    EXPECT_TRUE(client->wait_closed());
  }
  // ... but the upstream hop stays alive: once the first exchange is over (response_end comes
  // after the upstream connection went back to the pool), a second client is served on it.
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  {
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(
        client->send("PATCH /second?x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req)) << "the upstream connection was not reused";
    EXPECT_EQ(req.method, "PATCH");
    EXPECT_EQ(req.target, "/second?x");
    EXPECT_EQ(req.body, "abc");
    ASSERT_TRUE(conn->send(response(200, {}, "second")));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, "second");
  }
  EXPECT_EQ(upstream.accepted_count(), 1u);
  EXPECT_FALSE(conn->peer_closed_now()) << "the proxy closed the pooled upstream connection";
}

TEST(RequestPath, Spec15_AbsoluteFormTargetForwardedAsOriginFormWithItsHost) {
  // RFC 9112 §3.2.2: with an absolute-form target the Host field is ignored and the target's
  // authority is used instead. Go's server does the same (req.Host = req.URL.Host), so its
  // single-host Director forwards that authority as Host; the upstream gets origin-form.
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(
      upstream, proxy,
      "GET http://other.example:8080/p/q?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n", req));
  EXPECT_EQ(req.target, "/p/q?x=1");
  EXPECT_EQ(req.values("Host"), std::vector<std::string>{"other.example:8080"});
}

TEST(RequestPath, R30_MaxForwardsZeroIsAnsweredLocally) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  for (const char* method : {"OPTIONS", "TRACE"}) {
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(
        client->send(std::string(method) + " /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n"));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, std::string(method) == "OPTIONS" ? 200 : 405) << method;
    EXPECT_TRUE(res.header("Allow").has_value());
  }
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(RequestPath, R30_MaxForwardsDecrementedOnTheWay) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(
      client->send("OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 3\r\n\r\n"
                   "GET /y HTTP/1.1\r\nHost: h\r\nMax-Forwards: 3\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.header("Max-Forwards"), "2");
  ASSERT_TRUE(conn->send(response(200, {}, "")));
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.header("Max-Forwards"), "3");  // only OPTIONS and TRACE count hops
}

}  // namespace
}  // namespace sluice::test
