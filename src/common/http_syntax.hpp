#pragma once
// RFC 9110 syntax checks for what sluice writes on the wire. Hooks may put anything in a
// Request or Response; nothing that could split or reframe a head is ever emitted.
#include <array>
#include <cstdint>
#include <limits>
#include <string_view>

namespace sluice {

namespace detail {
// One lookup per byte: every field name of every head, both ways, goes through is_token.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c)
    t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c)
    t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~"))
    t[static_cast<unsigned char>(c)] = true;
  return t;
}();
}  // namespace detail

// tchar (RFC 9110 §5.6.2): field names and methods.
inline bool is_tchar(unsigned char c) { return detail::kTchar[c]; }

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// field-value (RFC 9110 §5.5): visible ASCII, SP, HTAB and obs-text; no CR, LF, NUL or other CTL.
inline bool is_field_value(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// A request-target or Host value: non-empty, no whitespace or CTL (RFC 9112 §3.2).
inline bool is_wire_word(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// Content-Length (RFC 9110 §8.6): 1*DIGIT, and small enough for sluice's int64 lengths (Beast
// accepts up to 2^64-1, which would wrap to a negative length). Leading zeros are fine.
inline bool is_content_length(std::string_view v) {
  if (v.empty()) return false;
  std::uint64_t n = 0;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (kMax - d) / 10) return false;
    n = n * 10 + d;
  }
  return true;
}

}  // namespace sluice
