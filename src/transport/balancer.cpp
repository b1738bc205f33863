#include "transport/balancer.hpp"

#include <cmath>
#include <limits>

namespace sluice {

namespace {

// splitmix64: a good 64-bit mix for both the generator and the rendezvous scores.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// a.active / a.weight < b.active / b.weight, without division.
bool less_loaded(const BalancerServer& a, const BalancerServer& b) {
  return static_cast<std::uint64_t>(a.active) * b.weight <
         static_cast<std::uint64_t>(b.active) * a.weight;
}

}  // namespace

Balancer::Balancer(BalancePolicy policy, std::uint64_t seed)
    : policy_(policy), random_state_(seed) {}

std::optional<std::size_t> Balancer::pick(std::span<const BalancerServer> servers,
                                          std::uint64_t key) {
  switch (policy_) {
    case BalancePolicy::round_robin: return smooth_round_robin(servers);
    case BalancePolicy::least_conn: return least_loaded(servers);
    case BalancePolicy::random_two: return two_choices(servers);
    case BalancePolicy::hash: return rendezvous(servers, key);
  }
  return std::nullopt;
}

// Each pick adds every available server's weight to its running total, takes the largest, and
// subtracts the sum of weights from it (nginx's smooth weighted round robin).
std::optional<std::size_t> Balancer::smooth_round_robin(std::span<const BalancerServer> servers) {
  if (current_.size() != servers.size()) current_.assign(servers.size(), 0);
  std::optional<std::size_t> best;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!servers[i].available) continue;
    current_[i] += servers[i].weight;
    total += servers[i].weight;
    if (!best || current_[i] > current_[*best]) best = i;
  }
  if (best) current_[*best] -= total;
  return best;
}

std::optional<std::size_t> Balancer::least_loaded(std::span<const BalancerServer> servers) {
  std::optional<std::size_t> best;
  const std::size_t n = servers.size();
  // Start one further each time, so that equally loaded servers take turns.
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (rotation_ + k) % n;
    if (servers[i].available && (!best || less_loaded(servers[i], servers[*best]))) best = i;
  }
  if (n > 0) rotation_ = (rotation_ + 1) % n;
  return best;
}

std::optional<std::size_t> Balancer::two_choices(std::span<const BalancerServer> servers) {
  std::size_t available = 0;
  for (const auto& s : servers)
    available += s.available ? 1 : 0;
  if (available == 0) return std::nullopt;
  // The r-th available server: a draw among available ones only, so a down server is never
  // one of the two.
  const auto nth_available = [&](std::size_t r) {
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (servers[i].available && r-- == 0) return i;
    }
    return servers.size();  // not reached: r < available
  };
  const std::size_t a = nth_available(next_random() % available);
  if (available == 1) return a;
  // A second draw among the others: the two are distinct.
  std::size_t r = next_random() % (available - 1);
  std::size_t b = nth_available(r);
  if (b == a) b = nth_available(available - 1);
  if (less_loaded(servers[b], servers[a])) return b;
  if (less_loaded(servers[a], servers[b])) return a;
  return next_random() % 2 == 0 ? a : b;
}

// Weighted rendezvous: each server scores -weight / ln(u), u uniform in (0, 1) from the key and
// the server's id; the highest score wins. A server's score for a key never depends on the
// others, so removing a server moves only the keys it had.
std::optional<std::size_t> Balancer::rendezvous(std::span<const BalancerServer> servers,
                                                std::uint64_t key) const {
  std::optional<std::size_t> best;
  double best_score = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!servers[i].available) continue;
    const std::uint64_t h = mix(key ^ mix(servers[i].id));
    // 53 random bits, shifted into (0, 1): never 0, so the logarithm is finite and negative.
    const double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0;
    const double score = -static_cast<double>(servers[i].weight) / std::log(u);
    if (score > best_score) {
      best_score = score;
      best = i;
    }
  }
  return best;
}

std::uint64_t Balancer::next_random() {
  random_state_ += 0x9e3779b97f4a7c15ULL;
  return mix(random_state_);
}

}  // namespace sluice
