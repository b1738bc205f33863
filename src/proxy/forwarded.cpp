#include "proxy/forwarded.hpp"

#include <string>
#include <string_view>

namespace sluice {

namespace {

// a.b.c.d, as inet_ntop writes it, without its sprintf: this runs for every proxied request.
std::string dotted(const boost::asio::ip::address_v4& v4) {
  std::string out;
  out.reserve(15);
  for (const unsigned char octet : v4.to_bytes()) {
    if (!out.empty()) out += '.';
    if (octet >= 100) out += static_cast<char>('0' + octet / 100);
    if (octet >= 10) out += static_cast<char>('0' + octet / 10 % 10);
    out += static_cast<char>('0' + octet % 10);
  }
  return out;
}

}  // namespace

std::string client_ip(const boost::asio::ip::tcp::endpoint& peer) {
  const auto address = peer.address();
  if (address.is_v4()) return dotted(address.to_v4());
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; Go prints such an address in
  // dotted IPv4 form (net.IP.String), so X-Forwarded-For carries "a.b.c.d" there too.
  if (address.to_v6().is_v4_mapped()) {
    return dotted(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()));
  }
  return address.to_string();
}

void append_x_forwarded_for(Fields& fields, std::string_view ip) {
  // SPEC 6: every prior line, in order, folded into one list (RFC 9110 §5.3 allows the fold for
  // a list-valued field). Go joins the raw values, so an empty prior line yields a leading ", ".
  std::string value;
  bool prior = false;
  const auto [first, last] = fields.equal_range("X-Forwarded-For");
  for (auto it = first; it != last; ++it) {
    if (prior) value += ", ";
    value.append(it->value());
    prior = true;
  }
  if (prior) value += ", ";
  value.append(ip);
  fields.set("X-Forwarded-For", value);  // set() replaces all lines with one
}

void remove_forwarded(Fields& fields) {
  // SPEC 7: in Rewrite mode the client's own claims about the path are not trusted.
  for (const std::string_view name :
       {"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}) {
    fields.erase(name);
  }
}

}  // namespace sluice
