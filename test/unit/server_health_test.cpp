// A server's health (src/transport/server_health.*): active checks with their thresholds,
// passive ejection within a window and its end, and the retry budget.
#include <gtest/gtest.h>

#include <chrono>

#include "transport/retry_budget.hpp"
#include "transport/server_health.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using Clock = ServerHealth::Clock;

TEST(ServerHealth, DownAfterUnhealthyAfterFailuresInARowAndUpAfterHealthyAfterSuccesses) {
  ServerHealth h({.healthy_after = 2, .unhealthy_after = 3});
  EXPECT_TRUE(h.up());  // a new server starts up
  h.check_failed();
  h.check_failed();
  h.check_passed();  // the streak is broken
  h.check_failed();
  h.check_failed();
  EXPECT_TRUE(h.up());
  h.check_failed();
  EXPECT_FALSE(h.up());
  h.check_passed();
  h.check_failed();  // broken again
  h.check_passed();
  EXPECT_FALSE(h.up());
  h.check_passed();
  EXPECT_TRUE(h.up());
}

TEST(ServerHealth, PassiveEjectionNeedsMaxFailsWithinTheWindow) {
  ServerHealth h({.max_fails = 3, .fail_timeout = 10s});
  const auto t0 = Clock::time_point{} + 100s;
  h.request_failed(t0);
  h.request_failed(t0 + 4s);
  h.request_failed(t0 + 11s);  // the window started at t0 has passed: counting starts again
  EXPECT_TRUE(h.available(t0 + 11s));
  h.request_failed(t0 + 12s);
  h.request_failed(t0 + 13s);
  EXPECT_FALSE(h.available(t0 + 13s));
  EXPECT_TRUE(h.up()) << "ejection is not the active state";
  // Out for fail_timeout, then back by itself.
  EXPECT_FALSE(h.available(t0 + 22s));
  EXPECT_TRUE(h.available(t0 + 23s));
}

TEST(ServerHealth, FailuresWhileEjectedDoNotExtendIt) {
  ServerHealth h({.max_fails = 1, .fail_timeout = 5s});
  const auto t0 = Clock::time_point{} + 100s;
  h.request_failed(t0);
  h.request_failed(t0 + 4s);  // a stream that was already running fails during the ejection
  EXPECT_TRUE(h.available(t0 + 5s));
}

TEST(ServerHealth, PassiveOffByDefault) {
  ServerHealth h({});
  const auto t0 = Clock::time_point{} + 100s;
  for (int i = 0; i < 100; ++i)
    h.request_failed(t0);
  EXPECT_TRUE(h.available(t0));
}

TEST(ServerHealth, ActiveDownWinsOverPassive) {
  ServerHealth h({.unhealthy_after = 1, .max_fails = 5});
  h.check_failed();
  EXPECT_FALSE(h.available(Clock::time_point{} + 1s));
}

TEST(RetryBudget, TwentyPercentOfActiveWithAMinimumOfThree) {
  EXPECT_TRUE(retry_allowed(0, 0));
  EXPECT_TRUE(retry_allowed(1, 2));
  EXPECT_FALSE(retry_allowed(1, 3));
  EXPECT_FALSE(retry_allowed(10, 3));
  EXPECT_TRUE(retry_allowed(100, 19));
  EXPECT_FALSE(retry_allowed(100, 20));
  EXPECT_FALSE(retry_allowed(1000, 200));
  EXPECT_TRUE(retry_allowed(1000, 199));
}

}  // namespace
}  // namespace sluice
