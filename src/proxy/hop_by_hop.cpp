#include "proxy/hop_by_hop.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace {

// The RFC 2616 §13.5.1 list plus Proxy-Connection (SPEC 1; Go's hopHeaders). Kept even though
// RFC 9110 §7.6.1 only requires the Connection-named ones: old peers send these unannounced.
constexpr std::string_view kHopHeaders[] = {
    "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
    "TE",         "Trailer",          "Transfer-Encoding", "Upgrade",
};

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Optional whitespace (RFC 9110 §5.6.3) around a list element; CR and LF are trimmed too, as Go's
// textproto.TrimString does, although a parsed field value cannot hold them.
std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return is_ows(c) || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Calls f(element) for each non-empty, trimmed element of a comma-separated field value
// (RFC 9110 §5.6.1: recipients ignore empty list elements).
template <typename F>
void for_each_element(std::string_view value, F&& f) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    const std::size_t comma = value.find(',', pos);
    const std::size_t end = comma == std::string_view::npos ? value.size() : comma;
    const std::string_view element = trim(value.substr(pos, end - pos));
    if (!element.empty()) f(element);
    pos = end + 1;
  }
}

}  // namespace

bool has_token(const Fields& fields, std::string_view name, std::string_view token) {
  bool found = false;
  const auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last && !found; ++it) {
    for_each_element(it->value(), [&](std::string_view element) {
      if (iequals(element, token)) found = true;
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
    for_each_element(it->value(),
                     [&](std::string_view element) { named.emplace_back(element); });
  }
  for (const auto& name : named) fields.erase(name);  // SPEC 2/18, RFC 9110 §7.6.1
  for (const auto name : kHopHeaders) fields.erase(name);  // SPEC 1
}

std::string upgrade_type(const Fields& fields) {
  if (!has_token(fields, "Connection", "upgrade")) return {};
  // Go's Header.Get: the first Upgrade line, as sent.
  const auto it = fields.find("Upgrade");
  return it == fields.end() ? std::string{} : std::string(it->value());
}

bool te_has_trailers(const Fields& fields) { return has_token(fields, "TE", "trailers"); }

}  // namespace sluice
