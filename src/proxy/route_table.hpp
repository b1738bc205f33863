#pragma once
// The fleet's routes in file order: the first whose host and path prefix both match a request
// wins (route_match.hpp says how each matches); no match is sluice's own 404. Immutable once
// built, so a reload publishes a new table while requests that started on the old one keep it.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

struct RouteRule {
  std::string host;         // "" (any), "api.example.com" or "*.example.com"
  std::string path_prefix;  // "" (any) or "/v1"
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<RouteRule> rules) : rules_(std::move(rules)) {}

  // The index of the first matching rule. A linear scan: with a hundred routes it is a few
  // hundred byte comparisons per request.
  std::optional<std::size_t> match(std::string_view host, std::string_view path) const;

  std::size_t size() const { return rules_.size(); }
  const RouteRule& rule(std::size_t i) const { return rules_[i]; }

 private:
  std::vector<RouteRule> rules_;
};

}  // namespace sluice
