#include "proxy/route_table.hpp"

#include "proxy/route_match.hpp"

namespace sluice {

std::optional<std::size_t> RouteTable::match(std::string_view host, std::string_view path) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (route_host_matches(rules_[i].host, host) &&
        route_path_matches(rules_[i].path_prefix, path)) {
      return i;
    }
  }
  return std::nullopt;
}

}  // namespace sluice
