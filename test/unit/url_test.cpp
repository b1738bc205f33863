// Url parsing, request-target splitting, path join and query handling (SPEC 9-12, 15).
#include "sluice/url.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace {

struct JoinCase {
  std::string a;
  std::string b;
  std::string want;
};

// Go's TestSingleJoinSlash, plus the SPEC 10 examples.
TEST(Url, Spec10_SingleJoiningSlash) {
  const std::vector<JoinCase> cases = {
      {"https://www.google.com/", "/favicon.ico", "https://www.google.com/favicon.ico"},
      {"https://www.google.com", "/favicon.ico", "https://www.google.com/favicon.ico"},
      {"https://www.google.com", "favicon.ico", "https://www.google.com/favicon.ico"},
      {"https://www.google.com", "", "https://www.google.com/"},
      {"", "favicon.ico", "/favicon.ico"},
      {"/base", "/dir", "/base/dir"},
      {"/base/", "/dir", "/base/dir"},
      {"/base", "dir", "/base/dir"},
      {"", "x", "/x"},
      {"host", "", "host/"},
      {"", "", "/"},
      {"/", "/", "/"},
      {"/base//", "//dir", "/base///dir"},  // only one slash at the junction is merged
      {"/a%2Fb", "/c", "/a%2Fb/c"},
      {"/a%2F", "c", "/a%2F/c"},  // an escaped slash is not a slash
  };
  for (const auto& c : cases) {
    EXPECT_EQ(single_joining_slash(c.a, c.b), c.want) << "a=\"" << c.a << "\" b=\"" << c.b << '"';
  }
}

struct MergeCase {
  std::string target;
  std::string request;
  std::string want;
};

// Go's TestReverseProxyQuery (proxyQueryTests).
TEST(Url, Spec11_MergeQueryTargetFirst) {
  const std::vector<MergeCase> cases = {
      {"", "", ""},
      {"sta=tic", "us=er", "sta=tic&us=er"},
      {"", "us=er", "us=er"},
      {"sta=tic", "", "sta=tic"},
      {"a=1&b=2", "b=3", "a=1&b=2&b=3"},  // no de-duplication, no re-ordering
  };
  for (const auto& c : cases) {
    EXPECT_EQ(merge_query(c.target, c.request), c.want)
        << "target=\"" << c.target << "\" request=\"" << c.request << '"';
  }
}

struct CleanCase {
  std::string raw;
  std::string want;
};

// Go's query-smuggling tests (rawQuery -> cleanQuery) plus ParseQuery/Encode details.
TEST(Url, Spec12_CleanQueryReencodesSemicolonsAndBadEscapes) {
  const std::vector<CleanCase> cases = {
      {"a=1&a=2;b=3", "a=1"},
      {"a=1&a=%zz&b=3", "a=1&b=3"},
      {"a=%zz", ""},
      {"a=%zz&&b=2", "b=2"},
      {"=&&a=%zz", "="},  // empty key survives as "="
      {"b=2;a=ignored&a=first&a=second+value", "a=first&a=second+value"},
      {"z=1&a=2&q;=3", "a=2&z=1"},                           // keys sorted, ';' pair dropped
      {"b=2&a=y&a=x;", "a=y&b=2"},                           // values keep their order
      {"k=x+y&k=%2F&k=%7e&;", "k=x+y&k=%2F&k=~"},            // '+' <-> ' ', '~' unreserved
      {"k=%e2%82%ac&;", "k=%E2%82%AC"},                      // upper-case hex on output
      {"k=a/b:c@d$e,f?g&;", "k=a%2Fb%3Ac%40d%24e%2Cf%3Fg"},  // reserved bytes escaped
      {"flag&;", "flag="},                                   // no '=' -> empty value
      {"%41%42=1&;", "AB=1"},                                // keys are unescaped too
      {"k%zz=1&a=2;", ""},                                   // bad key escape drops the pair
      {"a=1&b=%4", "a=1"},                                   // truncated escape at the end
      {"a=1&b=%", "a=1"},
      {"a=1&b=%%41", "a=1"},
      {";", ""},
      {"a=1;", ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(clean_query(c.raw), c.want) << "raw=\"" << c.raw << '"';
  }
}

TEST(Url, Spec12_CleanQueryReadsOnlyWithinTheView) {
  // The escape check must not peek past the end of the view: here the next byte in memory is a
  // hex digit that would complete "%4" into a valid escape.
  const std::string buffer = "a=%4F";
  EXPECT_EQ(clean_query(std::string_view(buffer).substr(0, 4)), "");
  // Same inside the re-encoder (the ';' forces it): the last pair ends where the view ends.
  const std::string pair_buffer = "x;&b=1&a=%4F";
  EXPECT_EQ(clean_query(std::string_view(pair_buffer).substr(0, 11)), "b=1");
}

TEST(Url, Spec12_CleanQueryKeepsParsableQueryByteForByte) {
  const std::vector<std::string> cases = {
      "",
      "a=1&a=2&b=3+4",
      "b=2&a=1",      // not sorted: untouched
      "a=%41&b=%2f",  // lower-case hex: untouched
      "a==b&&c",      // odd but unambiguous
      "x=%41",        // a valid escape that ends the query
      "q=a b",        // raw space (never re-encoded when no ';' or bad escape)
      "k=a/b?c@d",
  };
  for (const auto& raw : cases) {
    EXPECT_EQ(clean_query(raw), raw) << "raw=\"" << raw << '"';
  }
}

TEST(Url, Spec10_ParseKeepsEscapedPathAndQuery) {
  const auto url = Url::parse("http://127.0.0.1:9000/base/a%2Fb?x=1&y=%zz#frag");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->raw_path, "/base/a%2Fb");
  EXPECT_EQ(url->raw_query, "x=1&y=%zz");
  EXPECT_EQ(url->request_target(), "/base/a%2Fb?x=1&y=%zz");
}

