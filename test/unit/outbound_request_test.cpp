// build_outbound (SPEC 1-8, 12, 16, R30): the outbound request built from a copy of the inbound
// one, in Go's order: director, hop-by-hop stripping, TE, Max-Forwards, the upgrade pair, then
// rewrite (after Forwarded/X-Forwarded-* removal and query cleaning) or X-Forwarded-For.
#include "proxy/outbound_request.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/error.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/reverse_proxy.hpp"

namespace sluice {
namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

Lines lines_of(const Fields& f) {
  Lines out;
  for (const auto& field : f)
    out.emplace_back(field.name_string(), field.value());
  return out;
}

std::vector<std::string> values(const Fields& f, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& field : f) {
    if (boost::beast::iequals(field.name_string(), name)) out.emplace_back(field.value());
  }
  return out;
}

Url upstream() { return *Url::parse("http://10.9.9.9:8080/base"); }

// An inbound request as the session hands it over: no scheme/host in the URL, Host apart.
Request inbound(std::string method, const Lines& fields, std::string raw_query = "") {
  Request in;
  in.method = std::move(method);
  in.url.raw_path = "/p";
  in.url.raw_query = std::move(raw_query);
  in.host = "client.example";
  for (const auto& [name, value] : fields)
    in.header.insert(name, value);
  in.remote = {boost::asio::ip::make_address("192.0.2.7"), 40000};
  return in;
}

// Everything of a Request that a comparison can see, to show that `in` is never modified.
struct Snapshot {
  std::string method;
  unsigned version;
  std::string scheme, url_host, port, raw_path, raw_query, host;
  Lines fields;
  std::int64_t content_length;
  std::string remote;
  bool tls, omit;
  bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(const Request& r) {
  return Snapshot{r.method,
                  r.version,
                  r.url.scheme,
                  r.url.host,
                  r.url.port,
                  r.url.raw_path,
                  r.url.raw_query,
                  r.host,
                  lines_of(r.header),
                  r.content_length,
                  r.remote.address().to_string() + ":" + std::to_string(r.remote.port()),
                  r.tls,
                  r.omit_x_forwarded_for};
}

// A proxy in director mode (Go's NewSingleHostReverseProxy), optionally with extra director work.
std::unique_ptr<ReverseProxy> director_proxy(std::function<void(Request&)> extra = {}) {
  auto p = std::make_unique<ReverseProxy>();
  p->director = [extra](Request& out) {
    direct_to(upstream(), out);
    if (extra) extra(out);
  };
  return p;
}

std::unique_ptr<ReverseProxy> rewrite_proxy(std::function<void(ProxyRequest&)> extra = {}) {
  auto p = std::make_unique<ReverseProxy>();
  p->rewrite = [extra](ProxyRequest& pr) {
    pr.set_url(upstream());
    if (extra) extra(pr);
  };
  return p;
}

// SPEC 1, 2: the fixed hop-by-hop list and every field Connection names are stripped;
// end-to-end fields stay, in order. Expect is met by sluice itself (it sends 100 Continue when it
// reads the body), so it is not passed on either.
TEST(BuildOutbound, Spec1_2_HopByHopAndConnectionNamedFieldsAreStripped) {
  const Request in = inbound("GET", {
                                        {"Accept", "*/*"},
                                        {"Connection", "keep-alive, X-Conn-Named"},
                                        {"Connection", "X-Second-Line"},
                                        {"X-Conn-Named", "1"},
                                        {"X-Second-Line", "2"},
                                        {"Keep-Alive", "timeout=5"},
                                        {"Proxy-Connection", "keep-alive"},
                                        {"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
                                        {"Proxy-Authenticate", "Basic"},
                                        {"TE", "gzip"},
                                        {"Trailer", "X-T"},
                                        {"Transfer-Encoding", "chunked"},
                                        {"Upgrade", "websocket"},    // no "upgrade" in Connection
                                        {"Expect", "100-continue"},  // answered on this hop
                                        {"X-End", "kept"},
                                    });
  auto p = director_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p, in, out));
  EXPECT_EQ(lines_of(out.header),
            (Lines{{"Accept", "*/*"}, {"X-End", "kept"}, {"X-Forwarded-For", "192.0.2.7"}}));
  EXPECT_EQ(out.url.host, "10.9.9.9");
  EXPECT_EQ(out.url.port, "8080");
  EXPECT_EQ(out.url.raw_path, "/base/p");
  EXPECT_EQ(out.host, "client.example") << "director mode keeps the inbound Host";
  EXPECT_EQ(out.remote, boost::asio::ip::tcp::endpoint{}) << "the client's address is not sent on";
}

