// Whether a response is compressed, with which coding, and its rewritten head (issue 14).
#include "proxy/compression_policy.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace {

using C = ContentCoding;
constexpr std::optional<ContentCoding> kIdentity = std::nullopt;

Fields accept_encoding(std::initializer_list<std::string> lines) {
  Fields header;
  for (const std::string& line : lines) {
    header.insert("Accept-Encoding", line);
  }
  return header;
}

struct NegotiationCase {
  std::vector<std::string> lines;  // the Accept-Encoding lines
  std::vector<ContentCoding> offered;
  std::optional<ContentCoding> want;
};

std::string describe(const NegotiationCase& c) {
  std::string s;
  for (const auto& line : c.lines) {
    s += "Accept-Encoding: \"" + line + "\" ";
  }
  s += "offered:";
  for (const ContentCoding o : c.offered) {
    s += std::string(" ") + to_string(o);
  }
  return s;
}

TEST(CompressionPolicy, NegotiationTable) {
  const std::vector<C> all = {C::zstd, C::br, C::gzip};
  const std::vector<C> gzip_first = {C::gzip, C::br, C::zstd};
  const std::vector<NegotiationCase> cases = {
      // Plain lists: the offered order breaks ties.
      {{"gzip"}, all, C::gzip},
      {{"gzip, deflate, br"}, all, C::br},
      {{"gzip, deflate, br, zstd"}, all, C::zstd},
      {{"gzip, deflate, br, zstd"}, gzip_first, C::gzip},
      {{"deflate"}, all, kIdentity},
      {{"br"}, {C::gzip}, kIdentity},
      // q-values.
      {{"gzip;q=1, br;q=0.5"}, all, C::gzip},
      {{"gzip;q=0.5, br;q=1"}, gzip_first, C::br},
      {{"gzip;q=0.5, br;q=0.5"}, gzip_first, C::gzip},
      {{"gzip;q=0.001"}, all, C::gzip},
      {{"br;q=0.999, zstd;q=1.000"}, gzip_first, C::zstd},
      {{"gzip;q=0"}, all, kIdentity},
      {{"gzip;q=0.0, br"}, gzip_first, C::br},
      {{"gzip;q=0.000"}, all, kIdentity},
      {{"gzip;Q=0.5"}, all, C::gzip},
      // identity: chosen only when the client prefers it strictly.
      {{"identity"}, all, kIdentity},
      {{"identity, gzip"}, all, C::gzip},
      {{"identity;q=1, gzip;q=0.5"}, all, kIdentity},
      {{"identity;q=0.5, gzip;q=0.5"}, all, C::gzip},
      {{"identity;q=0, gzip"}, all, C::gzip},
      {{"gzip;q=0.4, *;q=0.8"}, {C::gzip}, kIdentity},  // "*" covers identity too
      {{"gzip;q=0.4, identity;q=0.2, *;q=0.8"}, {C::gzip}, C::gzip},
      // "*": any coding not named.
      {{"*"}, all, C::zstd},
      {{"*"}, gzip_first, C::gzip},
      {{"*;q=0"}, all, kIdentity},
      {{"*;q=0, gzip"}, all, C::gzip},
      {{"gzip;q=0, *"}, {C::gzip, C::br}, C::br},
      {{"*;q=0.5, br"}, all, C::br},
      // x-gzip is gzip (RFC 9110 §8.4.1.3); names are case-insensitive.
      {{"x-gzip"}, all, C::gzip},
      {{"X-GZIP;q=0.5, br;q=0.1"}, all, C::gzip},
      {{"GZip"}, all, C::gzip},
      {{"BR, ZSTD;q=0.9"}, gzip_first, C::br},
      // Whitespace.
      {{"  gzip  ,\tbr ;q=0.5 , "}, gzip_first, C::gzip},
      {{"gzip ; q=0.3,br\t;\tq=0.4"}, gzip_first, C::br},
      {{",,, ,gzip,,"}, all, C::gzip},
      // Several lines are one list.
      {{"gzip;q=0.2", "br;q=0.9"}, gzip_first, C::br},
      {{"gzip", "gzip;q=0"}, all, kIdentity},  // named twice: the lower q counts
      {{"", "br"}, all, C::br},
      // Malformed elements are ignored, the rest of the list stands.
      {{"gzip;q=2"}, all, kIdentity},
      {{"gzip;q=abc"}, all, kIdentity},
      {{"gzip;q=0.5000"}, all, kIdentity},
      {{"gzip;q=1.5"}, all, kIdentity},
      {{"gzip;q=.5"}, all, kIdentity},
      {{"gzip;q="}, all, kIdentity},
      {{"gzip;q = 0.5"}, all, kIdentity},
      {{"gzip;level=1"}, all, kIdentity},
      {{"gzip;q=0.5;q=0.6"}, all, kIdentity},
      {{"gzip;q=2, br;q=0.1"}, all, C::br},
      {{"g zip, br"}, all, C::br},
      {{"gzip/1, br"}, all, C::br},
      {{";q=1, gzip"}, all, C::gzip},
      // An empty Accept-Encoding: no coding wanted (RFC 9110 §12.5.3).
      {{""}, all, kIdentity},
      {{"  "}, all, kIdentity},
      // Nothing offered.
      {{"gzip, br, zstd"}, {}, kIdentity},
  };
  for (const auto& c : cases) {
    Fields header;
    for (const std::string& line : c.lines) {
      header.insert("Accept-Encoding", line);
    }
    EXPECT_EQ(negotiate_coding(header, c.offered), c.want) << describe(c);
  }
}

