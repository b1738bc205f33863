#include "proxy/outbound_request.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string>

#include "http1/wire.hpp"
#include "proxy/forwarded.hpp"
#include "proxy/hop_by_hop.hpp"
#include "sluice/error.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/url.hpp"

namespace sluice {

namespace http = boost::beast::http;

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < ' ' || c > '~') return false;
  }
  return true;
}

std::optional<std::uint32_t> max_forwards(const Request& in) {
  if (in.method != "OPTIONS" && in.method != "TRACE") return std::nullopt;
  const auto it = in.header.find(http::field::max_forwards);
  if (it == in.header.end() || it->value().empty() || it->value().size() > 9) return std::nullopt;
  std::uint32_t n = 0;
  for (char c : it->value()) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return n;
}

std::error_code build_outbound(const ReverseProxy& p, const Request& in, Request& out) {
  if (static_cast<bool>(p.rewrite) == static_cast<bool>(p.director)) return errc::no_route;
  // SPEC 5: an upgrade to a protocol name with control or non-ASCII bytes is never forwarded.
  // (Valid upgrades are stripped like any hop-by-hop field until tunnels exist, SPEC 36.)
  const std::string upgrade = upgrade_type(in.header);
  if (!printable_ascii(upgrade)) return errc::invalid_upgrade_protocol;
  out = in;  // SPEC 16: `in` is never modified; hooks edit the copy
  out.remote = {};
  try {
    if (p.director) p.director(out);  // SPEC 8: before stripping
    remove_hop_by_hop(out.header);    // SPEC 1, 2 (also undoes hop fields a Director added)
    // Sluice answers "100 Continue" itself when it reads the body (Exchange::read_body), so the
    // expectation is met on this hop and not passed on.
    out.header.erase(http::field::expect);
    if (te_has_trailers(in.header)) out.header.set(http::field::te, "trailers");  // SPEC 3
    // R30: an intermediary forwards Max-Forwards decremented by one (0 never gets here).
    if (const auto hops = max_forwards(in); hops && *hops > 0) {
      out.header.set(http::field::max_forwards, std::to_string(*hops - 1));
    }
    // SPEC 4: an upgrade request keeps exactly "Connection: Upgrade" + "Upgrade: <value>".
    // h2c is never passed on: sluice speaks HTTP/1 to the upstream (RFC 9113 §3.1).
    if (!upgrade.empty() && !http1::iequals(upgrade, "h2c")) {
      out.header.set(http::field::connection, "Upgrade");
      out.header.set(http::field::upgrade, upgrade);
    }
    if (p.rewrite) {
      remove_forwarded(out.header);                        // SPEC 7
      out.url.raw_query = clean_query(out.url.raw_query);  // SPEC 12
      ProxyRequest pr{in, out};
      p.rewrite(pr);
    } else if (!out.omit_x_forwarded_for) {
      append_x_forwarded_for(out.header, client_ip(in.remote));  // SPEC 6
    }
  } catch (...) {  // whatever a hook throws becomes an error response, never a dead session
    return errc::hook_threw;
  }
  if (out.url.host.empty()) return errc::no_route;
  return {};
}

}  // namespace sluice
