#pragma once
// Choosing a server of an upstream pool for the next request (the fleet's `balance:`).
//
//   round_robin  smooth weighted round robin (nginx's): weights 2:1:1 give a b a c a b a c ...,
//                arrivals are balanced, concurrency is not
//   least_conn   the fewest active requests per unit of weight; ties go round the table
//   random_two   two distinct servers at random, the one with fewer active requests per unit of
//                weight wins (the power of two choices: near least_conn without scanning all)
//   hash         weighted rendezvous hashing of a request key: a key stays on its server while
//                that server is available, and removing one of N servers moves only its keys
//                (about 1/N of them)
//
// "Active" counts every request in flight on the server, long streams and tunnels included: a
// balancer that counts arrivals piles SSE and LLM streams of very different lengths onto one
// server. A Balancer keeps a little state (round-robin weights, a random generator) and is not
// thread-safe: its owner serializes picks (BalancingTransport holds a mutex for one pick).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sluice {

enum class BalancePolicy { round_robin, least_conn, random_two, hash };

// What the balancer sees of one server.
struct BalancerServer {
  std::uint64_t id = 0;      // stable across reloads and reorderings (a hash of its URL)
  std::uint32_t weight = 1;  // >= 1
  std::uint32_t active = 0;  // requests in flight, streams and tunnels included
  bool available = true;     // healthy, not ejected, under its max_requests
};

class Balancer {
 public:
  explicit Balancer(BalancePolicy policy, std::uint64_t seed = 0x9e3779b97f4a7c15ULL);

  // The index of the chosen server in `servers`, or nullopt when none is available. `key` is
  // the hashed request key (hash policy only).
  std::optional<std::size_t> pick(std::span<const BalancerServer> servers, std::uint64_t key = 0);

 private:
  std::optional<std::size_t> smooth_round_robin(std::span<const BalancerServer> servers);
  std::optional<std::size_t> least_loaded(std::span<const BalancerServer> servers);
  std::optional<std::size_t> two_choices(std::span<const BalancerServer> servers);
  std::optional<std::size_t> rendezvous(std::span<const BalancerServer> servers,
                                        std::uint64_t key) const;
  std::uint64_t next_random();

  BalancePolicy policy_;
  std::uint64_t random_state_;
  std::vector<std::int64_t> current_;  // smooth round robin's running weights, one per server
  std::size_t rotation_ = 0;           // where least_conn's tie-break starts
};

}  // namespace sluice
