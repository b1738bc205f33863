// Route matching (src/proxy/route_match.*, route_table.*): host patterns, segment-aware path
// prefixes, the path left after strip_prefix, and the first-match-wins table.
#include <gtest/gtest.h>

#include "proxy/route_match.hpp"
#include "proxy/route_table.hpp"

namespace sluice {
namespace {

TEST(RouteMatch, ExactHostIgnoresCaseAndPort) {
  EXPECT_TRUE(route_host_matches("api.example.com", "api.example.com"));
  EXPECT_TRUE(route_host_matches("api.example.com", "API.Example.COM"));
  EXPECT_TRUE(route_host_matches("api.example.com", "api.example.com:8443"));
  EXPECT_TRUE(route_host_matches("api.example.com", "api.example.com."));
  EXPECT_FALSE(route_host_matches("api.example.com", "web.example.com"));
  EXPECT_FALSE(route_host_matches("api.example.com", "api.example.com.evil"));
  EXPECT_FALSE(route_host_matches("api.example.com", ""));
}

TEST(RouteMatch, WildcardHostNeedsAtLeastOneLabel) {
  EXPECT_TRUE(route_host_matches("*.example.com", "a.example.com"));
  EXPECT_TRUE(route_host_matches("*.example.com", "a.b.example.com:80"));
  EXPECT_TRUE(route_host_matches("*.example.com", "A.EXAMPLE.com"));
  EXPECT_FALSE(route_host_matches("*.example.com", "example.com"));
  EXPECT_FALSE(route_host_matches("*.example.com", ".example.com"));
  EXPECT_FALSE(route_host_matches("*.example.com", "aexample.com"));
  EXPECT_FALSE(route_host_matches("*.example.com", "a.example.com.evil"));
}

TEST(RouteMatch, EmptyHostPatternMatchesAnyRequest) {
  EXPECT_TRUE(route_host_matches("", "anything"));
  EXPECT_TRUE(route_host_matches("", ""));
}

TEST(RouteMatch, IpLiteralHosts) {
  EXPECT_TRUE(route_host_matches("[::1]", "[::1]:8080"));
  EXPECT_TRUE(route_host_matches("127.0.0.1", "127.0.0.1:8080"));
}

TEST(RouteMatch, PathPrefixIsSegmentAware) {
  EXPECT_TRUE(route_path_matches("/v1", "/v1"));
  EXPECT_TRUE(route_path_matches("/v1", "/v1/"));
  EXPECT_TRUE(route_path_matches("/v1", "/v1/users"));
  EXPECT_FALSE(route_path_matches("/v1", "/v10"));
  EXPECT_FALSE(route_path_matches("/v1", "/v1%2Fusers"));  // an escaped slash is no boundary
  EXPECT_FALSE(route_path_matches("/v1", "/V1"));          // paths are case-sensitive
  EXPECT_FALSE(route_path_matches("/v1", "/"));
  EXPECT_FALSE(route_path_matches("/v1/x", "/v1"));
}

TEST(RouteMatch, TrailingSlashInThePrefixIsTheSameSegment) {
  EXPECT_TRUE(route_path_matches("/v1/", "/v1"));
  EXPECT_TRUE(route_path_matches("/v1/", "/v1/x"));
  EXPECT_FALSE(route_path_matches("/v1/", "/v10"));
}

TEST(RouteMatch, RootOrEmptyPrefixMatchesEverything) {
  for (const char* prefix : {"", "/", "//"}) {
    EXPECT_TRUE(route_path_matches(prefix, "/")) << prefix;
    EXPECT_TRUE(route_path_matches(prefix, "/anything/else")) << prefix;
  }
}

TEST(RouteMatch, StripPrefixLeavesARootedPath) {
  EXPECT_EQ(strip_route_prefix("/v1", "/v1/users"), "/users");
  EXPECT_EQ(strip_route_prefix("/v1", "/v1"), "/");
  EXPECT_EQ(strip_route_prefix("/v1", "/v1/"), "/");
  EXPECT_EQ(strip_route_prefix("/v1/", "/v1/users/7"), "/users/7");
  EXPECT_EQ(strip_route_prefix("/a/b", "/a/b/c%2Fd"), "/c%2Fd");
  EXPECT_EQ(strip_route_prefix("/", "/x"), "/x");
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// A table like the example: an API host with a versioned prefix, a wildcard site, and a
// catch-all at the end.
RouteTable example_table() {
  return RouteTable({{"api.example.com", "/v1/"},
                     {"api.example.com", "/v1/admin"},  // shadowed by the rule above
                     {"*.example.com", ""},
                     {"", "/static"},
                     {"", ""}});
}

TEST(RouteTable, TheFirstMatchWins) {
  const RouteTable t = example_table();
  EXPECT_EQ(t.match("api.example.com", "/v1/users"), 0u);
  EXPECT_EQ(t.match("api.example.com", "/v1/admin"), 0u) << "rule 1 comes after rule 0";
  EXPECT_EQ(t.match("api.example.com", "/v2/users"), 2u) << "host matches the wildcard too";
  EXPECT_EQ(t.match("www.example.com:8443", "/v1/users"), 2u);
  EXPECT_EQ(t.match("other.org", "/static/app.js"), 3u);
  EXPECT_EQ(t.match("other.org", "/staticfiles"), 4u) << "segment-aware prefix";
}

TEST(RouteTable, NoMatchIsNoRoute) {
  const RouteTable t({{"api.example.com", ""}, {"", "/v1"}});
  EXPECT_EQ(t.match("api.example.com", "/"), 0u);
  EXPECT_FALSE(t.match("web.example.com", "/v2"));
  EXPECT_FALSE(RouteTable({}).match("any", "/"));
}

// The table folds the Host once and compares compiled rules; it must agree with the
// per-rule functions above on every pairing of these hosts, paths and patterns.
TEST(RouteTable, AgreesWithTheRuleFunctions) {
  const std::vector<std::string> hosts = {"",
                                          "api.example.com",
                                          "API.Example.COM:8080",
                                          "api.example.com.",
                                          "example.com",
                                          ".example.com",
                                          "a.b.example.com",
                                          "[::1]:8080",
                                          "127.0.0.1",
                                          std::string(300, 'a') + ".example.com"};
  const std::vector<std::string> paths = {"", "/", "/v1", "/v1/", "/v1/x", "/v10", "/v1%2Fx"};
  const std::vector<std::string> host_patterns = {
      "", "api.example.com", "*.example.com", "API.EXAMPLE.COM", "[::1]", "127.0.0.1"};
  const std::vector<std::string> prefixes = {"", "/", "/v1", "/v1/", "/v1/x"};
  for (const auto& hp : host_patterns) {
    for (const auto& pp : prefixes) {
      const RouteTable table({RouteRule{hp, pp}});
      for (const auto& h : hosts) {
        for (const auto& p : paths) {
          const bool expected = route_host_matches(hp, h) && route_path_matches(pp, p);
          EXPECT_EQ(table.match(h, p).has_value(), expected)
              << "host pattern \"" << hp << "\" prefix \"" << pp << "\" host \"" << h
              << "\" path \"" << p << "\"";
        }
      }
    }
  }
}

}  // namespace
}  // namespace sluice
