// The pool balancers (src/transport/balancer.*): distributions with tolerances, what each does
// with active requests and weights, consistent hashing, and servers that are not available.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "transport/balancer.hpp"

namespace sluice {
namespace {

std::vector<BalancerServer> pool(std::initializer_list<std::uint32_t> weights) {
  std::vector<BalancerServer> servers;
  std::uint64_t id = 1000;
  for (auto w : weights)
    servers.push_back({.id = id++, .weight = w, .active = 0, .available = true});
  return servers;
}

// Picks `n` times with no request ever finishing or starting in between (arrivals only).
std::vector<int> arrivals(Balancer& b, const std::vector<BalancerServer>& servers, int n) {
  std::vector<int> counts(servers.size());
  for (int i = 0; i < n; ++i) {
    const auto chosen = b.pick(servers);
    if (!chosen) {
      ADD_FAILURE() << "no server chosen";
      break;
    }
    ++counts[*chosen];
  }
  return counts;
}

TEST(Balancer, RoundRobinSpreads300RequestsOverThreeServersWithin10Percent) {
  Balancer b(BalancePolicy::round_robin);
  for (int c : arrivals(b, pool({1, 1, 1}), 300)) {
    EXPECT_GE(c, 90);
    EXPECT_LE(c, 110);
  }
}

TEST(Balancer, RoundRobinFollowsWeightsSmoothly) {
  Balancer b(BalancePolicy::round_robin);
  const auto servers = pool({5, 1, 1});
  std::vector<std::size_t> order;
  for (int i = 0; i < 14; ++i)
    order.push_back(*b.pick(servers));
  // nginx's example for weights 5, 1, 1: a a b a c a a, twice; the light servers are spread out
  // rather than served after five of the heavy one in a row.
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}));
}

TEST(Balancer, LeastConnSendsNewRequestsAwayFromTwentyLongStreams) {
  Balancer b(BalancePolicy::least_conn);
  auto servers = pool({1, 1, 1});
  servers[0].active = 20;  // 20 SSE streams that will not end soon
  std::array<int, 3> counts{};
  for (int i = 0; i < 20; ++i) {
    const std::size_t chosen = *b.pick(servers);
    ++counts[chosen];
    ++servers[chosen].active;  // each new request is a stream too
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 10);
  EXPECT_EQ(counts[2], 10);
}

TEST(Balancer, LeastConnDividesByWeight) {
  Balancer b(BalancePolicy::least_conn);
  auto servers = pool({3, 1});
  std::array<int, 2> counts{};
  for (int i = 0; i < 40; ++i) {
    const std::size_t chosen = *b.pick(servers);
    ++counts[chosen];
    ++servers[chosen].active;
  }
  EXPECT_EQ(counts[0], 30);
  EXPECT_EQ(counts[1], 10);
}

TEST(Balancer, LeastConnTiesTakeTurns) {
  Balancer b(BalancePolicy::least_conn);
  for (int c : arrivals(b, pool({1, 1, 1, 1}), 400))
    EXPECT_EQ(c, 100);
}

TEST(Balancer, RandomTwoAvoidsTheLoadedServer) {
  Balancer b(BalancePolicy::random_two, 42);
  auto servers = pool({1, 1, 1});
  servers[0].active = 20;
  std::array<int, 3> counts{};
  for (int i = 0; i < 30; ++i) {
    const std::size_t chosen = *b.pick(servers);
    ++counts[chosen];
    ++servers[chosen].active;
  }
  // The loaded server wins a draw only against one as loaded: never within these 30.
  EXPECT_EQ(counts[0], 0);
  EXPECT_GE(counts[1], 10);
  EXPECT_GE(counts[2], 10);
}

TEST(Balancer, RandomTwoSpreadsEqualServersEvenly) {
  Balancer b(BalancePolicy::random_two, 7);
  for (int c : arrivals(b, pool({1, 1, 1}), 3000)) {
    EXPECT_GE(c, 900);
    EXPECT_LE(c, 1100);
  }
}

TEST(Balancer, HashKeepsAKeyOnItsServer) {
  Balancer b(BalancePolicy::hash);
  const auto servers = pool({1, 1, 1, 1, 1});
  for (std::uint64_t key = 0; key < 200; ++key) {
    const auto first = b.pick(servers, key);
    ASSERT_TRUE(first);
    EXPECT_EQ(b.pick(servers, key), first) << key;
  }
}

TEST(Balancer, HashMovesOnlyTheRemovedServersKeys) {
  Balancer b(BalancePolicy::hash);
  const auto five = pool({1, 1, 1, 1, 1});
  auto four = five;
  four.erase(four.begin() + 2);  // server id 1002 leaves
  constexpr int kKeys = 10000;
  int moved = 0;
  for (std::uint64_t key = 0; key < kKeys; ++key) {
    const std::uint64_t before = five[*b.pick(five, key)].id;
    const std::uint64_t after = four[*b.pick(four, key)].id;
    if (before != after) {
      ++moved;
      EXPECT_EQ(before, 1002u) << "key " << key << " moved off a server that stayed";
    }
  }
  // About 1/5 of the keys were on the removed server.
  EXPECT_GE(moved, kKeys / 5 - kKeys / 50);
  EXPECT_LE(moved, kKeys / 5 + kKeys / 50);
}

TEST(Balancer, HashFollowsWeights) {
  Balancer b(BalancePolicy::hash);
  const auto servers = pool({3, 1});
  std::array<int, 2> counts{};
  for (std::uint64_t key = 0; key < 8000; ++key)
    ++counts[*b.pick(servers, key)];
  EXPECT_NEAR(counts[0], 6000, 300);
  EXPECT_NEAR(counts[1], 2000, 300);
}

TEST(Balancer, UnavailableServersAreNeverChosen) {
  for (auto policy : {BalancePolicy::round_robin, BalancePolicy::least_conn,
                      BalancePolicy::random_two, BalancePolicy::hash}) {
    Balancer b(policy);
    auto servers = pool({1, 5, 1});
    servers[1].available = false;
    for (std::uint64_t i = 0; i < 100; ++i) {
      const auto chosen = b.pick(servers, i);
      ASSERT_TRUE(chosen);
      EXPECT_NE(*chosen, 1u) << static_cast<int>(policy);
    }
    servers[0].available = false;
    servers[2].available = false;
    EXPECT_FALSE(b.pick(servers, 1)) << "all down: no server, at once";
    EXPECT_FALSE(b.pick({}, 1)) << "an empty pool";
  }
}

}  // namespace
}  // namespace sluice
