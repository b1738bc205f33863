#include "proxy/route_table.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "proxy/route_match.hpp"

namespace sluice {

namespace {

// Longer than any DNS name (253); a longer Host is compared without folding it first.
constexpr std::size_t kMaxHost = 256;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

}  // namespace

RouteTable::RouteTable(std::vector<RouteRule> rules) : rules_(std::move(rules)) {
  compiled_.reserve(rules_.size());
  for (const RouteRule& r : rules_) {
    Compiled c;
    c.wildcard = r.host.starts_with("*.");
    c.host = lowered(c.wildcard ? std::string_view(r.host).substr(1) : std::string_view(r.host));
    c.prefix = r.path_prefix;
    while (c.prefix.size() > 1 && c.prefix.back() == '/')
      c.prefix.pop_back();
    if (c.prefix == "/") c.prefix.clear();
    compiled_.push_back(std::move(c));
  }
}

std::optional<std::size_t> RouteTable::match(std::string_view host, std::string_view path) const {
  // The Host as route_match.hpp reads it: no port, no trailing dot, lower case; folded once.
  std::array<char, kMaxHost> buffer;
  std::string_view name = route_bare_host(host);
  const bool fits = name.size() <= buffer.size();
  if (fits) {
    std::transform(name.begin(), name.end(), buffer.begin(), lower);
    name = std::string_view(buffer.data(), name.size());
  }
  for (std::size_t i = 0; i < compiled_.size(); ++i) {
    const Compiled& c = compiled_[i];
    if (!c.host.empty()) {
      // A Host longer than any DNS name takes the slow path, with the same answer.
      const bool host_ok =
          !fits        ? route_host_matches(rules_[i].host, host)
          : c.wildcard ? name.size() > c.host.size() && name[0] != '.' && name.ends_with(c.host)
                       : name == c.host;
      if (!host_ok) continue;
    }
    if (!c.prefix.empty()) {
      if (!path.starts_with(c.prefix)) continue;
      if (path.size() != c.prefix.size() && path[c.prefix.size()] != '/') continue;
    }
    return i;
  }
  return std::nullopt;
}

}  // namespace sluice