// SPEC 8: the director runs before stripping, so hop-by-hop fields it adds are removed too.
TEST(BuildOutbound, Spec8_HopByHopFieldsADirectorAddsAreStrippedToo) {
  auto p = director_proxy([](Request& out) {
    out.header.set("Connection", "X-From-Director");
    out.header.set("X-From-Director", "1");
    out.header.set("Keep-Alive", "timeout=1");
    out.header.set("X-Kept", "1");
  });
  Request out;
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {}), out));
  EXPECT_EQ(lines_of(out.header), (Lines{{"X-Kept", "1"}, {"X-Forwarded-For", "192.0.2.7"}}));
}

// SPEC 3: "TE: trailers" survives the stripping, alone, whatever else the client's TE held.
TEST(BuildOutbound, Spec3_TeTrailersIsKept) {
  auto p = director_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"TE", "gzip;q=0.5, trailers"}}), out));
  EXPECT_EQ(values(out.header, "TE"), std::vector<std::string>{"trailers"});

  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"TE", "gzip"}, {"TE", "Trailers"}}), out));
  EXPECT_EQ(values(out.header, "TE"), std::vector<std::string>{"trailers"});

  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"TE", "gzip, deflate"}}), out));
  EXPECT_TRUE(values(out.header, "TE").empty());
}

// R30 (RFC 9110 §7.6.2): Max-Forwards of OPTIONS and TRACE goes on decremented by one; other
// methods pass it through untouched.
TEST(BuildOutbound, R30_MaxForwardsIsDecrementedForOptionsAndTrace) {
  auto p = director_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p, inbound("OPTIONS", {{"Max-Forwards", "5"}}), out));
  EXPECT_EQ(values(out.header, "Max-Forwards"), std::vector<std::string>{"4"});
  ASSERT_FALSE(build_outbound(*p, inbound("TRACE", {{"Max-Forwards", "1"}}), out));
  EXPECT_EQ(values(out.header, "Max-Forwards"), std::vector<std::string>{"0"});
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"Max-Forwards", "5"}}), out));
  EXPECT_EQ(values(out.header, "Max-Forwards"), std::vector<std::string>{"5"});

  EXPECT_EQ(max_forwards(inbound("OPTIONS", {{"Max-Forwards", "0"}})), 0u);
  EXPECT_EQ(max_forwards(inbound("TRACE", {{"Max-Forwards", "12"}})), 12u);
  EXPECT_EQ(max_forwards(inbound("GET", {{"Max-Forwards", "3"}})), std::nullopt);
  EXPECT_EQ(max_forwards(inbound("OPTIONS", {{"Max-Forwards", "x1"}})), std::nullopt);
  EXPECT_EQ(max_forwards(inbound("OPTIONS", {})), std::nullopt);
}

// SPEC 4: an upgrade request keeps exactly "Connection: Upgrade" and "Upgrade: <value>".
TEST(BuildOutbound, Spec4_UpgradePairIsKept) {
  auto p = director_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p,
                              inbound("GET", {{"Connection", "keep-alive, Upgrade, X-Hop"},
                                              {"Upgrade", "websocket"},
                                              {"X-Hop", "1"},
                                              {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}}),
                              out));
  EXPECT_EQ(values(out.header, "Connection"), std::vector<std::string>{"Upgrade"});
  EXPECT_EQ(values(out.header, "Upgrade"), std::vector<std::string>{"websocket"});
  EXPECT_TRUE(values(out.header, "X-Hop").empty());
  EXPECT_EQ(values(out.header, "Sec-WebSocket-Key").size(), 1u);
}