TEST(CompressionPolicy, NoAcceptEncodingFieldMeansIdentity) {
  Fields header;
  header.insert("Accept", "*/*");
  const std::vector<C> all = {C::zstd, C::br, C::gzip};
  EXPECT_EQ(negotiate_coding(header, all), kIdentity);
}

TEST(CompressionPolicy, HostileAcceptEncodingIsLinearWork) {
  // 64 KiB of elements, the most a request head can hold, on four lines (Beast limits one
  // value): one pass, no allocation.
  std::string line;
  while (line.size() < 16 * 1024) {
    line += "x-unknown-coding;q=0.5, ;;;, gzip;q=0.001,";
  }
  const std::vector<C> offered = {C::gzip, C::br};
  EXPECT_EQ(negotiate_coding(accept_encoding({line, line, line, line + "br;q=1"}), offered), C::br);
}

TEST(CompressionPolicy, CompressibleTypes) {
  const std::vector<std::string> types = default_compressible_types();
  for (const std::string yes :
       {"text/html", "text/html; charset=utf-8", "TEXT/Event-Stream", "text/event-stream",
        "text/plain;charset=us-ascii", "text/css", "text/javascript", "application/json",
        "Application/JSON; charset=utf-8", "application/x-ndjson", "application/ndjson",
        "application/javascript", "application/xml", "image/svg+xml", "application/problem+json",
        "application/ld+json", "application/atom+xml", "application/vnd.api+JSON",
        "  application/json  "}) {
    EXPECT_TRUE(compressible_type(yes, types)) << yes;
  }
  for (const std::string no :
       {"", "image/png", "image/jpeg", "application/octet-stream", "application/zip", "video/mp4",
        "font/woff2", "application/gzip", "text", "text/", "/json", "+json", "application/+json",
        "application/jsonx", "application/json x", "texts/html", "application/xml-dtd",
        "multipart/form-data"}) {
    EXPECT_FALSE(compressible_type(no, types)) << '"' << no << '"';
  }
}

