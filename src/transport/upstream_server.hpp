#pragma once
// One server of an upstream pool as the fleet tracks it: whether it may get new requests (its
// ServerHealth) and how many it has in flight. The ServerRegistry hands out one per server URL,
// so a reload that keeps a server keeps this object, its health and its counts.
//
// Reads are lock-free (a request's balancer looks at every server of its pool): the health
// state machine runs under a mutex and publishes its verdict into two atomics after each step.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "transport/server_health.hpp"

namespace sluice {

class UpstreamServer {
 public:
  using Clock = std::chrono::steady_clock;

  // `key` names the server: "http://127.0.0.1:9001" (scheme and authority of its URL).
  explicit UpstreamServer(std::string key);
  UpstreamServer(const UpstreamServer&) = delete;
  UpstreamServer& operator=(const UpstreamServer&) = delete;

  const std::string& key() const { return key_; }
  // A stable 64-bit id of the key (the hash balancer's server id).
  std::uint64_t id() const { return id_; }

  // The pool's health options and per-server request limit (0: none). Set when a config is
  // loaded; a reload that changes them keeps the current up/down state, except that a pool
  // without active checks is up (nothing else could bring it back).
  void configure(ServerHealth::Options health, bool active_checks, std::uint32_t max_requests);

  // A request starts on this server, or ends (streams and tunnels count until their end).
  void begin_request() { active_.fetch_add(1, std::memory_order_relaxed); }
  // begin_request() unless the server is at max_requests: one compare-and-swap, so requests
  // picked at once on several threads (or by several pools) cannot pass the limit together.
  bool try_begin_request();
  void end_request() { active_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint32_t active() const { return active_.load(std::memory_order_relaxed); }

  // Up by the active checks, not passively ejected at `now`, and under max_requests.
  bool available(Clock::time_point now) const;
  // Up by the active checks.
  bool up() const { return up_.load(std::memory_order_relaxed); }
  // Up and not passively ejected at `now` (the sluice_upstream_server_up gauge): what health
  // says, whatever the request limit.
  bool healthy(Clock::time_point now) const;

  // Slow start: how much of its weight a server that came back (turned up by its checks, back
  // from a passive ejection, or joining: found by DNS or added by a reload) takes, growing from
  // 10 % to 100 % over kSlowStart, so that a cold server is not handed its full share at once.
  static constexpr std::chrono::seconds kSlowStart{5};
  double warmth(Clock::time_point now) const;
  // A server that joins a running pool (DNS found it, a reload added it) starts slowly; one
  // made at start does not (all start together, and slow start would only skew them).
  void begin_slow_start();

  void check_passed();
  void check_failed();
  // A request failed in a way that blames the server (connect error, reset, timeout).
  void request_failed(Clock::time_point now);

 private:
  void publish();  // with mutex_ held

  const std::string key_;
  const std::uint64_t id_;
  std::atomic<std::uint32_t> active_{0};
  std::atomic<std::uint32_t> max_requests_{0};
  std::atomic<bool> up_{true};
  std::atomic<Clock::rep> ejected_until_{0};  // time_since_epoch; 0: not ejected
  std::atomic<Clock::rep> up_since_{0};       // when it joined or the checks turned it up
  std::mutex mutex_;
  ServerHealth health_;
};

}  // namespace sluice
