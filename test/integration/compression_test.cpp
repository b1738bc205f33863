// ReverseProxy::compress through a real Server: the client decodes every SSE event as soon as
// it arrives, for each coding; the flush interval decides when bytes reach the client exactly as
// without compression; the head says what the body is; and every case the issue rules out
// (HEAD, 204, 206, 304, an encoded or no-transform response, other types, small bodies, a
// client that refuses) passes through untouched.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/content_coding.hpp"
#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/stream_decoder.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr auto kNotYet = 400ms;

const std::vector<ContentCoding> kAll = {ContentCoding::zstd, ContentCoding::br,
                                         ContentCoding::gzip};

// The body the client got so far, decoded from scratch; nullopt when it does not decode.
std::optional<std::string> decoded(ContentCoding coding, std::string_view received) {
  const ParsedResponse r = parse_response_prefix(received);
  auto decoder = make_stream_decoder(coding);
  std::string out;
  if (!decoder->feed(r.body, out)) return std::nullopt;
  return out;
}

class CompressedStream : public testing::TestWithParam<ContentCoding> {};

TEST_P(CompressedStream, EachSseEventDecodesAsSoonAsItArrives) {
  const ContentCoding coding = GetParam();
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.compress.codings = kAll; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /events HTTP/1.1\r\nHost: t\r\nAccept-Encoding: " +
                           std::string(to_string(coding)) + "\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(kSseHead));

  std::string sent;
  for (int i = 0; i < 20; ++i) {
    // Events of varied sizes, some split across upstream chunks.
    const std::string event = "id: " + std::to_string(i) +
                              "\ndata: " + std::string(static_cast<std::size_t>(i * 37), 'x') +
                              " token " + std::to_string(i * i) + "\n\n";
    const std::size_t half = event.size() / 2;
    ASSERT_TRUE(conn->send(chunk(event.substr(0, half))));
    ASSERT_TRUE(conn->send(chunk(event.substr(half))));
    sent += event;
    // No further upstream byte comes until the client decoded this event.
    ASSERT_TRUE(client->read_until([&](std::string_view got) {
      const auto text = decoded(coding, got);
      return text && *text == sent;
    })) << "event "
        << i;
  }
  ASSERT_TRUE(conn->send(kLastChunk));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.header("Content-Encoding"), to_string(coding));
  EXPECT_EQ(res.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(res.count("Content-Length"), 0u);
  EXPECT_TRUE(res.chunked);
  auto decoder = make_stream_decoder(coding);
  std::string all;
  ASSERT_TRUE(decoder->feed(res.body, all));
  EXPECT_TRUE(decoder->finished());
  EXPECT_EQ(all, sent);
  // The client can hold the last chunk before the proxy recorded the response's end: wait for it.
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  EXPECT_TRUE(proxy.events().check_flush_lifecycle());
}

TEST_P(CompressedStream, KnownLengthBodyRoundTripsWithAWeakETag) {
  const ContentCoding coding = GetParam();
  FakeUpstream upstream;
  std::string json = "[";
  for (int i = 0; i < 300; ++i)
    json += R"({"id":)" + std::to_string(i) + R"(,"name":"item )" + std::to_string(i) + "\"},";
  json.back() = ']';
  upstream.set_handler([&json](UpstreamConn& conn) {
    RecordedRequest req;
    if (!conn.read_request(req)) return;
    conn.send(response(
        200, {{"Content-Type", "application/json"}, {"ETag", "\"v1\""}, {"Vary", "Origin"}}, json));
  });
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.compress.codings = kAll; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /items HTTP/1.1\r\nHost: t\r\nAccept-Encoding: " +
                           std::string(to_string(coding)) + "\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.header("Content-Encoding"), to_string(coding));
  EXPECT_EQ(res.header("ETag"), "W/\"v1\"");
  EXPECT_EQ(res.header("Vary"), "Origin, Accept-Encoding");
  EXPECT_EQ(res.count("Content-Length"), 0u);
  EXPECT_LT(res.body.size(), json.size() / 2);
  auto decoder = make_stream_decoder(coding);
  std::string all;
  ASSERT_TRUE(decoder->feed(res.body, all));
  EXPECT_TRUE(decoder->finished());
  EXPECT_EQ(all, json);
}

INSTANTIATE_TEST_SUITE_P(Codings, CompressedStream, testing::ValuesIn(kAll),
                         [](const testing::TestParamInfo<ContentCoding>& param) {
                           return std::string(to_string(param.param));
                         });

