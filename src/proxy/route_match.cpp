#include "proxy/route_match.hpp"

#include <algorithm>
#include <cctype>

namespace sluice {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

// "example.com." names the same host as "example.com".
std::string_view route_bare_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

namespace {

// "/v1/" -> "/v1"; "/" stays "/".
std::string_view segment_prefix(std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/')
    prefix.remove_suffix(1);
  return prefix;
}

}  // namespace

bool route_host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty()) return true;
  const std::string_view name = route_bare_host(host);
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return name.size() > suffix.size() && name[0] != '.' &&
           iequals(name.substr(name.size() - suffix.size()), suffix);
  }
  return iequals(name, pattern);
}

bool route_path_matches(std::string_view prefix, std::string_view path) {
  prefix = segment_prefix(prefix);
  if (prefix.empty() || prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  // The prefix must end at a segment boundary of the path.
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string strip_route_prefix(std::string_view prefix, std::string_view path) {
  prefix = segment_prefix(prefix);
  if (prefix == "/") return std::string(path.empty() ? "/" : path);
  const std::string_view rest = path.substr(std::min(prefix.size(), path.size()));
  return rest.empty() ? "/" : std::string(rest);
}

}  // namespace sluice