// h2c is never passed on (RFC 9113 §3.1: sluice speaks HTTP/1 upstream), in any case.
TEST(BuildOutbound, Spec4_H2cIsNeverPassedOn) {
  auto p = director_proxy();
  for (const char* proto : {"h2c", "H2C"}) {
    SCOPED_TRACE(proto);
    Request out;
    ASSERT_FALSE(build_outbound(*p,
                                inbound("GET", {{"Connection", "Upgrade, HTTP2-Settings"},
                                                {"Upgrade", proto},
                                                {"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}}),
                                out));
    EXPECT_TRUE(values(out.header, "Connection").empty()) << lines_of(out.header).size();
    EXPECT_TRUE(values(out.header, "Upgrade").empty());
    EXPECT_TRUE(values(out.header, "HTTP2-Settings").empty());
  }
}

// SPEC 5: an upgrade to a protocol name that is not printable ASCII is refused.
TEST(BuildOutbound, Spec5_NonPrintableUpgradeIsRefused) {
  auto p = director_proxy();
  Request out;
  EXPECT_EQ(build_outbound(
                *p, inbound("GET", {{"Connection", "Upgrade"}, {"Upgrade", "web\x01socket"}}), out),
            errc::invalid_upgrade_protocol);
}

// SPEC 6: in director mode the client IP is appended to X-Forwarded-For; the client's other
// X-Forwarded-* and Forwarded stay as they came.
TEST(BuildOutbound, Spec6_DirectorModeAppendsTheClientIpToXForwardedFor) {
  auto p = director_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p,
                              inbound("GET", {{"X-Forwarded-For", "198.51.100.1"},
                                              {"X-Forwarded-Host", "orig.example"},
                                              {"Forwarded", "for=198.51.100.1"}}),
                              out));
  EXPECT_EQ(values(out.header, "X-Forwarded-For"),
            std::vector<std::string>{"198.51.100.1, 192.0.2.7"});
  EXPECT_EQ(values(out.header, "X-Forwarded-Host"), std::vector<std::string>{"orig.example"});
  EXPECT_EQ(values(out.header, "Forwarded"), std::vector<std::string>{"for=198.51.100.1"});
}

// SPEC 6 (Go: Header["X-Forwarded-For"] = nil): a director that sets omit_x_forwarded_for gets
// no append; what the client sent stays untouched.
TEST(BuildOutbound, Spec6_OmitXForwardedForSuppressesTheAppend) {
  auto p = director_proxy([](Request& out) { out.omit_x_forwarded_for = true; });
  Request out;
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {}), out));
  EXPECT_TRUE(values(out.header, "X-Forwarded-For").empty());
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"X-Forwarded-For", "198.51.100.1"}}), out));
  EXPECT_EQ(values(out.header, "X-Forwarded-For"), std::vector<std::string>{"198.51.100.1"});
}

