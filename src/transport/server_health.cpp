#include "transport/server_health.hpp"

namespace sluice {

void ServerHealth::check_passed() {
  if (up_) {
    streak_ = 0;
    return;
  }
  if (++streak_ >= options_.healthy_after) {
    up_ = true;
    streak_ = 0;
  }
}

void ServerHealth::check_failed() {
  if (!up_) {
    streak_ = 0;
    return;
  }
  if (++streak_ >= options_.unhealthy_after) {
    up_ = false;
    streak_ = 0;
  }
}

void ServerHealth::request_failed(Clock::time_point now) {
  if (options_.max_fails == 0 || ejected(now)) return;
  if (fails_ == 0 || now - window_start_ >= options_.fail_timeout) {
    fails_ = 0;
    window_start_ = now;
  }
  if (++fails_ >= options_.max_fails) {
    ejected_until_ = now + options_.fail_timeout;
    fails_ = 0;
  }
}

}  // namespace sluice
