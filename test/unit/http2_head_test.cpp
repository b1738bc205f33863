// src/http2: an HTTP/2 header block into a Request (RequestHead) and a response head or trailer
// section into nghttp2's field list (HeaderList), each against RFC 9113 §8 and the server's limits.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "http2/header_list.hpp"
#include "http2/request_head.hpp"

namespace sluice::http2 {
namespace {

RequestHead get_head(HeadLimits limits = {}) {
  RequestHead head(limits);
  head.add(":method", "GET");
  head.add(":scheme", "https");
  head.add(":authority", "api.test");
  head.add(":path", "/a/b?c=d");
  return head;
}

Request accepted(RequestHead& head, bool end_stream = true) {
  auto result = head.finish(end_stream, {}, true);
  if (auto* refusal = std::get_if<HeadRefusal>(&result)) {
    ADD_FAILURE() << "refused: " << refusal->status << " " << refusal->reason;
    return {};
  }
  return std::get<Request>(std::move(result));
}

unsigned refused(RequestHead& head, bool end_stream = true) {
  auto result = head.finish(end_stream, {}, false);
  auto* refusal = std::get_if<HeadRefusal>(&result);
  return refusal ? refusal->status : 0;
}

TEST(RequestHead, MapsPseudoHeadersOntoTheRequest) {
  RequestHead head = get_head();
  head.add("accept", "*/*");
  const Request r = accepted(head);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.version, 20u);
  EXPECT_EQ(r.host, "api.test");
  EXPECT_EQ(r.url.request_target(), "/a/b?c=d");
  EXPECT_EQ(r.content_length, 0);
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.header["accept"], "*/*");
}

TEST(RequestHead, CookieCrumbsAreJoinedAndCountAsOneField) {
  HeadLimits limits;
  limits.max_fields = 2;
  RequestHead head = get_head(limits);
  for (int i = 0; i < 10; ++i)
    head.add("cookie", "c" + std::to_string(i) + "=1");
  head.add("accept", "*/*");
  const Request r = accepted(head);
  EXPECT_EQ(r.header["cookie"], "c0=1; c1=1; c2=1; c3=1; c4=1; c5=1; c6=1; c7=1; c8=1; c9=1");
}

TEST(RequestHead, LimitsGive431And414) {
  HeadLimits limits;
  limits.max_fields = 3;
  RequestHead many = get_head(limits);
  for (int i = 0; i < 4; ++i)
    many.add("x-f" + std::to_string(i), "v");
  EXPECT_EQ(refused(many), 431u);

  limits = {};
  limits.max_bytes = 1024;
  RequestHead big = get_head(limits);
  big.add("x-big", std::string(2000, 'v'));
  EXPECT_EQ(refused(big), 431u);
  EXPECT_LT(big.held_bytes(), 1024u) << "past the limit nothing more is held";

  limits = {};
  limits.max_uri_bytes = 16;
  RequestHead longer(limits);
  longer.add(":method", "GET");
  longer.add(":scheme", "http");
  longer.add(":authority", "a.test");
  longer.add(":path", "/" + std::string(40, 'p'));
  EXPECT_EQ(refused(longer), 414u);
}

TEST(RequestHead, MalformedHeadsAreRefused) {
  {
    RequestHead h = get_head();
    h.add("Upper", "1");  // nghttp2 refuses it first; this layer too
    EXPECT_EQ(refused(h), 400u);
  }
  {
    RequestHead h = get_head();
    h.add("x-bad", "a\r\nb");
    EXPECT_EQ(refused(h), 400u);
  }
  {
    RequestHead h = get_head();
    h.add(":path", "/again");
    EXPECT_EQ(refused(h), 400u);
  }
  {
    RequestHead h(HeadLimits{});
    h.add(":method", "GET");
    h.add(":scheme", "http");
    h.add(":path", "no-slash");
    h.add(":authority", "a.test");
    EXPECT_EQ(refused(h), 400u);
  }
  {
    RequestHead h(HeadLimits{});
    h.add(":method", "CONNECT");
    h.add(":authority", "a.test:443");
    EXPECT_EQ(refused(h), 501u);
  }
  {
    RequestHead h = get_head();
    h.add("host", "other.test");
    EXPECT_EQ(refused(h), 400u) << ":authority and Host disagree";
  }
}

TEST(RequestHead, ContentLengthAgainstTheBodyAndItsLimit) {
  HeadLimits limits;
  limits.max_body_bytes = 100;
  RequestHead small = get_head(limits);
  small.add("content-length", "50");
  EXPECT_EQ(accepted(small, /*end_stream=*/false).content_length, 50);
  RequestHead large = get_head(limits);
  large.add("content-length", "101");
  EXPECT_EQ(refused(large, false), 413u);
  RequestHead open = get_head();
  EXPECT_EQ(accepted(open, false).content_length, kUnknownLength);
  RequestHead bad = get_head();
  bad.add("content-length", "12x");
  EXPECT_EQ(refused(bad, false), 400u);
}

std::vector<std::pair<std::string, std::string>> pairs(HeaderList& list) {
  std::vector<std::pair<std::string, std::string>> out;
  const nghttp2_nv* nv = list.data();
  for (std::size_t i = 0; i < list.size(); ++i) {
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv[i].name), nv[i].namelen),
                     std::string(reinterpret_cast<const char*>(nv[i].value), nv[i].valuelen));
  }
  return out;
}

TEST(HeaderList, ResponseDropsConnectionSpecificFieldsAndBadValues) {
  Fields f;
  f.insert("Content-Type", "text/plain");
  f.insert("Connection", "close");
  f.insert("Keep-Alive", "timeout=5");
  f.insert("Transfer-Encoding", "chunked");
  f.insert("Upgrade", "websocket");
  f.insert("X-Split", "a\r\nInjected: yes");
  f.insert("X-Spaced", "  v  ");
  f.insert("Content-Length", "999");  // the exchange's own length wins
  HeaderList list = HeaderList::response(200, f, 12);
  const std::vector<std::pair<std::string, std::string>> want{{":status", "200"},
                                                              {"content-type", "text/plain"},
                                                              {"x-spaced", "v"},
                                                              {"content-length", "12"}};
  EXPECT_EQ(pairs(list), want);
}

TEST(HeaderList, TrailersCarryNoFramingFields) {
  Fields f;
  f.insert("grpc-status", "0");
  f.insert("Content-Length", "5");
  f.insert("Trailer", "grpc-status");
  f.insert("TE", "trailers");
  HeaderList list = HeaderList::trailers(f);
  const std::vector<std::pair<std::string, std::string>> want{{"grpc-status", "0"}};
  EXPECT_EQ(pairs(list), want);
}

}  // namespace
}  // namespace sluice::http2
