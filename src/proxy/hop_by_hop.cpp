#include "proxy/hop_by_hop.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "http1/wire.hpp"

namespace sluice {
namespace {

// The RFC 2616 §13.5.1 list plus Proxy-Connection (SPEC 1; Go's hopHeaders). Kept even though
// RFC 9110 §7.6.1 only requires the Connection-named ones: old peers send these unannounced.
constexpr std::string_view kHopHeaders[] = {
    "Connection",
    "Proxy-Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
};

}  // namespace

bool has_token(const Fields& fields, std::string_view name, std::string_view token) {
  bool found = false;
  const auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last && !found; ++it) {
    http1::for_each_list_element(it->value(), [&](std::string_view element) {
      if (http1::iequals(element, token)) found = true;
    });
  }
  return found;
}

void remove_hop_by_hop(Fields& fields) {
  // Collect first: erasing while walking equal_range would invalidate the iterators, and a
  // Connection line may even name Connection itself.
  std::vector<std::string> named;
  const auto [first, last] = fields.equal_range("Connection");
  for (auto it = first; it != last; ++it) {
    http1::for_each_list_element(it->value(),
                                 [&](std::string_view element) { named.emplace_back(element); });
  }
  for (const auto& name : named)
    fields.erase(name);  // SPEC 2/18, RFC 9110 §7.6.1
  for (const auto name : kHopHeaders)
    fields.erase(name);  // SPEC 1
}

std::string upgrade_type(const Fields& fields) {
  if (!has_token(fields, "Connection", "upgrade")) return {};
  // Go's Header.Get: the first Upgrade line, as sent.
  const auto it = fields.find("Upgrade");
  return it == fields.end() ? std::string{} : std::string(it->value());
}

bool te_has_trailers(const Fields& fields) { return has_token(fields, "TE", "trailers"); }

}  // namespace sluice
