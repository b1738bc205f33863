// Routing an outbound request to a target: SetURL / SetXForwarded / the single-host Director
// (SPEC 7, 9, 10, 11).
#include "sluice/proxy_request.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sluice {
namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;
using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

Url target_url(const std::string& text) {
  auto url = Url::parse(text);
  EXPECT_TRUE(url.has_value()) << text;
  return url.value_or(Url{});
}

// An inbound request as the server hands it over: only raw_path/raw_query in url.
Request inbound(const std::string& raw_path, const std::string& raw_query = "") {
  Request req;
  req.method = "GET";
  req.url.raw_path = raw_path;
  req.url.raw_query = raw_query;
  req.host = "front.example:8443";
  req.remote = tcp::endpoint(make_address("192.0.2.10"), 40000);
  return req;
}

Lines lines_of(const Fields& f) {
  Lines out;
  for (const auto& field : f)
    out.emplace_back(field.name_string(), field.value());
  return out;
}

struct JoinCase {
  std::string target_path;
  std::string request_path;
  std::string want;
};

// Go's TestJoinURLPath, in escaped (RawPath) terms: sluice keeps paths escaped throughout, so the
// "badpath" RawPath case reduces to its valid escaped form "/a/b". Plus the SPEC 10 examples.
TEST(ProxyRequest, Spec10_PathsJoinOnTheirEscapedForms) {
  const std::vector<JoinCase> cases = {
      {"/a/b", "/c", "/a/b/c"},
      {"/a/b", "c", "/a/b/c"},
      {"/a%2Fb", "/c", "/a%2Fb/c"},
      {"/a%2Fb%2F", "c", "/a%2Fb%2F/c"},
      {"/a%2Fb/", "/c%2Fd", "/a%2Fb/c%2Fd"},
      {"/base", "/dir", "/base/dir"},
      {"/base/", "/dir", "/base/dir"},
      {"/base", "dir", "/base/dir"},
      {"", "/x", "/x"},
      {"", "", "/"},
      {"/base", "", "/base/"},
      {"/base", "/", "/base/"},
      {"", "/%7Euser/a%20b", "/%7Euser/a%20b"},  // escapes are never decoded or re-encoded
  };
  for (const auto& c : cases) {
    Url target = target_url("http://backend:9000");
    target.raw_path = c.target_path;
    Request out = inbound(c.request_path);
    direct_to(target, out);
    EXPECT_EQ(out.url.raw_path, c.want)
        << "target=\"" << c.target_path << "\" request=\"" << c.request_path << '"';
  }
}

struct QueryCase {
  std::string target_suffix;
  std::string request_query;
  std::string want;
};

// Go's TestReverseProxyQuery: what the backend sees for the final query.
TEST(ProxyRequest, Spec11_QueriesMergeTargetFirst) {
  const std::vector<QueryCase> cases = {
      {"", "", ""},
      {"?sta=tic", "us=er", "sta=tic&us=er"},
      {"", "us=er", "us=er"},
      {"?sta=tic", "", "sta=tic"},
  };
  for (const auto& c : cases) {
    const Url target = target_url("http://127.0.0.1:9000" + c.target_suffix);
    Request out = inbound("/", c.request_query);
    direct_to(target, out);
    EXPECT_EQ(out.url.raw_query, c.want) << "target suffix=\"" << c.target_suffix << '"';

    Request in = inbound("/", c.request_query);
    Request rewritten = in;
    ProxyRequest pr{in, rewritten};
    pr.set_url(target);
    EXPECT_EQ(rewritten.url.raw_query, c.want) << "set_url, suffix=\"" << c.target_suffix << '"';
  }
}

TEST(ProxyRequest, Spec11_QueryIsNotCleanedByRouting) {
  // Cleaning is the proxy core's job (SPEC 12); routing only concatenates.
  const Url target = target_url("http://backend/p?t=1;x");
  Request out = inbound("/q", "a=%zz");
  direct_to(target, out);
  EXPECT_EQ(out.url.raw_query, "t=1;x&a=%zz");
}

// Go's NewSingleHostReverseProxy Director: scheme/host from the target, inbound Host kept
// (Go's TestReverseProxy: the backend sees Host "some-name").
TEST(ProxyRequest, Spec9_DirectToKeepsTheInboundHost) {
  const Url target = target_url("http://127.0.0.1:9000/base?sta=tic");
  Request out = inbound("/dir", "us=er");
  out.host = "some-name";
  direct_to(target, out);
  EXPECT_EQ(out.url.scheme, "http");
  EXPECT_EQ(out.url.host, "127.0.0.1");
  EXPECT_EQ(out.url.port, "9000");
  EXPECT_EQ(out.url.raw_path, "/base/dir");
  EXPECT_EQ(out.url.raw_query, "sta=tic&us=er");
  EXPECT_EQ(out.url.request_target(), "/base/dir?sta=tic&us=er");
  EXPECT_EQ(out.host, "some-name");
}

