#pragma once
// The one default bound for every wait in the test support library. Generous on purpose: a
// passing test never waits for it (waits end on the event), so it only decides how long a broken
// test hangs before it reports, and sanitizer builds on a loaded CI machine must not trip it.
#include <chrono>

namespace sluice::test {

inline constexpr std::chrono::seconds kDeadline{5};

}  // namespace sluice::test
