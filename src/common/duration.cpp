#include "common/duration.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace sluice {
namespace {

using u64 = std::uint64_t;

// Magnitudes are accumulated unsigned so that the most negative value (-2^63 ns) stays reachable;
// the sign is applied at the end.
constexpr u64 kMaxMagnitude = u64{1} << 63;

struct Unit {
  std::string_view name;
  u64 ns;
};

// Longest names first so that "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// a + b, or false on exceeding kMaxMagnitude.
bool add_checked(u64& acc, u64 b) {
  if (b > kMaxMagnitude || acc > kMaxMagnitude - b) return false;
  acc += b;
  return true;
}

// floor(unit * 0.<digits>), exactly, for any number of digits: Horner's scheme from the last
// digit, using floor((n + floor(y)) / 10) == floor((n + y) / 10) for integer n. Intermediate values
// stay below 10 * unit, far from overflow.
u64 fraction_ns(std::string_view digits, u64 unit) {
  u64 acc = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    acc = (static_cast<u64>(*it - '0') * unit + acc) / 10;
  }
  return acc;
}

// Writes `value` as a decimal of `unit` ns: integer part, then the fraction without trailing zeros.
void append_decimal(std::string& out, u64 value, u64 unit) {
  out += std::to_string(value / unit);
  u64 frac = value % unit;
  if (frac == 0) return;
  std::string digits;
  for (u64 scale = unit / 10; scale > 0; scale /= 10) {
    digits.push_back(static_cast<char>('0' + frac / scale));
    frac %= scale;
  }
  digits.erase(digits.find_last_not_of('0') + 1);
  out.push_back('.');
  out += digits;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  // The two unit-less spellings the CLI documents; "-1" is the flush interval's "every write"
  // (SPEC 25). Any other bare number is ambiguous (seconds? ms?) and refused.
  if (text == "0") return std::chrono::nanoseconds{0};
  if (text == "-1") return std::chrono::nanoseconds{-1};

  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;

  u64 total = 0;
  while (!text.empty()) {
    // <digits>
    std::size_t n = 0;
    while (n < text.size() && is_digit(text[n]))
      ++n;
    if (n == 0) return std::nullopt;
    const std::string_view whole = text.substr(0, n);
    text.remove_prefix(n);
    // [.<digits>]
    std::string_view frac;
    if (!text.empty() && text.front() == '.') {
      text.remove_prefix(1);
      std::size_t f = 0;
      while (f < text.size() && is_digit(text[f]))
        ++f;
      if (f == 0) return std::nullopt;
      frac = text.substr(0, f);
      text.remove_prefix(f);
    }
    // <unit>
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(0, u.name.size()) == u.name) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    text.remove_prefix(unit->name.size());

    u64 value = 0;
    for (const char c : whole) {
      const u64 digit = static_cast<u64>(c - '0');
      if (value > (kMaxMagnitude - digit) / 10) return std::nullopt;
      value = value * 10 + digit;
    }
    if (value > kMaxMagnitude / unit->ns) return std::nullopt;
    u64 group = value * unit->ns;
    if (!add_checked(group, fraction_ns(frac, unit->ns))) return std::nullopt;
    if (!add_checked(total, group)) return std::nullopt;
  }

  if (negative) {
    // -2^63 is representable; negate in unsigned arithmetic to avoid signed overflow.
    return std::chrono::nanoseconds{static_cast<std::int64_t>(u64{0} - total)};
  }
  if (total > static_cast<u64>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::nanoseconds{static_cast<std::int64_t>(total)};
}

std::string format_duration(std::chrono::nanoseconds d) {
  const std::int64_t count = d.count();
  if (count == 0) return "0";

  std::string out;
  // Magnitude in unsigned arithmetic: -INT64_MIN does not fit in int64.
  u64 rest = static_cast<u64>(count);
  if (count < 0) {
    out.push_back('-');
    rest = u64{0} - rest;
  }

  constexpr u64 kSecond = 1'000'000'000;
  constexpr u64 kMinute = 60 * kSecond;
  constexpr u64 kHour = 60 * kMinute;
  if (rest < kSecond) {
    // Below a second, Go's Duration.String form: the largest unit that keeps a non-zero integer
    // part, with a decimal fraction ("1.5ms", "250ms", "1ns").
    if (rest < 1'000) {
      append_decimal(out, rest, 1);
      out += "ns";
    } else if (rest < 1'000'000) {
      append_decimal(out, rest, 1'000);
      out += "us";
    } else {
      append_decimal(out, rest, 1'000'000);
      out += "ms";
    }
    return out;
  }
  // From a second up: h, m, then seconds with a decimal fraction; zero components are left out
  // ("1h", "1m30s", "1h0.5s"), which is what keeps the form short yet exact.
  if (const u64 hours = rest / kHour; hours > 0) {
    out += std::to_string(hours);
    out.push_back('h');
    rest %= kHour;
  }
  if (const u64 minutes = rest / kMinute; minutes > 0) {
    out += std::to_string(minutes);
    out.push_back('m');
    rest %= kMinute;
  }
  if (rest > 0) {
    append_decimal(out, rest, kSecond);
    out.push_back('s');
  }
  return out;
}

}  // namespace sluice
