#pragma once
// Records the proxy's lifecycle events (SPEC L1, include/sluice/events.hpp) so that tests wait on
// what the proxy did ("flush timer of response 7 stopped") with a deadline, instead of sleeping
// or counting threads.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include "sluice/events.hpp"
#include "support/deadline.hpp"

namespace sluice::test {

struct Event {
  enum Kind { started, stopped, write, end, heartbeat, resume };
  Kind kind = started;
  sluice::ResponseId id = 0;
  sluice::FlushStopReason reason{};            // stopped only
  sluice::ResponseOutcome outcome{};           // end only
  std::size_t bytes = 0;                       // write only
  sluice::SseResumeResult result{};            // resume only
  unsigned attempt = 0;                        // resume only
  std::chrono::steady_clock::time_point at{};  // set by the log when recorded
};

class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Callbacks that append to this log; they may run on any number of worker threads at once.
  // The log must outlive every proxy the observer is given to.
  sluice::Observer observer();

  // Waits until pred(events) holds; pred runs under the log's lock after every new event (keep it
  // cheap, never call back into the log). On failure the message names `what` and lists the events.
  testing::AssertionResult wait_until(std::function<bool(const std::vector<Event>&)> pred,
                                      std::string_view what,
                                      std::chrono::milliseconds deadline = kDeadline);
  testing::AssertionResult wait_for_stopped(sluice::ResponseId id,
                                            std::chrono::milliseconds deadline = kDeadline);
  // The first `stopped` of any response; its id goes to *id_out when given.
  testing::AssertionResult wait_for_any_stopped(std::chrono::milliseconds deadline = kDeadline,
                                                sluice::ResponseId* id_out = nullptr);
  // At least n response_end events in total.
  testing::AssertionResult wait_for_ends(std::size_t n,
                                         std::chrono::milliseconds deadline = kDeadline);

  std::vector<Event> events() const;

  // SPEC L1 invariants over everything recorded so far (call it once traffic is over): every id
  // with a `started` has exactly one `stopped` (and one `started`); no `stopped` without a
  // `started` before it; no `write` after the id's `stopped`; at most one `end` per id, and
  // nothing after it; no heartbeat after the id's `stopped`.
  testing::AssertionResult check_flush_lifecycle() const;

 private:
  void record(Event event);
  // "+12.3ms write #4 bytes=17" lines, at most the last `limit` events. Caller holds mutex_.
  std::string summary_locked(std::size_t limit = 60) const;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;
};

}  // namespace sluice::test
