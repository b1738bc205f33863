#include "transport/upstream_server.hpp"

#include <algorithm>
#include <string_view>

namespace sluice {

namespace {

// FNV-1a, then a final mix: stable across runs and builds (std::hash is neither promised).
std::uint64_t stable_id(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

UpstreamServer::UpstreamServer(std::string key)
    : key_(std::move(key)), id_(stable_id(key_)), health_(ServerHealth::Options{}) {}

void UpstreamServer::begin_slow_start() {
  up_since_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

bool UpstreamServer::try_begin_request() {
  const std::uint32_t limit = max_requests_.load(std::memory_order_relaxed);
  std::uint32_t now = active_.load(std::memory_order_relaxed);
  do {
    if (limit != 0 && now >= limit) return false;
  } while (!active_.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

double UpstreamServer::warmth(Clock::time_point now) const {
  // Back since the later of: turned up, ejection over.
  const Clock::rep since = std::max(up_since_.load(std::memory_order_relaxed),
                                    ejected_until_.load(std::memory_order_relaxed));
  const auto elapsed = now.time_since_epoch() - Clock::duration(since);
  if (elapsed >= kSlowStart) return 1.0;
  if (elapsed.count() <= 0) return 0.1;
  const double part = std::chrono::duration<double>(elapsed) / kSlowStart;
  return std::max(0.1, part);
}

void UpstreamServer::configure(ServerHealth::Options health, bool active_checks,
                               std::uint32_t max_requests) {
  max_requests_.store(max_requests, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  health_.reconfigure(health);
  if (!active_checks) health_.mark_up();
  publish();
}

bool UpstreamServer::healthy(Clock::time_point now) const {
  if (!up_.load(std::memory_order_relaxed)) return false;
  const Clock::rep until = ejected_until_.load(std::memory_order_relaxed);
  return until == 0 || now.time_since_epoch().count() >= until;
}

bool UpstreamServer::available(Clock::time_point now) const {
  if (!healthy(now)) return false;
  const std::uint32_t limit = max_requests_.load(std::memory_order_relaxed);
  return limit == 0 || active() < limit;
}

void UpstreamServer::check_passed() {
  std::lock_guard lock(mutex_);
  health_.check_passed();
  publish();
}

void UpstreamServer::check_failed() {
  std::lock_guard lock(mutex_);
  health_.check_failed();
  publish();
}

void UpstreamServer::request_failed(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  health_.request_failed(now);
  publish();
}

void UpstreamServer::publish() {
  const bool was_up = up_.exchange(health_.up(), std::memory_order_relaxed);
  if (!was_up && health_.up()) {
    up_since_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  const auto until = health_.ejected_until();
  ejected_until_.store(until ? until->time_since_epoch().count() : 0, std::memory_order_relaxed);
}

}  // namespace sluice