TEST(CompressionPolicy, ConfiguredTypesReplaceTheDefaults) {
  const std::vector<std::string> types = {"application/wasm", "Image/*", "+YAML"};
  EXPECT_TRUE(compressible_type("application/wasm", types));
  EXPECT_TRUE(compressible_type("image/bmp", types));
  EXPECT_TRUE(compressible_type("application/openapi+yaml", types));
  EXPECT_FALSE(compressible_type("text/html", types));
  EXPECT_FALSE(compressible_type("application/json", types));
  EXPECT_FALSE(compressible_type("text/html", {}));
}

// A GET from a browser and a 200 JSON stream: compressed unless a test changes one thing.
struct Scenario {
  Request in;
  Response res;
  CompressOptions options;

  Scenario() {
    in.method = "GET";
    in.header.insert("Accept-Encoding", "gzip, deflate, br, zstd");
    res.status = 200;
    res.header.insert("Content-Type", "application/json");
    res.content_length = kUnknownLength;
    options.codings = {C::zstd, C::br, C::gzip};
  }
  std::optional<ContentCoding> choose() const { return choose_compression(in, res, options); }
};

TEST(CompressionPolicy, ChoosesTheNegotiatedCoding) {
  Scenario ex;
  EXPECT_EQ(ex.choose(), C::zstd);
  ex.options.codings = {C::gzip, C::zstd};
  EXPECT_EQ(ex.choose(), C::gzip);
  ex.in.header.set("Accept-Encoding", "br");
  EXPECT_EQ(ex.choose(), kIdentity);
}

TEST(CompressionPolicy, NeverWhenCompressionIsOff) {
  Scenario ex;
  ex.options.codings.clear();
  EXPECT_EQ(ex.choose(), kIdentity);
  EXPECT_TRUE(CompressOptions{}.codings.empty()) << "off by default";
}

TEST(CompressionPolicy, NeverForHead) {
  Scenario ex;
  ex.in.method = "HEAD";
  EXPECT_EQ(ex.choose(), kIdentity);
  ex.in.method = "POST";
  EXPECT_EQ(ex.choose(), C::zstd);
}

TEST(CompressionPolicy, OnlyTwoHundredsWithABody) {
  for (const unsigned status : {200u, 201u, 202u, 203u, 207u, 226u, 299u}) {
    Scenario ex;
    ex.res.status = status;
    EXPECT_EQ(ex.choose(), C::zstd) << status;
  }
  for (const unsigned status :
       {100u, 101u, 103u, 204u, 206u, 301u, 302u, 304u, 307u, 400u, 404u, 500u, 503u}) {
    Scenario ex;
    ex.res.status = status;
    EXPECT_EQ(ex.choose(), kIdentity) << status;
  }
}

TEST(CompressionPolicy, NeverWhenTheUpstreamChoseAContentEncoding) {
  for (const std::string value : {"gzip", "br", "identity", "", "x-custom"}) {
    Scenario ex;
    ex.res.header.insert("Content-Encoding", value);
    EXPECT_EQ(ex.choose(), kIdentity) << '"' << value << '"';
  }
}

TEST(CompressionPolicy, NeverWithNoTransform) {
  for (const std::string value : {"no-transform", "public, No-Transform", "max-age=60,no-transform",
                                  " no-transform ", "no-transform=1"}) {
    Scenario ex;
    ex.res.header.insert("Cache-Control", value);
    EXPECT_EQ(ex.choose(), kIdentity) << value;
  }
  Scenario two_lines;
  two_lines.res.header.insert("Cache-Control", "no-cache");
  two_lines.res.header.insert("Cache-Control", "no-transform");
  EXPECT_EQ(two_lines.choose(), kIdentity);

  Scenario other;
  other.res.header.insert("Cache-Control", "no-cache, no-store, private, no-transformer");
  EXPECT_EQ(other.choose(), C::zstd);
}

