#pragma once
// The bucket bounds of sluice's histograms, in nanoseconds (exposed in seconds). Fixed: a
// histogram's buckets are part of its name's contract with dashboards.
#include <array>
#include <cstdint>
#include <span>

namespace sluice::detail {

using namespace std::chrono_literals;

// sluice_added_latency_seconds: 25 µs to 1 s. A streamed chunk normally waits microseconds; a
// flush interval or a slow client shows up in the upper buckets.
inline constexpr std::array<std::int64_t, 16> kAddedLatencyBounds{
    25'000,      50'000,      100'000,     250'000,      500'000,    1'000'000,
    2'500'000,   5'000'000,   10'000'000,  25'000'000,   50'000'000, 100'000'000,
    250'000'000, 500'000'000, 750'000'000, 1'000'000'000};

// Request duration: a short API call to a long stream.
inline constexpr std::array<std::int64_t, 14> kRequestDurationBounds{
    500'000,       1'000'000,      5'000'000,       10'000'000,       25'000'000,
    50'000'000,    100'000'000,    250'000'000,     500'000'000,      1'000'000'000,
    5'000'000'000, 30'000'000'000, 300'000'000'000, 3'600'000'000'000};

// Upstream time to first byte (response head) and connect time.
inline constexpr std::array<std::int64_t, 14> kUpstreamBounds{
    100'000,    250'000,    500'000,     1'000'000,   2'500'000,   5'000'000,     10'000'000,
    25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 5'000'000'000};

// The bucket a value falls in: the first bound >= value, or bounds.size() for +Inf.
inline std::size_t bucket_of(std::span<const std::int64_t> bounds, std::int64_t value) {
  std::size_t i = 0;
  while (i < bounds.size() && value > bounds[i])
    ++i;
  return i;
}

}  // namespace sluice::detail
