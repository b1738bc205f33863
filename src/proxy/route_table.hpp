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
  explicit RouteTable(std::vector<RouteRule> rules);

  // The index of the first matching rule: the Host is folded (port, trailing dot, case) once,
  // then each rule is a plain comparison, so a hundred routes cost well under a microsecond.
  std::optional<std::size_t> match(std::string_view host, std::string_view path) const;

  std::size_t size() const { return rules_.size(); }
  const RouteRule& rule(std::size_t i) const { return rules_[i]; }

 private:
  // A rule as match() compares it: the host pattern lower-cased (for *.example.com, the
  // ".example.com" suffix), the prefix without trailing slashes.
  struct Compiled {
    std::string host;
    bool wildcard = false;
    std::string prefix;
  };
  std::vector<RouteRule> rules_;
  std::vector<Compiled> compiled_;
};

}  // namespace sluice