// SPEC 7, 12: rewrite sees `out` without Forwarded/X-Forwarded-* and hop-by-hop fields, with
// the query cleaned; `in` as the client sent it. Nothing is appended to X-Forwarded-For unless
// the hook asks (set_x_forwarded), and then only the client IP, not the client's claims.
TEST(BuildOutbound, Spec7_12_RewriteSeesForwardedFieldsRemovedAndTheQueryCleaned) {
  const Request in = inbound("GET",
                             {{"Forwarded", "for=198.51.100.1"},
                              {"X-Forwarded-For", "198.51.100.1"},
                              {"X-Forwarded-Host", "orig.example"},
                              {"X-Forwarded-Proto", "https"},
                              {"Connection", "X-Hop"},
                              {"X-Hop", "1"},
                              {"Accept", "*/*"}},
                             "a=1&a=2;b=3");
  std::optional<Lines> seen_out;
  std::string seen_query, seen_in_query;
  std::size_t seen_in_fields = 0;
  auto p = rewrite_proxy([&](ProxyRequest& pr) {
    seen_out = lines_of(pr.out.header);
    seen_query = pr.out.url.raw_query;  // the target has no query: set_url kept it as it was
    seen_in_query = pr.in.url.raw_query;
    seen_in_fields =
        static_cast<std::size_t>(std::distance(pr.in.header.begin(), pr.in.header.end()));
  });
  Request out;
  ASSERT_FALSE(build_outbound(*p, in, out));
  ASSERT_TRUE(seen_out);
  EXPECT_EQ(*seen_out, (Lines{{"Accept", "*/*"}}));
  EXPECT_EQ(seen_query, "a=1");
  EXPECT_EQ(seen_in_query, "a=1&a=2;b=3");
  EXPECT_EQ(seen_in_fields, 7u);
  EXPECT_EQ(lines_of(out.header), (Lines{{"Accept", "*/*"}}))
      << "rewrite mode must not append X-Forwarded-For by itself";
  EXPECT_EQ(out.host, "") << "set_url makes Host the target's";

  auto with_xff = rewrite_proxy([](ProxyRequest& pr) { pr.set_x_forwarded(); });
  ASSERT_FALSE(build_outbound(*with_xff, in, out));
  EXPECT_EQ(values(out.header, "X-Forwarded-For"), std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(values(out.header, "X-Forwarded-Host"), std::vector<std::string>{"client.example"});
  EXPECT_EQ(values(out.header, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_TRUE(values(out.header, "Forwarded").empty());
}

// Rewrite mode ignores omit_x_forwarded_for: it never appends anyway.
TEST(BuildOutbound, Spec7_RewriteModeNeverAppendsXForwardedFor) {
  auto p = rewrite_proxy();
  Request out;
  ASSERT_FALSE(build_outbound(*p, inbound("GET", {{"X-Forwarded-For", "198.51.100.1"}}), out));
  EXPECT_TRUE(values(out.header, "X-Forwarded-For").empty());
}

// SPEC 8: exactly one of rewrite/director, and a host to go to; else no_route.
TEST(BuildOutbound, Spec8_NoRouteWhenBothOrNeitherHookOrNoHost) {
  Request out;
  ReverseProxy neither;
  EXPECT_EQ(build_outbound(neither, inbound("GET", {}), out), errc::no_route);

  auto both = director_proxy();
  both->rewrite = [](ProxyRequest& pr) { pr.set_url(upstream()); };
  EXPECT_EQ(build_outbound(*both, inbound("GET", {}), out), errc::no_route);

  ReverseProxy hostless_director;
  hostless_director.director = [](Request& r) { r.header.set("X-Routed", "no"); };
  EXPECT_EQ(build_outbound(hostless_director, inbound("GET", {}), out), errc::no_route);

  ReverseProxy hostless_rewrite;
  hostless_rewrite.rewrite = [](ProxyRequest&) {};
  EXPECT_EQ(build_outbound(hostless_rewrite, inbound("GET", {}), out), errc::no_route);
}

// A hook that throws becomes errc::hook_threw (an error response), never an exception.
TEST(BuildOutbound, HookThatThrowsIsHookThrew) {
  Request out;
  auto director = director_proxy([](Request&) { throw std::runtime_error("director bug"); });
  std::error_code ec;
  EXPECT_NO_THROW(ec = build_outbound(*director, inbound("GET", {}), out));
  EXPECT_EQ(ec, errc::hook_threw);

  auto rewrite = rewrite_proxy([](ProxyRequest&) { throw 42; });
  EXPECT_NO_THROW(ec = build_outbound(*rewrite, inbound("GET", {}), out));
  EXPECT_EQ(ec, errc::hook_threw);
}

// SPEC 16: the inbound request is never modified, whatever the hooks do to the copy, whether
// they succeed or throw, in either mode.
TEST(BuildOutbound, Spec16_TheInboundRequestIsNeverModified) {
  const Request in = inbound("OPTIONS",
                             {{"Connection", "Upgrade, X-Hop"},
                              {"Upgrade", "websocket"},
                              {"X-Hop", "1"},
                              {"TE", "trailers"},
                              {"Max-Forwards", "3"},
                              {"X-Forwarded-For", "198.51.100.1"},
                              {"Forwarded", "for=198.51.100.1"},
                              {"Expect", "100-continue"},
                              {"Accept", "*/*"}},
                             "a=1;b=2");
  const Snapshot before = snapshot(in);
  auto edit = [](Request& r) {
    r.method = "POST";
    r.host = "changed";
    r.url.raw_path = "/changed";
    r.header.clear();
    r.header.set("X-New", "1");
    r.omit_x_forwarded_for = true;
  };
  std::vector<std::unique_ptr<ReverseProxy>> proxies;
  proxies.push_back(director_proxy(edit));
  proxies.push_back(rewrite_proxy([edit](ProxyRequest& pr) { edit(pr.out); }));
  proxies.push_back(rewrite_proxy([](ProxyRequest& pr) { pr.set_x_forwarded(); }));
  proxies.push_back(director_proxy([edit](Request& r) {
    edit(r);
    throw std::runtime_error("after editing");
  }));
  proxies.push_back(director_proxy());
  for (std::size_t i = 0; i < proxies.size(); ++i) {
    SCOPED_TRACE("proxy " + std::to_string(i));
    Request out;
    (void)build_outbound(*proxies[i], in, out);
    EXPECT_TRUE(snapshot(in) == before) << "the inbound request was modified";
  }
}

}  // namespace
}  // namespace sluice