// Go's TestSetURL: the backend sees the target's host as Host.
TEST(ProxyRequest, Spec9_SetUrlMakesHostTheTargets) {
  const Url target = target_url("http://[::1]:9000/base");
  const Request in = inbound("/a%2Fb", "x=1");
  Request out = in;
  ProxyRequest pr{in, out};
  pr.set_url(target);
  EXPECT_EQ(out.url.scheme, "http");
  EXPECT_EQ(out.url.host, "[::1]");
  EXPECT_EQ(out.url.port, "9000");
  EXPECT_EQ(out.url.raw_path, "/base/a%2Fb");
  EXPECT_EQ(out.url.raw_query, "x=1");
  EXPECT_EQ(out.host, "");  // "" means url.authority()
  EXPECT_EQ(out.url.authority(), "[::1]:9000");
  // `in` is never modified.
  EXPECT_EQ(in.url.raw_path, "/a%2Fb");
  EXPECT_EQ(in.url.scheme, "");
  EXPECT_EQ(in.host, "front.example:8443");
}

TEST(ProxyRequest, Spec9_SetUrlWithoutPortLeavesPortEmpty) {
  const Url target = target_url("http://backend.internal");
  const Request in = inbound("/x");
  Request out = in;
  out.url.port = "1234";  // whatever was there before is replaced
  ProxyRequest pr{in, out};
  pr.set_url(target);
  EXPECT_EQ(out.url.host, "backend.internal");
  EXPECT_EQ(out.url.port, "");
  EXPECT_EQ(out.url.authority(), "backend.internal");
  EXPECT_EQ(out.url.raw_path, "/x");
}

struct ForwardedCase {
  std::string name;
  std::string peer;
  std::string in_host;
  bool tls;
  Lines out_prior;  // X-Forwarded-For lines already on `out`
  Lines want;       // `out` fields afterwards
};

// Go's TestSetXForwarded, as a table over the inbound request.
TEST(ProxyRequest, Spec7_SetXForwarded) {
  const std::vector<ForwardedCase> cases = {
      {"plain http, nothing prior",
       "192.0.2.10",
       "example.com",
       false,
       {},
       {{"X-Forwarded-For", "192.0.2.10"},
        {"X-Forwarded-Host", "example.com"},
        {"X-Forwarded-Proto", "http"}}},
      {"tls",
       "192.0.2.10",
       "example.com:443",
       true,
       {},
       {{"X-Forwarded-For", "192.0.2.10"},
        {"X-Forwarded-Host", "example.com:443"},
        {"X-Forwarded-Proto", "https"}}},
      {"appends to what out carries",
       "2001:db8::1",
       "h",
       false,
       {{"X-Forwarded-For", "203.0.113.5"}, {"X-Forwarded-For", "198.51.100.7"}},
       {{"X-Forwarded-For", "203.0.113.5, 198.51.100.7, 2001:db8::1"},
        {"X-Forwarded-Host", "h"},
        {"X-Forwarded-Proto", "http"}}},
      {"empty inbound Host is forwarded as is",
       "10.0.0.1",
       "",
       false,
       {},
       {{"X-Forwarded-For", "10.0.0.1"}, {"X-Forwarded-Host", ""}, {"X-Forwarded-Proto", "http"}}},
  };
  for (const auto& c : cases) {
    Request in = inbound("/");
    in.host = c.in_host;
    in.tls = c.tls;
    in.remote = tcp::endpoint(make_address(c.peer), 1234);
    Request out = in;
    for (const auto& [name, value] : c.out_prior)
      out.header.insert(name, value);
    ProxyRequest pr{in, out};
    pr.set_x_forwarded();
    EXPECT_EQ(lines_of(out.header), c.want) << c.name;
  }
}

TEST(ProxyRequest, Spec7_SetXForwardedUsesOutNotInAndReplacesStaleValues) {
  // After the Rewrite-mode strip, `in` may still hold the client's claims: they are ignored.
  Request in = inbound("/");
  in.header.insert("X-Forwarded-For", "6.6.6.6");
  in.header.insert("X-Forwarded-Host", "spoofed");
  Request out = inbound("/");
  out.header.insert("X-Forwarded-Host", "stale");
  out.header.insert("X-Forwarded-Proto", "https");
  out.header.insert("Accept", "*/*");
  ProxyRequest pr{in, out};
  pr.set_x_forwarded();
  EXPECT_EQ(lines_of(out.header), (Lines{{"Accept", "*/*"},
                                         {"X-Forwarded-For", "192.0.2.10"},
                                         {"X-Forwarded-Host", "front.example:8443"},
                                         {"X-Forwarded-Proto", "http"}}));
  EXPECT_EQ(lines_of(in.header),
            (Lines{{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-Host", "spoofed"}}));
}

}  // namespace
}  // namespace sluice