TEST(CompressionPolicy, OnlyCompressibleTypes) {
  Scenario none;
  none.res.header.erase("Content-Type");
  EXPECT_EQ(none.choose(), kIdentity) << "no Content-Type: unknown content";

  Scenario image;
  image.res.header.set("Content-Type", "image/png");
  EXPECT_EQ(image.choose(), kIdentity);

  Scenario sse;
  sse.res.header.set("Content-Type", "text/event-stream; charset=utf-8");
  EXPECT_EQ(sse.choose(), C::zstd);

  Scenario first_line_counts;
  first_line_counts.res.header.set("Content-Type", "image/png");
  first_line_counts.res.header.insert("Content-Type", "text/html");
  EXPECT_EQ(first_line_counts.choose(), kIdentity);

  Scenario configured;
  configured.options.types = {"image/*"};
  configured.res.header.set("Content-Type", "image/bmp");
  EXPECT_EQ(configured.choose(), C::zstd);
}

TEST(CompressionPolicy, MinBytesForKnownLengths) {
  Scenario ex;
  ex.options.min_bytes = 256;
  const std::vector<std::pair<std::int64_t, std::optional<ContentCoding>>> lengths = {
      {0, kIdentity}, {1, kIdentity},     {255, kIdentity},         {256, C::zstd},
      {257, C::zstd}, {1 << 30, C::zstd}, {kUnknownLength, C::zstd}};
  for (const auto& [length, want] : lengths) {
    ex.res.content_length = length;
    EXPECT_EQ(ex.choose(), want) << length;
  }
  ex.options.min_bytes = 0;
  ex.res.content_length = 0;
  EXPECT_EQ(ex.choose(), kIdentity) << "an empty body, whatever min_bytes says";
  ex.res.content_length = 1;
  EXPECT_EQ(ex.choose(), C::zstd);
}

TEST(CompressionPolicy, UnknownLengthAlwaysQualifies) {
  Scenario ex;
  ex.options.min_bytes = UINT64_MAX;
  ex.res.content_length = kUnknownLength;
  EXPECT_EQ(ex.choose(), C::zstd);
}

TEST(CompressionPolicy, DefaultMinBytes) { EXPECT_EQ(CompressOptions{}.min_bytes, 256u); }

Response compressible_response() {
  Response res;
  res.status = 200;
  res.header.insert("Content-Type", "text/html");
  res.header.insert("Content-Length", "5000");
  res.content_length = 5000;
  return res;
}

