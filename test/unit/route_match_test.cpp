// Route matching (src/proxy/route_match.*): host patterns, segment-aware path prefixes, and the
// path left after strip_prefix.
#include <gtest/gtest.h>

#include "proxy/route_match.hpp"

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
