#pragma once
// A Transport over an upstream pool (the fleet's `upstreams:`): each round trip picks one
// server with the pool's Balancer among those available (up, not ejected, under max_requests;
// a server that just came back gets a growing share of its weight: UpstreamServer::warmth),
// sends the request through that server's own transport (its own keep-alive pools), and counts
// the request as active on the server until its response body is destroyed, so that streams
// and tunnels count for as long as they last.
//
// Failures:
//   - a connect error, a reset or a timeout before the response head counts against the server
//     (passive ejection, UpstreamServer::request_failed);
//   - a failed attempt is retried, up to `retries` times, on a server not tried yet, only when
//     nothing reached the client (no 1xx forwarded) and the request is safe to send again: a
//     connect failure of any request whose body was not read, or any failure of an idempotent
//     request without a body. A POST whose body started flowing is never replayed. Retries in
//     flight are bounded by the retry budget (retry_budget.hpp);
//   - no server available: errc::no_upstream_available at once (502), never a wait.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/transport.hpp"
#include "sluice/url.hpp"
#include "transport/balancer.hpp"
#include "transport/upstream_server.hpp"

namespace sluice {

// For `balance: hash`: what a request is hashed on.
struct HashKey {
  enum class Kind { header, cookie, client_ip };
  Kind kind = Kind::client_ip;
  std::string name;  // header or cookie name
};

struct PoolMember {
  std::shared_ptr<UpstreamServer> server;
  std::shared_ptr<Transport> transport;  // reaches this server only
  Url url;                               // scheme, host and port of the server
  std::uint32_t weight = 1;
  // The server's index in the metrics layout's upstream (UpstreamResponse::server); past its
  // end (kNoRoute) when the layout does not list it: its requests are not recorded.
  std::size_t metrics_server = static_cast<std::size_t>(-1);
};

// What every balancing transport of one upstream shares, across routes and reloads: the retry
// budget's counts and the counters of the metrics (monotonic for the process's life).
struct PoolCounters {
  // Requests in flight, from the round trip's start to the end of the response body (streams
  // and tunnels for their whole life): the retry budget's base.
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> active_retries{0};   // retries in flight
  std::atomic<std::uint64_t> retries{0};          // retries started
  std::atomic<std::uint64_t> retries_refused{0};  // retries the budget refused
  std::atomic<std::uint64_t> unavailable{0};      // requests answered no_upstream_available
};

struct BalancingOptions {
  std::string upstream;  // the pool's name, for error details
  BalancePolicy policy = BalancePolicy::round_robin;
  HashKey hash_key;  // policy hash only
  std::uint32_t retries = 0;
  std::shared_ptr<PoolCounters> counters;  // null: a pool of its own
  // The bounds the proxy applies to bodies and tunnels (idle_read_timeout,
  // tunnel_idle_timeout). Unset: the first member's transport's.
  std::optional<TransportOptions> transport;
};

class BalancingTransport final : public Transport {
 public:
  // `members` may be empty only with options.transport set (a pool whose servers all come
  // from DNS answers not in yet): every request then gets errc::no_upstream_available.
  BalancingTransport(BalancingOptions options, std::vector<PoolMember> members);

  boost::asio::awaitable<UpstreamResponse> round_trip(RoundTripRequest request) override;
  const TransportOptions& options() const override;
  TransportCounts counts() const override;

  // The servers now; a request keeps the list it started with.
  std::shared_ptr<const std::vector<PoolMember>> members() const;
  // A new list of servers (DNS discovery): requests that start from now on pick from it. The
  // members that stay should be the same objects (the registry's), so their counts carry on.
  void set_members(std::vector<PoolMember> members);
  const BalancingOptions& balancing() const { return options_; }
  const PoolCounters& pool_counters() const { return *options_.counters; }

 private:
  // The member server whose URL's origin is `url` ("http://10.0.0.7:9000"); null if none.
  static const UpstreamServer* server_named(const std::vector<PoolMember>& members,
                                            std::string_view url);
  std::optional<std::size_t> pick(const std::vector<PoolMember>& members, const Request& out,
                                  std::span<const UpstreamServer* const> tried);

  BalancingOptions options_;
  TransportOptions transport_options_;
  // A mutex, not std::atomic<std::shared_ptr>: GCC 12's releases its lock bit with a relaxed
  // store, which ThreadSanitizer reports (google/sanitizers#1558). Held for a copy.
  mutable std::mutex members_mutex_;
  std::shared_ptr<const std::vector<PoolMember>> members_;
  std::mutex balancer_mutex_;  // held for one pick: a few comparisons per server
  Balancer balancer_;
  Balancer fallback_;  // round robin, for hash requests without a key
};

// The hash balancer's key of a request: the named header's value, the named cookie's value, or
// the client's address (the last X-Forwarded-For entry, which the proxy appended). Nullopt
// when the request has none.
std::optional<std::uint64_t> request_hash_key(const HashKey& key, const Request& out);

}  // namespace sluice
