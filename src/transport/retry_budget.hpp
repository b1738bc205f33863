#pragma once
// How many retries may be in flight at once (Envoy's retry budget): at most 20 % of the
// requests in flight, and never fewer than 3. A failing fleet then gets at most 1.2 times its
// load instead of (1 + retries) times, while a quiet one can still retry.
#include <algorithm>
#include <cstdint>

namespace sluice {

inline constexpr std::uint64_t kRetryBudgetPercent = 20;
inline constexpr std::uint64_t kRetryBudgetMinimum = 3;

// True when one more retry may start, given the requests in flight (retries included) and the
// retries already in flight.
constexpr bool retry_allowed(std::uint64_t active_requests, std::uint64_t active_retries) {
  const std::uint64_t budget =
      std::max(kRetryBudgetMinimum, active_requests * kRetryBudgetPercent / 100);
  return active_retries < budget;
}

}  // namespace sluice
