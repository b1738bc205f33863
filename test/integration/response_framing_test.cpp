// SPEC K, response side (R40-R43): a response head that is not strict RFC 9112 is never
// relayed. The client gets a 502 with an empty body, no byte of the bad response (each one
// carries the marker "secret"), the upstream connection is closed (never pooled), the same
// client connection goes on working through a new upstream connection, and a fresh GET gets 200.
// R36-R39, R44 and R45 are in errors_test.cpp and upstream_connections_test.cpp; plain garbage
// (Spec30_MalformedResponseIs502) and a close without a response too.
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

bool complete_response(std::string_view got) { return parse_response_prefix(got).complete; }

// The next request on `client`'s connection reaches the upstream on a new connection and gets
// its own clean response.
void expect_next_on_new_upstream_connection(FakeUpstream& upstream, TestClient& client) {
  ASSERT_TRUE(client.send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> next;
  ASSERT_TRUE(upstream.accept(next)) << "the request did not arrive on a new upstream connection";
  RecordedRequest req;
  ASSERT_TRUE(next->read_request(req));
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(next->send(response(200, {}, "next")));
  ASSERT_TRUE(client.read_until(complete_response));
  EXPECT_EQ(client.received().find("secret"), std::string::npos) << printable(client.received());
  ParsedResponse res;
  ASSERT_TRUE(client.read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "next");
  EXPECT_EQ(client.received(), "");
}

// The whole R40-R42 contract for one bad response.
void expect_rejected(std::string_view bad) {
  SCOPED_TRACE(printable(bad.substr(0, 200)));
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /bad HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  // May fail part-way (16 MiB of headers): the proxy stops reading once it has given up.
  (void)conn->send(bad);

  ASSERT_TRUE(client->read_until(complete_response));
  EXPECT_EQ(client->received().find("secret"), std::string::npos)
      << "bytes of the bad response reached the client:\n"
      << printable(client->received());
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_TRUE(res.informational.empty());
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(client->received(), "") << "bytes after the 502";
  EXPECT_TRUE(conn->wait_closed()) << "the upstream connection that sent it was kept";
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 0);

  ASSERT_NO_FATAL_FAILURE(expect_next_on_new_upstream_connection(upstream, *client));
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

// ---- R40: garbage instead of a status line, 16 MiB of headers ---------------------------------

// nginx 1.22 relays this as an HTTP/0.9 body under a 200.
TEST(ResponseFraming, R40_Http09StyleReplyIs502NeverRelayed) {
  expect_rejected("<html><body>secret page</body></html>\r\n\r\n");
}

TEST(ResponseFraming, R40_StatusCodeBelow100Is502) {
  expect_rejected("HTTP/1.1 099 Odd\r\nContent-Length: 6\r\n\r\nsecret");
  expect_rejected("HTTP/1.1 000 Zero\r\nContent-Length: 6\r\n\r\nsecret");
}

TEST(ResponseFraming, R40_NotHttp1VersionIs502) {
  expect_rejected("HTTP/2.0 200 OK\r\nContent-Length: 6\r\n\r\nsecret");
}

TEST(ResponseFraming, R40_OversizedHeaderBlockIs502) {
  std::string head = "HTTP/1.1 200 OK\r\nX-Secret: secret\r\n";
  const std::string pad(1000, 'a');
  for (int i = 0; head.size() < 16u * 1024 * 1024; ++i) {
    head += "X-Pad-" + std::to_string(i) + ": " + pad + "\r\n";
  }
  head += "Content-Length: 6\r\n\r\nsecret";
  expect_rejected(head);
}

// The bound is max_response_header_bytes (64 KiB): a large head below it still passes.
TEST(ResponseFraming, R40_LargeHeaderBlockBelowLimitPasses) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /big HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  std::vector<std::pair<std::string, std::string>> headers;
  for (int i = 0; i < 48; ++i)
    headers.emplace_back("X-Pad-" + std::to_string(i), std::string(1000, 'p'));
  ASSERT_TRUE(conn->send(response(200, headers, "big")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.count("X-Pad-47"), 1u);
  EXPECT_EQ(res.body, "big");
}

// ---- R41: Content-Length and Transfer-Encoding --------------------------------------------------

TEST(ResponseFraming, R41_TransferEncodingWithContentLengthIs502) {
  expect_rejected(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n"
      "6\r\nsecret\r\n0\r\n\r\n");
  expect_rejected(
      "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nsecret\r\n0\r\n\r\n");
}

// Beast 1.81 frames this by Content-Length: the TE.CL desync.
TEST(ResponseFraming, R41_UnknownTransferEncodingWithContentLengthIs502) {
  expect_rejected(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\nContent-Length: 6\r\n\r\nsecret");
}

// Beast 1.81 accepts identical duplicates (as one length).
TEST(ResponseFraming, R41_DuplicateContentLengthIs502) {
  expect_rejected("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 6\r\n\r\nsecret");
  expect_rejected("HTTP/1.1 200 OK\r\nContent-Length: 6, 6\r\n\r\nsecret");
}

TEST(ResponseFraming, R41_ConflictingContentLengthIs502) {
  expect_rejected("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nsecret!");
  expect_rejected("HTTP/1.1 200 OK\r\nContent-Length: 6, 7\r\n\r\nsecret!");
}

TEST(ResponseFraming, R41_InvalidContentLengthIs502) {
  for (const char* value : {"+6", "-1", "abc", "0x6", "6 6", "", "18446744073709551615"}) {
    expect_rejected(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + value + "\r\n\r\nsecret");
  }
}

// Anything but exactly "chunked" (Go's transport): Beast would read "gzip" or "chunked, gzip"
// until the close and dechunk "gzip, chunked" into bytes whose coding the client never learns.
TEST(ResponseFraming, R41_TransferEncodingOtherThanChunkedIs502) {
  for (const char* te : {"gzip", "chunked, gzip", "gzip, chunked", "identity", ""}) {
    expect_rejected(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + te +
                    "\r\n\r\n6\r\nsecret\r\n0\r\n\r\n");
  }
  expect_rejected(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nsecret\r\n0\r\n\r\n");
}

// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
TEST(ResponseFraming, R41_TransferEncodingInHttp10ResponseIs502) {
  expect_rejected("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecret\r\n0\r\n\r\n");
}

// ---- R42: obs-fold, whitespace before the colon -------------------------------------------------

// Beast 1.81 joins the folded lines into one value.
TEST(ResponseFraming, R42_ObsFoldIs502) {
  expect_rejected("HTTP/1.1 200 OK\r\nX-Folded: a\r\n secret\r\nContent-Length: 2\r\n\r\nok");
  expect_rejected("HTTP/1.1 200 OK\r\nX-Folded: a\r\n\tsecret\r\nContent-Length: 2\r\n\r\nok");
}

TEST(ResponseFraming, R42_SpaceBeforeColonIs502) {
  expect_rejected("HTTP/1.1 200 OK\r\nX-Spaced : secret\r\nContent-Length: 2\r\n\r\nok");
  expect_rejected("HTTP/1.1 200 OK\r\nX-Spaced\t: secret\r\nContent-Length: 2\r\n\r\nok");
}

// ---- R43: no body after HEAD / 204 / 304, whatever the headers say -----------------------------

// The upstream wrongly sends the 100 bytes its HEAD response announces: they are not a body,
// never reach the client, and the connection they sit on is not reused.
TEST(ResponseFraming, R43_HeadResponseWithContentLengthRelaysNoBody) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("HEAD /h HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.method, "HEAD");
  std::string stray;
  while (stray.size() < 100)
    stray += "secret";
  stray.resize(100);
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + stray));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kDeadline, /*head_request=*/true));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), "100");
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(client->received(), "");
  ASSERT_NO_FATAL_FAILURE(expect_next_on_new_upstream_connection(upstream, *client));
  EXPECT_TRUE(conn->wait_closed()) << "the connection with 100 unread bytes was kept";
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

