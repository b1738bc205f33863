// Hop-by-hop fields on requests and responses (SPEC 1-4, 17, 18).
#include "proxy/hop_by_hop.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace sluice {
namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

Fields make_fields(const Lines& lines) {
  Fields f;
  for (const auto& [name, value] : lines)
    f.insert(name, value);
  return f;
}

// Every field line, in order, with the name as it was inserted.
Lines lines_of(const Fields& f) {
  Lines out;
  for (const auto& field : f)
    out.emplace_back(field.name_string(), field.value());
  return out;
}

TEST(HopByHop, Spec1_FixedListIsRemovedWhateverConnectionSays) {
  Fields f = make_fields({
      {"X-Before", "1"},
      {"Connection", "close"},
      {"proxy-connection", "keep-alive"},
      {"Keep-Alive", "timeout=5"},
      {"Proxy-Authenticate", "Basic"},
      {"PROXY-AUTHORIZATION", "Basic Zm9vOmJhcg=="},
      {"Te", "gzip"},
      {"Trailer", "X-Trailer"},
      {"Transfer-Encoding", "chunked"},
      {"Upgrade", "foo"},
      {"X-After", "2"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-Before", "1"}, {"X-After", "2"}}));
}

TEST(HopByHop, Spec1_FixedListRemovedWithoutAnyConnectionField) {
  Fields f = make_fields(
      {{"Keep-Alive", "timeout=5"}, {"Upgrade", "h2c"}, {"TE", "trailers"}, {"Accept", "*/*"}});
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"Accept", "*/*"}}));
}