// With a known length, the flush interval decides when bytes reach the client, compressed or
// not: 0 holds a small first part until the end; 100ms delivers it, decodable, by then.
TEST(Compression, TheFlushIntervalKeepsItsTiming) {
  for (const auto interval : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(100ms)}) {
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url(), [interval](ReverseProxy& p) {
      p.compress.codings = {ContentCoding::gzip};
      p.flush_interval = interval;
    });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(client->send("GET /t HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_TRUE(upstream.accept(conn));
    RecordedRequest req;
    ASSERT_TRUE(conn->read_request(req));
    const std::string first(600, 'a');
    ASSERT_TRUE(conn->send(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1200\r\n\r\n" + first));
    const auto sees_first = [&](std::string_view got) {
      const auto text = decoded(ContentCoding::gzip, got);
      return text && *text == first;
    };
    if (interval.count() == 0) {
      EXPECT_FALSE(client->read_until(sees_first, kNotYet)) << "flushed with interval 0";
    } else {
      EXPECT_TRUE(client->read_until(sees_first)) << "not flushed with interval 100ms";
    }
    ASSERT_TRUE(conn->send(std::string(600, 'b')));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    std::string all;
    ASSERT_TRUE(make_stream_decoder(ContentCoding::gzip)->feed(res.body, all));
    EXPECT_EQ(all, first + std::string(600, 'b'));
  }
}

// ---- What is compressed, and what never is.

struct Case {
  std::string name;
  std::string request;            // the request line's method and the Accept-Encoding value
  std::string response;           // what the upstream sends
  std::string expected_encoding;  // "" : none
};

std::string text_response(std::string_view type, std::size_t size,
                          std::vector<std::pair<std::string, std::string>> more = {}) {
  more.emplace_back("Content-Type", std::string(type));
  return response(200, std::move(more), std::string(size, 'z'));
}

TEST(Compression, WhatIsCompressedAndWhatNeverIs) {
  const std::string big_text = text_response("text/plain; charset=utf-8", 2000);
  const std::vector<Case> cases = {
      {"gzip accepted", "GET|gzip", big_text, "gzip"},
      {"preference of the proxy on a tie", "GET|br, zstd, gzip", big_text, "zstd"},
      {"the client's q-values first", "GET|zstd;q=0.5, br;q=0.9", big_text, "br"},
      {"refused with q=0", "GET|gzip;q=0", big_text, ""},
      {"star", "GET|*", big_text, "zstd"},
      {"star but not zstd", "GET|*, zstd;q=0", big_text, "br"},
      {"identity only", "GET|identity", big_text, ""},
      {"no Accept-Encoding", "GET|", big_text, ""},
      {"HEAD", "HEAD|gzip",
       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\n\r\n", ""},
      {"206", "GET|gzip",
       response(206, {{"Content-Type", "text/plain"}, {"Content-Range", "bytes 0-1999/4000"}},
                std::string(2000, 'z')),
       ""},
      {"304", "GET|gzip", response(304, {{"ETag", "\"x\""}}), ""},
      {"204", "GET|gzip", response(204, {}), ""},
      {"already encoded", "GET|gzip",
       response(200, {{"Content-Type", "text/plain"}, {"Content-Encoding", "br"}},
                std::string(2000, 'z')),
       "br"},
      {"no-transform", "GET|gzip",
       text_response("text/plain", 2000, {{"Cache-Control", "public, no-transform"}}), ""},
      {"an image", "GET|gzip", text_response("image/png", 2000), ""},
      {"under the minimum size", "GET|gzip", text_response("text/plain", 100), ""},
      {"JSON", "GET|gzip", text_response("application/json", 2000), "gzip"},
      {"problem+json", "GET|gzip", text_response("application/problem+json", 2000), "gzip"},
  };
  std::map<std::string, std::string> by_path;
  for (std::size_t i = 0; i < cases.size(); ++i)
    by_path["/" + std::to_string(i)] = cases[i].response;
  FakeUpstream upstream;
  upstream.set_handler([&by_path](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(by_path.at(req.target))) return;
    }
  });
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.compress.codings = kAll; });
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string method = c.request.substr(0, c.request.find('|'));
    const std::string accept = c.request.substr(c.request.find('|') + 1);
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    std::string request = method + " /" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n";
    if (!accept.empty()) request += "Accept-Encoding: " + accept + "\r\n";
    ASSERT_TRUE(client->send(request + "\r\n"));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res, kDeadline, method == "HEAD")) << c.name;
    EXPECT_EQ(res.header("Content-Encoding").value_or(""), c.expected_encoding) << c.name;
    if (c.expected_encoding.empty() || c.name == "already encoded") {
      // Untouched: the upstream's framing and body.
      const ParsedResponse upstream_view = parse_response_prefix(c.response);
      EXPECT_EQ(res.header("Content-Length"), upstream_view.header("Content-Length")) << c.name;
      if (method != "HEAD") {
        EXPECT_EQ(res.body, upstream_view.body) << c.name;
      }
    }
  }
}

TEST(Compression, OffByDefault) {
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& conn) {
    RecordedRequest req;
    if (conn.read_request(req)) conn.send(text_response("text/plain", 2000));
  });
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br, zstd\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.count("Content-Encoding"), 0u);
  EXPECT_EQ(res.header("Content-Length"), "2000");
}

}  // namespace
}  // namespace sluice::test