TEST(Url, Spec10_ParseWithoutPathOrPort) {
  const auto url = Url::parse("HTTP://Example.COM");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "Example.COM");  // kept as written
  EXPECT_EQ(url->port, "");
  EXPECT_EQ(url->raw_path, "");
  EXPECT_EQ(url->raw_query, "");
  EXPECT_EQ(url->authority(), "Example.COM");
  EXPECT_EQ(url->connect_port(), "80");
  EXPECT_EQ(url->request_target(), "/");
}

TEST(Url, Spec10_ParseQueryWithoutPathAndFragmentOnly) {
  auto url = Url::parse("http://h?a=b/c");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "h");
  EXPECT_EQ(url->raw_path, "");
  EXPECT_EQ(url->raw_query, "a=b/c");
  EXPECT_EQ(url->request_target(), "/?a=b/c");

  url = Url::parse("http://h:8080#x/y?z");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "h");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->raw_path, "");
  EXPECT_EQ(url->raw_query, "");
}

TEST(Url, Spec9_ParseIpv6HostKeepsBrackets) {
  const auto url = Url::parse("http://[::1]:9000/p");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "[::1]");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->authority(), "[::1]:9000");
  EXPECT_EQ(url->connect_port(), "9000");
  EXPECT_EQ(url->raw_path, "/p");

  const auto no_port = Url::parse("http://[2001:db8::a:1]");
  ASSERT_TRUE(no_port.has_value());
  EXPECT_EQ(no_port->host, "[2001:db8::a:1]");
  EXPECT_EQ(no_port->authority(), "[2001:db8::a:1]");
  EXPECT_EQ(no_port->connect_port(), "80");
}

TEST(Url, Spec9_AuthorityAndPortNormalisation) {
  auto url = Url::parse("http://example.com:8080/");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->authority(), "example.com:8080");
  EXPECT_EQ(url->connect_port(), "8080");

  url = Url::parse("http://example.com:/");  // empty port = default (RFC 3986 §3.2.3)
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->port, "");
  EXPECT_EQ(url->authority(), "example.com");

  url = Url::parse("http://example.com:0080");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->port, "80");

  url = Url::parse("http://example.com:65535");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->port, "65535");
}

TEST(Url, HttpsIsTlsToTheUpstreamOnPort443) {
  const auto url = Url::parse("HTTPS://api.example.com/v1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->connect_port(), "443");
  EXPECT_EQ(url->authority(), "api.example.com");
  EXPECT_EQ(Url::parse("https://api.example.com:8443")->connect_port(), "8443");
  EXPECT_EQ(Url::parse("http://api.example.com")->connect_port(), "80");
}

TEST(Url, Spec10_ParseRejectsWhatIsNotAnAbsoluteHttpUrl) {
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "example.com",
      "example.com:80",
      "/just/a/path",
      "ftp://example.com",
      "wss://example.com",
      "://example.com",
      "http:example.com",
      "http:/example.com",
      "http://",
      "http:///path",
      "http://:80/",
      "http://host:99999",
      "http://host:65536",
      "http://host:0",
      "http://host:8x",
      "http://host:-1",
      "http://host:123456",
      "http://user:pw@host/",
      "http://user@host/",
      "http://user@[::1]/",
      "http://ho st/",
      "http://host/a b",
      "http://host/%zz",
      "http://host/a%2",
      "http://host/?a=b c",
      "http://host/\x01",
      "http://[::1",
      "http://[::1]x",
      "http://[::1]:99999",
      "http://[]/",
      "http://[zz::1]/",
      "http://a:b:80/",
  };
  for (const auto& text : bad) {
    EXPECT_FALSE(Url::parse(text).has_value()) << "accepted \"" << text << '"';
  }
}

TEST(Url, Spec15_RequestTargetOfUrl) {
  Url url;
  EXPECT_EQ(url.request_target(), "/");
  url.raw_query = "a=1";
  EXPECT_EQ(url.request_target(), "/?a=1");
  url.raw_path = "/x%2Fy";
  EXPECT_EQ(url.request_target(), "/x%2Fy?a=1");
  url.raw_query.clear();
  EXPECT_EQ(url.request_target(), "/x%2Fy");
}

struct TargetCase {
  std::string target;
  std::string path;
  std::string query;
  std::string authority = "";
};

TEST(Url, Spec15_ParseTargetSplitsEveryForm) {
  const std::vector<TargetCase> cases = {
      {"/", "/", ""},
      {"/p?q", "/p", "q"},
      {"/a%2Fb/c?x=1&y=2", "/a%2Fb/c", "x=1&y=2"},
      {"/p?", "/p", ""},
      {"/p?a?b", "/p", "a?b"},           // only the first '?' splits
      {"http://h/p?q", "/p", "q", "h"},  // absolute-form: the authority replaces Host
      {"http://example.com:8080/a%2Fb?x", "/a%2Fb", "x", "example.com:8080"},
      {"http://h", "", "", "h"},
      {"http://h?q=/x", "", "q=/x", "h"},
      {"HTTP://h/P", "/P", "", "h"},
      {"*", "*", ""},  // asterisk-form
  };
  for (const auto& c : cases) {
    const Target t = parse_target(c.target);
    EXPECT_EQ(t.raw_path, c.path) << "target=\"" << c.target << '"';
    EXPECT_EQ(t.raw_query, c.query) << "target=\"" << c.target << '"';
    EXPECT_EQ(t.authority, c.authority) << "target=\"" << c.target << '"';
  }
}

}  // namespace
}  // namespace sluice