// Go's TestReverseProxyStripHeadersPresentInConnection (request and response side alike).
TEST(HopByHop, Spec2_HeadersNamedInConnectionAreRemoved) {
  Fields f = make_fields({
      {"Connection", "Upgrade, X-Fake-Connection-Token"},
      {"Connection", "X-Some-Conn-Header"},
      {"X-Some-Conn-Header", "should be deleted"},
      {"X-Fake-Connection-Token", "should be deleted"},
      {"X-Kept", "end-to-end"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-Kept", "end-to-end"}}));
}

// Go's TestReverseProxyStripEmptyConnection (issue 46313).
TEST(HopByHop, Spec2_EmptyConnectionLineDoesNotBreakStripping) {
  Fields f = make_fields({
      {"Connection", ""},
      {"Connection", "X-Some-Conn-Header"},
      {"X-Some-Conn-Header", "should be deleted"},
      {"X-Kept", "1"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-Kept", "1"}}));
  EXPECT_EQ(f.count("Connection"), 0u);
}

TEST(HopByHop, Spec2_TokensAreTrimmedCaseInsensitiveAndEmptyOnesIgnored) {
  Fields f = make_fields({
      {"Connection", " , x-a ,, X-B\t,"},
      {"X-A", "1"},
      {"x-b", "2"},
      {"X-C", "3"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-C", "3"}}));
}

TEST(HopByHop, Spec2_EveryLineOfANamedFieldIsRemoved) {
  Fields f = make_fields({
      {"X-Hop", "a"},
      {"Connection", "keep-alive, X-Hop"},
      {"Accept", "text/html"},
      {"X-Hop", "b"},
      {"x-hop", "c"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"Accept", "text/html"}}));
}

// SPEC R26: keep-alive plus a custom hop field; end-to-end fields keep their order.
TEST(HopByHop, Spec2_EndToEndFieldsKeepTheirOrderAndValues) {
  Fields f = make_fields({
      {"Host-Like", "x"},
      {"Connection", "keep-alive, X-Hop-Secret"},
      {"X-Hop-Secret", "s3cret"},
      {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"},
      {"Accept", "*/*"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(
      lines_of(f),
      (Lines{{"Host-Like", "x"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Accept", "*/*"}}));
}

// SPEC 17 + 18 (Go's TestReverseProxy backend response): the fixed list and Connection-named
// fields go, "Trailers" (not "Trailer") is an ordinary field and stays.
TEST(HopByHop, Spec18_ResponseHopByHopRemovedTrailersIsNotSpecial) {
  Fields f = make_fields({
      {"Trailers", "not a special header field name"},
      {"Trailer", "X-Trailer"},
      {"X-Foo", "bar"},
      {"Upgrade", "foo"},
      {"Keep-Alive", "timeout=99"},
      {"Connection", "X-Resp-Hop"},
      {"X-Resp-Hop", "hidden"},
      {"Proxy-Authenticate", "Basic realm=x"},
      {"X-Multi-Value", "foo"},
      {"X-Multi-Value", "bar"},
  });
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"Trailers", "not a special header field name"},
                                {"X-Foo", "bar"},
                                {"X-Multi-Value", "foo"},
                                {"X-Multi-Value", "bar"}}));
}

TEST(HopByHop, Spec2_ConnectionNamingItselfOrHostIsHarmless) {
  Fields f = make_fields({{"Connection", "Connection, Host, Nonexistent"}, {"X-A", "1"}});
  remove_hop_by_hop(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-A", "1"}}));
}

struct TokenCase {
  Lines lines;
  std::string name;
  std::string token;
  bool want;
};

TEST(HopByHop, Spec2_HasTokenMatchesListElements) {
  const std::vector<TokenCase> cases = {
      {{{"Connection", "Upgrade"}}, "Connection", "upgrade", true},
      {{{"connection", "keep-alive, UPGRADE"}}, "Connection", "upgrade", true},
      {{{"Connection", "keep-alive"}, {"Connection", " upgrade "}}, "Connection", "upgrade", true},
      {{{"Connection", "upgraded"}}, "Connection", "upgrade", false},
      {{{"Connection", "x-upgrade"}}, "Connection", "upgrade", false},
      {{{"Connection", "up grade"}}, "Connection", "upgrade", false},
      {{{"Connection", ""}}, "Connection", "upgrade", false},
      {{{"X-Other", "upgrade"}}, "Connection", "upgrade", false},
      {{}, "Connection", "upgrade", false},
      {{{"Connection", "a,,b, ,"}}, "Connection", "", false},  // empty elements are ignored
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    EXPECT_EQ(has_token(make_fields(c.lines), c.name, c.token), c.want) << "case " << i;
  }
}

struct TeCase {
  Lines lines;
  bool want;
};

// SPEC 3: token match, so "deflate, trailers" counts (Go 1.17+).
TEST(HopByHop, Spec3_TeHasTrailers) {
  const std::vector<TeCase> cases = {
      {{{"TE", "trailers"}}, true},
      {{{"Te", "deflate, trailers"}}, true},
      {{{"te", "Trailers"}}, true},
      {{{"TE", "gzip"}, {"TE", "trailers"}}, true},
      {{{"TE", "trailers;q=0.5"}}, false},  // not the bare token
      {{{"TE", "x-trailers"}}, false},
      {{{"TE", "gzip, deflate"}}, false},
      {{{"TE", ""}}, false},
      {{{"Trailer", "trailers"}}, false},
      {{}, false},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(te_has_trailers(make_fields(cases[i].lines)), cases[i].want) << "case " << i;
  }
}

struct UpgradeCase {
  Lines lines;
  std::string want;
};

TEST(HopByHop, Spec4_UpgradeTypeRequiresConnectionUpgradeToken) {
  const std::vector<UpgradeCase> cases = {
      {{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, "websocket"},
      {{{"Connection", "keep-alive, upgrade"}, {"Upgrade", "WebSocket"}}, "WebSocket"},
      {{{"Connection", "keep-alive"}, {"Connection", "Upgrade"}, {"Upgrade", "h2c"}}, "h2c"},
      {{{"Upgrade", "websocket"}}, ""},  // no Connection token
      {{{"Connection", "keep-alive"}, {"Upgrade", "websocket"}}, ""},
      {{{"Connection", "Upgrade"}}, ""},  // token but no Upgrade
      {{{"Connection", "Upgrade"}, {"Upgrade", "a"}, {"Upgrade", "b"}}, "a"},  // first line
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(upgrade_type(make_fields(cases[i].lines)), cases[i].want) << "case " << i;
  }
}

}  // namespace
}  // namespace sluice
