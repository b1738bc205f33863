// Durations on the command line: flush interval (SPEC 24-26) and the timeouts of SPEC L7.
#include "common/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sluice {
namespace {

using std::chrono::nanoseconds;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

struct ParseCase {
  std::string text;
  std::int64_t want_ns;
};

TEST(Duration, Spec24_BareZeroMeansNoPeriodicFlush) {
  ASSERT_EQ(parse_duration("0"), nanoseconds{0});
  ASSERT_EQ(parse_duration("0s"), nanoseconds{0});
  ASSERT_EQ(parse_duration("0ms"), nanoseconds{0});
}

TEST(Duration, Spec25_BareMinusOneMeansFlushAfterEveryWrite) {
  ASSERT_EQ(parse_duration("-1"), nanoseconds{-1});
  ASSERT_EQ(parse_duration("-1ns"), nanoseconds{-1});
  ASSERT_EQ(parse_duration("-1s"), nanoseconds{-1'000'000'000});
}

TEST(Duration, Spec26_UnitsFractionsAndGroups) {
  const std::vector<ParseCase> cases = {
      {"1ns", 1},
      {"500us", 500'000},
      {"250ms", 250'000'000},
      {"5s", 5'000'000'000},
      {"1m", 60'000'000'000},
      {"1h", 3'600'000'000'000},
      {"1.5s", 1'500'000'000},
      {"0.5ms", 500'000},
      {"1.25h", 4'500'000'000'000},
      {"1m30s", 90'000'000'000},
      {"1h1m1s1ms1us1ns", 3'661'001'001'001},
      {"2s1s", 3'000'000'000},             // groups add up, in any order
      {"1.0000000001s", 1'000'000'000},    // below a nanosecond: truncated
      {"1.999999999999s", 1'999'999'999},  // truncated, never rounded up
      {"0.1ns", 0},
      {"007ms", 7'000'000},
      {"-1.5s", -1'500'000'000},
      {"-1m30s", -90'000'000'000},  // the sign applies to the whole duration
      {"9223372036854775807ns", kMax},
      {"-9223372036854775808ns", kMin},
      {"2562047h47m16.854775807s", kMax},
      {"-2562047h47m16.854775808s", kMin},
  };
  for (const auto& c : cases) {
    const auto got = parse_duration(c.text);
    ASSERT_TRUE(got.has_value()) << "rejected \"" << c.text << '"';
    EXPECT_EQ(got->count(), c.want_ns) << "text=\"" << c.text << '"';
  }
}

TEST(Duration, SpecL7_RejectsMalformedText) {
  const std::vector<std::string> bad = {
      "",      "-",
      "5",  // a bare number other than 0 / -1 has no unit
      "-5",    "1",   "00",  "-0",
      "+1s",  // only '-' is a sign here
      "s",     "ms",  "1x",  "1sec",
      "1S",  // units are case-sensitive
      "1MS",
      "1µs",  // the micro sign is not accepted, only "us"
      ".5s",  // digits before the point
      "1.s",  // and after it
      "1..5s", "1.5", "1 s", " 1s",  "1s ", "1s-1s", "--1s", "1d", "1e3ms", "0x10s",
  };
  for (const auto& text : bad) {
    EXPECT_FALSE(parse_duration(text).has_value()) << "accepted \"" << text << '"';
  }
}

TEST(Duration, SpecL7_RejectsOverflow) {
  const std::vector<std::string> bad = {
      "9223372036854775808ns",     // INT64_MAX + 1
      "-9223372036854775809ns",    // INT64_MIN - 1
      "2562047h47m16.854775808s",  // 2^63 exactly, positive
      "2562048h",
      "9223372036854775807s",
      "99999999999999999999ns",    // more digits than uint64 holds
      "9223372036854775807ns1ns",  // the sum overflows, each group does not
      "-9223372036854775808ns1ns",
  };
  for (const auto& text : bad) {
    EXPECT_FALSE(parse_duration(text).has_value()) << "accepted \"" << text << '"';
  }
}

struct FormatCase {
  std::int64_t ns;
  std::string want;
};

TEST(Duration, SpecL7_FormatShortestExactForm) {
  const std::vector<FormatCase> cases = {
      {0, "0"},
      {-1, "-1ns"},
      {1, "1ns"},
      {999, "999ns"},
      {1'000, "1us"},
      {1'500, "1.5us"},
      {250'000'000, "250ms"},
      {1'500'000, "1.5ms"},
      {999'999'999, "999.999999ms"},
      {1'000'000'000, "1s"},
      {1'500'000'000, "1.5s"},
      {5'000'000'000, "5s"},
      {60'000'000'000, "1m"},
      {90'000'000'000, "1m30s"},
      {3'600'000'000'000, "1h"},
      {3'605'000'000'000, "1h5s"},
      {3'660'000'000'000, "1h1m"},
      {3'600'500'000'000, "1h0.5s"},
      {60'000'000'001, "1m0.000000001s"},
      {-90'000'000'000, "-1m30s"},
      {-250'000'000, "-250ms"},
      {kMax, "2562047h47m16.854775807s"},
      {kMin, "-2562047h47m16.854775808s"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(format_duration(nanoseconds{c.ns}), c.want) << "ns=" << c.ns;
  }
}

TEST(Duration, SpecL7_FormatRoundTripsThroughParse) {
  const std::vector<std::int64_t> values = {
      0,
      -1,
      1,
      7,
      1'001,
      123'456'789,
      kMax,
      kMin,
      kMin + 1,
      kMax - 1,
      86'400'000'000'000,
      -3'600'000'000'001,
  };
  for (const auto ns : values) {
    const std::string text = format_duration(nanoseconds{ns});
    const auto back = parse_duration(text);
    ASSERT_TRUE(back.has_value()) << "cannot parse \"" << text << '"';
    EXPECT_EQ(back->count(), ns) << "text=\"" << text << '"';
  }
}

}  // namespace
}  // namespace sluice