// A correct HEAD response (Content-Length, no body) leaves the connection usable.
TEST(ResponseFraming, R43_HeadResponseWithoutBodyKeepsConnection) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("HEAD /h HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kDeadline, /*head_request=*/true));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), "100");
  EXPECT_EQ(res.body, "");

  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(conn->read_request(req)) << "the clean connection was not reused";
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(conn->send(response(200, {}, "next")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "next");
  EXPECT_EQ(upstream.accepted_count(), 1u);
}

// 204 and 304 end at the empty line (RFC 9112 §6.3#1): "Content-Length: 6" + 6 bytes leaves six
// stray bytes on the upstream connection, a response-side desync if it were reused.
TEST(ResponseFraming, R43_NoContentWithStrayBytesNeverRelayed) {
  for (const int status : {204, 304}) {
    SCOPED_TRACE(status);
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send("GET /nc HTTP/1.1\r\nHost: example\r\n\r\n"));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_TRUE(upstream.accept(conn));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req));
    ASSERT_TRUE(conn->send("HTTP/1.1 " + std::to_string(status) +
                           " Whatever\r\nContent-Length: 6\r\nX-Kept: yes\r\n\r\nsecret"));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, status);
    EXPECT_EQ(res.header("X-Kept"), "yes");
    EXPECT_EQ(res.body, "");
    if (status == 204) {
      EXPECT_EQ(res.count("Content-Length"), 0u);
    }
    EXPECT_EQ(client->received(), "");
    ASSERT_NO_FATAL_FAILURE(expect_next_on_new_upstream_connection(upstream, *client));
    EXPECT_TRUE(conn->wait_closed()) << "the connection with stray bytes was kept";
    ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
  }
}

TEST(ResponseFraming, R37_BytesAfterAnInvalidChunkSizeNeverReachTheClient) {
  FakeUpstream upstream;
  ProxyHarness h(upstream.url(), [](ReverseProxy& p) { p.flush_interval = -1ns; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /cut HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello")));
  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return got.find("hello") != std::string_view::npos; }));
  ASSERT_TRUE(conn->send("zz\r\nSECRET-AFTER-BAD-CHUNK\r\n0\r\n\r\n"));
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->received().find("SECRET"), std::string::npos);
  EXPECT_FALSE(parse_response_prefix(client->received()).complete);
  ASSERT_TRUE(conn->wait_closed());
}

}  // namespace
}  // namespace sluice::test
