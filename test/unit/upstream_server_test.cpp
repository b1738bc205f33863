// UpstreamServer (src/transport/upstream_server.hpp): the request limit taken with one
// compare-and-swap, slow start only for servers that join or come back, and health published
// for lock-free reads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "transport/upstream_server.hpp"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST(UpstreamServer, MaxRequestsHoldsUnderConcurrentTakers) {
  UpstreamServer server("http://127.0.0.1:9001");
  server.configure(ServerHealth::Options{}, false, 5);
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (server.try_begin_request()) taken.fetch_add(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(taken.load(), 5);
  EXPECT_EQ(server.active(), 5u);
  EXPECT_FALSE(server.available(Clock::now())) << "full";
  server.end_request();
  EXPECT_TRUE(server.available(Clock::now()));
  EXPECT_TRUE(server.try_begin_request());
}

TEST(UpstreamServer, NoLimitMeansNoLimit) {
  UpstreamServer server("http://127.0.0.1:9001");
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(server.try_begin_request());
  EXPECT_EQ(server.active(), 1000u);
}

TEST(UpstreamServer, AServerMadeAtStartIsWarmAJoiningOneStartsSlowly) {
  UpstreamServer server("http://127.0.0.1:9001");
  const auto now = Clock::now();
  EXPECT_DOUBLE_EQ(server.warmth(now), 1.0) << "servers sluice starts with start together";
  server.begin_slow_start();
  const auto joined = Clock::now();
  EXPECT_NEAR(server.warmth(joined), 0.1, 0.05);
  EXPECT_NEAR(server.warmth(joined + 2500ms), 0.5, 0.05);  // linear over kSlowStart (5 s)
  EXPECT_DOUBLE_EQ(server.warmth(joined + UpstreamServer::kSlowStart), 1.0);
}

TEST(UpstreamServer, ComingBackUpStartsSlowly) {
  UpstreamServer server("http://127.0.0.1:9001");
  ServerHealth::Options o;
  o.unhealthy_after = 1;
  o.healthy_after = 1;
  server.configure(o, true, 0);
  server.check_failed();
  EXPECT_FALSE(server.up());
  EXPECT_FALSE(server.available(Clock::now()));
  server.check_passed();
  EXPECT_TRUE(server.up());
  EXPECT_LT(server.warmth(Clock::now()), 0.2);
}

TEST(UpstreamServer, TurningActiveChecksOffBringsADownServerUp) {
  UpstreamServer server("http://127.0.0.1:9001");
  ServerHealth::Options o;
  o.unhealthy_after = 1;
  server.configure(o, true, 0);
  server.check_failed();
  ASSERT_FALSE(server.up());
  server.configure(o, false, 0);  // a reload removed health_check: nothing else could
  EXPECT_TRUE(server.up());
}

TEST(UpstreamServer, PassiveEjectionIsSeenWithoutTheLock) {
  UpstreamServer server("http://127.0.0.1:9001");
  ServerHealth::Options o;
  o.max_fails = 2;
  o.fail_timeout = 10s;
  server.configure(o, false, 0);
  const auto now = Clock::now();
  server.request_failed(now);
  EXPECT_TRUE(server.healthy(now));
  server.request_failed(now);
  EXPECT_FALSE(server.healthy(now));
  EXPECT_TRUE(server.healthy(now + 11s)) << "back by itself after fail_timeout";
  EXPECT_LT(server.warmth(now + 11s), 0.5) << "and it starts slowly";
}

}  // namespace
}  // namespace sluice
