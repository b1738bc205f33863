// X-Forwarded-For and friends (SPEC 6, 7).
#include "proxy/forwarded.hpp"

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

Fields make_fields(const Lines& lines) {
  Fields f;
  for (const auto& [name, value] : lines)
    f.insert(name, value);
  return f;
}

Lines lines_of(const Fields& f) {
  Lines out;
  for (const auto& field : f)
    out.emplace_back(field.name_string(), field.value());
  return out;
}

struct IpCase {
  std::string address;
  std::string want;
};

// Go's net.SplitHostPort(RemoteAddr): the host part, IPv6 without brackets.
TEST(Forwarded, Spec6_ClientIpIsTheHostPartOfThePeer) {
  const std::vector<IpCase> cases = {
      {"10.0.0.1", "10.0.0.1"},
      {"127.0.0.1", "127.0.0.1"},
      {"::1", "::1"},
      {"2001:db8::5", "2001:db8::5"},
      {"::ffff:192.0.2.7", "192.0.2.7"},  // dual-stack socket, IPv4
                                          // client: printed as IPv4
      // Every octet width, and the zeros inside one (client_ip formats IPv4 itself).
      {"0.0.0.0", "0.0.0.0"},
      {"255.100.10.9", "255.100.10.9"},
      {"203.0.113.250", "203.0.113.250"},
      {"::ffff:100.64.0.10", "100.64.0.10"},
  };
  for (const auto& c : cases) {
    const tcp::endpoint peer(make_address(c.address), 54321);
    EXPECT_EQ(client_ip(peer), c.want) << c.address;
  }
}

TEST(Forwarded, Spec6_NoPriorValueGivesTheClientIp) {
  Fields f = make_fields({{"Accept", "*/*"}});
  append_x_forwarded_for(f, "192.0.2.1");
  EXPECT_EQ(lines_of(f), (Lines{{"Accept", "*/*"}, {"X-Forwarded-For", "192.0.2.1"}}));
}

// Go's TestXForwardedFor: the prior value is kept in front.
TEST(Forwarded, Spec6_PriorValueIsKeptInFront) {
  Fields f = make_fields({{"X-Forwarded-For", "client ip"}});
  append_x_forwarded_for(f, "127.0.0.1");
  EXPECT_EQ(lines_of(f), (Lines{{"X-Forwarded-For", "client ip, 127.0.0.1"}}));
}

TEST(Forwarded, Spec6_SeveralPriorLinesFoldIntoOne) {
  Fields f = make_fields({
      {"X-Forwarded-For", "203.0.113.1"},
      {"Accept", "*/*"},
      {"x-forwarded-for", "198.51.100.2, 198.51.100.3"},
  });
  append_x_forwarded_for(f, "::1");
  EXPECT_EQ(f.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(std::string(f["X-Forwarded-For"]), "203.0.113.1, 198.51.100.2, 198.51.100.3, ::1");
  EXPECT_EQ(std::string(f["Accept"]), "*/*");
}

TEST(Forwarded, Spec6_EmptyPriorLineIsJoinedAsGoDoes) {
  // Go: strings.Join([""], ", ") + ", " + ip.
  Fields f = make_fields({{"X-Forwarded-For", ""}});
  append_x_forwarded_for(f, "10.1.2.3");
  EXPECT_EQ(lines_of(f), (Lines{{"X-Forwarded-For", ", 10.1.2.3"}}));
}

TEST(Forwarded, Spec6_AppendingTwiceChains) {
  Fields f;
  append_x_forwarded_for(f, "10.0.0.1");
  append_x_forwarded_for(f, "10.0.0.2");
  EXPECT_EQ(lines_of(f), (Lines{{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}}));
}

// Go's TestReverseProxyRewriteStripsForwarded.
TEST(Forwarded, Spec7_RemoveForwardedDeletesTheFourClientClaims) {
  Fields f = make_fields({
      {"Forwarded", "for=192.0.2.60;proto=https"},
      {"X-Forwarded-For", "192.0.2.60"},
      {"x-forwarded-for", "192.0.2.61"},
      {"X-Forwarded-Host", "evil.example"},
      {"X-FORWARDED-PROTO", "https"},
      {"X-Forwarded-Port", "443"},  // not in the list: left alone
      {"X-Real-Ip", "192.0.2.60"},
  });
  remove_forwarded(f);
  EXPECT_EQ(lines_of(f), (Lines{{"X-Forwarded-Port", "443"}, {"X-Real-Ip", "192.0.2.60"}}));
}

}  // namespace
}  // namespace sluice