std::vector<std::string> values(const Fields& header, std::string_view name) {
  std::vector<std::string> out;
  const auto [first, last] = header.equal_range(name);
  for (auto it = first; it != last; ++it) {
    out.emplace_back(it->value());
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(CompressionPolicy, HeadGetsContentEncodingAndLosesItsLength) {
  for (const ContentCoding c : {C::zstd, C::br, C::gzip}) {
    Response res = compressible_response();
    apply_compression_head(res, c);
    EXPECT_EQ(values(res.header, "Content-Encoding"), Lines{to_string(c)});
    EXPECT_EQ(values(res.header, "Content-Length"), Lines{});
    EXPECT_EQ(res.content_length, kUnknownLength);
    EXPECT_EQ(values(res.header, "Content-Type"), Lines{"text/html"});
  }
}

TEST(CompressionPolicy, VaryGainsAcceptEncoding) {
  struct Case {
    Lines before;
    Lines after;
  };
  const std::vector<Case> cases = {
      {{}, {"Accept-Encoding"}},
      {{"Origin"}, {"Origin, Accept-Encoding"}},
      {{"Origin, Cookie"}, {"Origin, Cookie, Accept-Encoding"}},
      {{"accept-encoding"}, {"accept-encoding"}},
      {{"Origin, ACCEPT-ENCODING"}, {"Origin, ACCEPT-ENCODING"}},
      {{"*"}, {"*"}},
      {{"Origin, *"}, {"Origin, *"}},
      {{"Origin", "Cookie"}, {"Origin, Cookie, Accept-Encoding"}},  // one line, not two
      {{"Origin", "Accept-Encoding"}, {"Origin", "Accept-Encoding"}},
      {{""}, {"Accept-Encoding"}},
      {{" Origin ,"}, {"Origin, Accept-Encoding"}},
      {{"Accept-Encoding-Extra"}, {"Accept-Encoding-Extra, Accept-Encoding"}},
  };
  for (const auto& c : cases) {
    Response res = compressible_response();
    for (const std::string& line : c.before) {
      res.header.insert("Vary", line);
    }
    apply_compression_head(res, C::gzip);
    EXPECT_EQ(values(res.header, "Vary"), c.after) << ::testing::PrintToString(c.before);
  }
}

TEST(CompressionPolicy, StrongETagBecomesWeak) {
  struct Case {
    Lines before;
    Lines after;
  };
  const std::vector<Case> cases = {
      {{}, {}},
      {{"\"abc\""}, {"W/\"abc\""}},
      {{"\"\""}, {"W/\"\""}},
      {{"W/\"abc\""}, {"W/\"abc\""}},
      {{"abc"}, {"abc"}},            // not an entity-tag: left as it is
      {{"\"a\"b\""}, {"\"a\"b\""}},  // neither
      {{"\"a\"", "W/\"b\""}, {"W/\"a\"", "W/\"b\""}},
  };
  for (const auto& c : cases) {
    Response res = compressible_response();
    for (const std::string& line : c.before) {
      res.header.insert("ETag", line);
    }
    apply_compression_head(res, C::br);
    EXPECT_EQ(values(res.header, "ETag"), c.after) << ::testing::PrintToString(c.before);
  }
}

TEST(CompressionPolicy, AcceptRangesIsDropped) {
  Response res = compressible_response();
  res.header.insert("Accept-Ranges", "bytes");
  apply_compression_head(res, C::zstd);
  EXPECT_EQ(values(res.header, "Accept-Ranges"), Lines{});
}

TEST(CompressionPolicy, DigestsOfTheUpstreamBytesAreDropped) {
  Response res = compressible_response();
  res.header.insert("Content-Digest", "sha-256=:abc=:");
  res.header.insert("Repr-Digest", "sha-256=:abc=:");
  res.header.insert("Content-MD5", "Q2hlY2sgSW50ZWdyaXR5IQ==");
  apply_compression_head(res, C::gzip);
  for (const char* name : {"Content-Digest", "Repr-Digest", "Content-MD5"})
    EXPECT_EQ(values(res.header, name), Lines{}) << name;
}

TEST(CompressionPolicy, OtherFieldsAreKept) {
  Response res = compressible_response();
  res.header.insert("Cache-Control", "max-age=60");
  res.header.insert("X-Request-Id", "42");
  res.header.insert("Last-Modified", "Mon, 15 Jan 2024 10:00:00 GMT");
  apply_compression_head(res, C::zstd);
  EXPECT_EQ(values(res.header, "Cache-Control"), Lines{"max-age=60"});
  EXPECT_EQ(values(res.header, "X-Request-Id"), Lines{"42"});
  EXPECT_EQ(values(res.header, "Last-Modified"), Lines{"Mon, 15 Jan 2024 10:00:00 GMT"});
}

TEST(ContentCoding, NamesRoundTrip) {
  for (const ContentCoding c : {C::zstd, C::br, C::gzip}) {
    EXPECT_EQ(parse_content_coding(to_string(c)), c);
  }
  EXPECT_EQ(std::string(to_string(C::zstd)), "zstd");
  EXPECT_EQ(std::string(to_string(C::br)), "br");
  EXPECT_EQ(std::string(to_string(C::gzip)), "gzip");
  for (const std::string bad : {"", "GZIP", "x-gzip", "deflate", "identity", " br", "zstd ", "*"}) {
    EXPECT_EQ(parse_content_coding(bad), std::nullopt) << '"' << bad << '"';
  }
}

}  // namespace
}  // namespace sluice
