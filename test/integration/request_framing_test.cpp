// Strict request framing (SPEC H, R1-R25): the exact bytes of each hostile request head or body go
// to the proxy; the client gets the status of the row and a closed connection, the upstream gets
// nothing of that request, and a fresh GET afterwards still gets 200.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// An upstream that answers every complete request with 200 and records it.
class RecordingUpstream {
 public:
  RecordingUpstream() {
    upstream_.set_handler([this](UpstreamConn& c) {
      for (;;) {
        RecordedRequest req;
        if (!c.read_request(req)) return;
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(req);
        }
        if (!c.send(response(200, {}, "ok " + req.target))) return;
      }
    });
  }
  std::string url() const { return upstream_.url(); }
  std::size_t accepted_count() const { return upstream_.accepted_count(); }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  FakeUpstream upstream_;  // last: its handler threads end before the members they use
};

std::string shown(std::string_view bytes) {
  std::string s = testing::PrintToString(std::string(bytes.substr(0, 160)));
  if (bytes.size() > 160) s += " ... (" + std::to_string(bytes.size()) + " bytes)";
  return s;
}

void expect_fresh_get_ok(std::uint16_t port) {
  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/after", res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok /after");
}

// A request head the proxy must refuse: `status`, close, nothing upstream, next GET fine.
void expect_head_rejected(std::string_view bytes, int status) {
  SCOPED_TRACE(testing::Message() << "request: " << shown(bytes));
  RecordingUpstream upstream;
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(bytes));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, status);
  EXPECT_EQ(res.header("Connection"), "close");
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->received(),
            "");  // nothing after the error: the smuggled part got no answer
  EXPECT_EQ(upstream.accepted_count(), 0u);
  expect_fresh_get_ok(h.port());
  EXPECT_EQ(upstream.requests().size(), 1u);
}

// A request whose head is fine and whose body is malformed: the proxy closes the connection, the
// upstream never sees a complete request, the next GET is fine. With `answered`, the client must
// also get the 400 or 502 that SPEC R17 asks for (see the DISABLED_ tests below).
void expect_body_rejected(std::string_view bytes, bool answered = false,
                          ServerOptions options = {}) {
  SCOPED_TRACE(testing::Message() << "request: " << shown(bytes));
  RecordingUpstream upstream;
  ProxyHarness h(upstream.url(), {}, options);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(bytes));
  ASSERT_TRUE(client->wait_closed());
  const ParsedResponse res = parse_response_prefix(client->received());
  if (answered) {
    EXPECT_TRUE(res.status == 400 || res.status == 502)
        << "status " << res.status << ", received: " << client->received();
  } else {
    EXPECT_TRUE(res.status == 0 || res.status == 400 || res.status == 502)
        << "status " << res.status << ", received: " << client->received();
  }
  EXPECT_TRUE(upstream.requests().empty());
  expect_fresh_get_ok(h.port());
  const auto got = upstream.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/after");
}

// A request that must go through: the upstream gets `body` (decoded) and the client a 200.
void expect_forwarded(std::string_view bytes, std::string_view body) {
  SCOPED_TRACE(testing::Message() << "request: " << shown(bytes));
  RecordingUpstream upstream;
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(bytes));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  const auto got = upstream.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, body);
  // Re-serialized: no chunk extensions, no odd casing or whitespace in the framing.
  EXPECT_EQ(got[0].raw.find(';'), std::string::npos) << got[0].raw;
  EXPECT_EQ(got[0].raw.find("ChUnKeD"), std::string::npos) << got[0].raw;
}

constexpr std::string_view kPost = "POST / HTTP/1.1\r\nHost: t\r\n";

std::string post(std::string_view fields, std::string_view body) {
  return std::string(kPost) + std::string(fields) + "\r\n" + std::string(body);
}

const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

