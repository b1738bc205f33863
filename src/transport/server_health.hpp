#pragma once
// Whether one upstream server may get new requests, from two sources (the fleet's
// health_check: and passive:):
//   - active checks, on their own timer: down after `unhealthy_after` failures in a row, up
//     again after `healthy_after` successes in a row. A new server starts up, so that a start
//     or a reload does not wait for its first checks.
//   - real traffic: `max_fails` failures (connect error, reset, timeout) within `fail_timeout`
//     take the server out for `fail_timeout` (nginx's max_fails/fail_timeout); it comes back by
//     itself when that time is over.
// Only new requests are affected: a stream already running on a server that turns down is not
// cut. Time is passed in, so the state machine is tested without clocks; not thread-safe (the
// registry that owns it serializes access).
#include <chrono>
#include <cstdint>
#include <optional>

namespace sluice {

class ServerHealth {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::uint32_t healthy_after = 2;
    std::uint32_t unhealthy_after = 2;
    std::uint32_t max_fails = 0;  // 0: passive ejection off
    std::chrono::nanoseconds fail_timeout{std::chrono::seconds(10)};
  };

  explicit ServerHealth(Options options) : options_(options) {}

  // A reload's new options; the up/down state and an ejection in progress are kept.
  void reconfigure(Options options) { options_ = options; }
  // Active checks were turned off: nothing can bring the server up again, so it is up now.
  void mark_up() {
    up_ = true;
    streak_ = 0;
  }

  // One active check's result.
  void check_passed();
  void check_failed();
  // A request to the server failed in a way that says the server is at fault.
  void request_failed(Clock::time_point now);

  // Up by the active checks (always, without them).
  bool up() const { return up_; }
  // Passively ejected at `now`.
  bool ejected(Clock::time_point now) const { return ejected_until_ && now < *ejected_until_; }
  bool available(Clock::time_point now) const { return up_ && !ejected(now); }
  const std::optional<Clock::time_point>& ejected_until() const { return ejected_until_; }

 private:
  Options options_;
  bool up_ = true;
  std::uint32_t streak_ = 0;  // results in a row that disagree with up_
  std::uint32_t fails_ = 0;   // passive failures in the current window
  Clock::time_point window_start_{};
  std::optional<Clock::time_point> ejected_until_;
};

}  // namespace sluice