TEST(RequestFraming, R01_ContentLengthWithTransferEncodingRejected) {
  expect_head_rejected(
      post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + kSmuggled), 400);
  expect_head_rejected(
      post("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "0\r\n\r\n" + kSmuggled), 400);
  // Beast frames this by Content-Length (TE.TE desync); a TE-first upstream would not.
  expect_head_rejected(
      post("Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", "0\r\n\r\n" + kSmuggled), 400);
}

TEST(RequestFraming, R02_ConflictingContentLengthRejected) {
  expect_head_rejected(post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400);
  expect_head_rejected(post("Content-Length: 5, 45\r\n", "hello"), 400);
}

TEST(RequestFraming, R03_IdenticalContentLengthRejected) {
  expect_head_rejected(post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400);
  expect_head_rejected(post("Content-Length: 5, 5\r\n", "hello"), 400);
}

TEST(RequestFraming, R04_InvalidContentLengthRejected) {
  for (const char* v : {"+5", "-5", "0x5", "5 5", "5x", "", "18446744073709551621",
                        "18446744073709551615", "1000.1000"}) {
    expect_head_rejected(post(std::string("Content-Length: ") + v + "\r\n", "hello"), 400);
  }
}

TEST(RequestFraming, R05_UnknownTransferEncodingIs501) {
  expect_head_rejected(post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n" + kSmuggled), 501);
  expect_head_rejected(post("Transfer-Encoding: identity\r\n", "0\r\n\r\n"), 501);
  expect_head_rejected(post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501);
}

TEST(RequestFraming, R05_ChunkedNotFinalOrNotATokenIs400) {
  expect_head_rejected(post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n" + kSmuggled), 400);
  expect_head_rejected(post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"), 400);
  expect_head_rejected(post("Transfer-Encoding: \x0b"
                            "chunked\r\n",
                            "0\r\n\r\n"),
                       400);
}

TEST(RequestFraming, R06_ChunkedTwiceRejected) {
  expect_head_rejected(
      post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400);
  expect_head_rejected(post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), 400);
}

TEST(RequestFraming, R07_WhitespaceBeforeColonRejected) {
  expect_head_rejected(post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400);
  expect_head_rejected(post("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"), 400);
  expect_head_rejected(post("Content-Length : 5\r\n", "hello"), 400);
}

TEST(RequestFraming, R08_ObsFoldRejected) {
  expect_head_rejected(post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\nX-Fold: a\r\n b\r\n\r\n", 400);
}

TEST(RequestFraming, R09_WhitespaceLedFirstHeaderRejected) {
  expect_head_rejected(
      "POST / HTTP/1.1\r\n Transfer-Encoding: "
      "chunked\r\nHost: t\r\n\r\n0\r\n\r\n",
      400);
}

TEST(RequestFraming, R10_InvalidHeaderNameRejected) {
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\nTransfer- Encoding: chunked\r\n\r\n", 400);
  expect_head_rejected(
      "GET / HTTP/1.1\r\nHost: t\r\nX\x01"
      "Foo: a\r\n\r\n",
      400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\n: value\r\n\r\n", 400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400);
}

TEST(RequestFraming, R11_NulOrBareCrInValueRejected) {
  expect_head_rejected(std::string("GET / HTTP/1.1\r\nHost: t\r\nX-N: a\0b\r\n\r\n", 37), 400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\nX-Cr: a\rContent-Length: 40\r\n\r\n", 400);
}

TEST(RequestFraming, R12_BareLfRejected) {
  expect_head_rejected("POST / HTTP/1.1\nHost: t\nContent-Length: 5\n\nhello", 400);
  expect_head_rejected(
      post("X-A: b\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400);
  // Beast alone would wait for a CRLF CRLF until the header timeout (10 s); the answer is at once
  // (read_response's deadline is shorter).
  expect_head_rejected("GET / HTTP/1.1\r\nHost: t\r\n\n", 400);
}

TEST(RequestFraming, R13_TransferEncodingInHttp10Rejected) {
  expect_head_rejected(
      "POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n",
      400);
}

TEST(RequestFraming, R14_MixedCaseChunkedForwarded) {
  expect_forwarded(post("Transfer-Encoding: ChUnKeD\r\n", "3\r\nabc\r\n0\r\n\r\n"), "abc");
}

TEST(RequestFraming, R15_MissingOrDuplicateHostRejected) {
  expect_head_rejected("GET / HTTP/1.1\r\n\r\n", 400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  expect_head_rejected("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
}

TEST(RequestFraming, R16_BadRequestLineRejected) {
  expect_head_rejected("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400);
  expect_head_rejected(std::string("GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n", 30), 400);
  expect_head_rejected("G\x01T / HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

TEST(RequestFraming, R16_UnsupportedVersionIs505) {
  expect_head_rejected("GET / HTTP/9.9\r\nHost: t\r\n\r\n", 505);
  expect_head_rejected("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
}

const std::string kChunked = "Transfer-Encoding: chunked\r\n";

const std::vector<std::string> kBadChunkSizes = {"zz\r\nhello\r\n0\r\n\r\n",
                                                 "-5\r\nhello\r\n0\r\n\r\n",
                                                 "10000000000000005\r\nhello\r\n0\r\n\r\n"};
const std::vector<std::string> kBadChunkEnds = {"5\r\nhelloXX0\r\n\r\n", "5\r\nhello\n0\r\n\r\n",
                                                "5\nhello\r\n0\r\n\r\n"};

TEST(RequestFraming, R17_InvalidChunkSizeClosesAndNothingForwarded) {
  for (const auto& body : kBadChunkSizes)
    expect_body_rejected(post(kChunked, body));
}

TEST(RequestFraming, R18_ChunkDataWithoutCrlfClosesAndNothingForwarded) {
  for (const auto& body : kBadChunkEnds)
    expect_body_rejected(post(kChunked, body));
}

TEST(RequestFraming, R19_ChunkSizeTrailingSpaceClosesAndNothingForwarded) {
  expect_body_rejected(post(kChunked, "5 \r\nhello\r\n0\r\n\r\n"));
}

TEST(RequestFraming, R21_HugeChunkExtensionBounded) {
  // The client read buffer (header limit + 16 KiB) bounds the chunk line: Beast fails with
  // buffer_overflow long before 300 KiB.
  expect_body_rejected(
      post(kChunked, "5;a=" + std::string(300 * 1024, 'x') + "\r\nhello\r\n0\r\n\r\n"));
}

// Today a bare LF ending a chunk-size line, with no CRLF anywhere after it, makes Beast wait for a
// CRLF: the connection only ends at write_timeout (60 s by default, used as the body-read timeout
// by Exchange::read_body). With a short timeout, at least that bound holds.
// Beast 1.81 applies its Content-Length rules to trailer fields and fails the body; sluice
// notes the last chunk and drops a trailer section Beast refuses (request trailers are never
// forwarded), so the body arrives intact and the trailer never becomes a header upstream.
TEST(RequestFraming, R22_TrailerContentLengthNeverMergedBodyIntact) {
  RecordingUpstream upstream;
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(post(kChunked, "5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  ASSERT_EQ(upstream.requests().size(), 1u);
  const auto req = upstream.requests().front();
  EXPECT_EQ(req.body, "hello");
  EXPECT_EQ(req.count("Content-Length"), 0u);
  EXPECT_TRUE(req.chunked);
  ASSERT_TRUE(client->wait_closed());  // the parser failed on the trailer: no keep-alive
  expect_fresh_get_ok(h.port());
}

// ---- SPEC R17-R21: a malformed body is answered (400) before the close ---------------------
// Exchange::read_body parses the body itself, so a bare-LF chunk line fails at once instead of
// waiting for a CRLF; round_trip tells Beast's parse errors (errc::client_body_invalid -> 400)
// apart from a client that left (errc::client_body_failed -> no answer, R46).

TEST(RequestFraming, R17_InvalidChunkSizeAnswered400Or502) {
  for (const auto& body : kBadChunkSizes)
    expect_body_rejected(post(kChunked, body), true);
}

TEST(RequestFraming, R18_ChunkDataWithoutCrlfAnswered400Or502) {
  for (const auto& body : kBadChunkEnds)
    expect_body_rejected(post(kChunked, body), true);
}

TEST(RequestFraming, R19_ChunkSizeTrailingSpaceAnswered400Or502) {
  expect_body_rejected(post(kChunked, "5 \r\nhello\r\n0\r\n\r\n"), true);
}

TEST(RequestFraming, R21_HugeChunkExtensionAnswered400Or502) {
  expect_body_rejected(
      post(kChunked, "5;a=" + std::string(300 * 1024, 'x') + "\r\nhello\r\n0\r\n\r\n"), true);
}

// Needs Exchange::read_body to fail at once instead of waiting (stalled_chunk_line_invalid).
TEST(RequestFraming, R18_BareLfChunkSizeLineAnsweredAtOnce) {
  expect_body_rejected(post(kChunked, "5\nhello\n0\n\n"), true);
}

TEST(RequestFraming, R19_ChunkSizeLeadingZerosRechunked) {
  expect_forwarded(
      post("Transfer-Encoding: chunked\r\n", "0000000000000000000005\r\nhello\r\n0\r\n\r\n"),
      "hello");
}

TEST(RequestFraming, R20_ChunkExtensionsStripped) {
  expect_forwarded(
      post("Transfer-Encoding: chunked\r\n", "5;name=value;q=\"x y\"\r\nhello\r\n0\r\n\r\n"),
      "hello");
}

}  // namespace
}  // namespace sluice::test
