#include "support/event_log.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "support/http_wire.hpp"

namespace sluice::test {

namespace {

const char* kind_name(Event::Kind kind) {
  switch (kind) {
    case Event::started: return "started";
    case Event::stopped: return "stopped";
    case Event::write: return "write";
    case Event::end: return "end";
    case Event::heartbeat: return "heartbeat";
    case Event::resume: return "resume";
  }
  return "?";
}

}  // namespace

sluice::Observer EventLog::observer() {
  sluice::Observer obs;
  obs.flush_timer_started = [this](sluice::ResponseId id) {
    record(Event{.kind = Event::started, .id = id});
  };
  obs.flush_timer_stopped = [this](sluice::ResponseId id, sluice::FlushStopReason reason) {
    record(Event{.kind = Event::stopped, .id = id, .reason = reason});
  };
  obs.client_write = [this](sluice::ResponseId id, std::size_t bytes) {
    record(Event{.kind = Event::write, .id = id, .bytes = bytes});
  };
  obs.response_end = [this](sluice::ResponseId id, sluice::ResponseOutcome outcome) {
    record(Event{.kind = Event::end, .id = id, .outcome = outcome});
  };
  obs.sse_heartbeat = [this](sluice::ResponseId id) {
    record(Event{.kind = Event::heartbeat, .id = id});
  };
  obs.sse_resume = [this](sluice::ResponseId id, sluice::SseResumeResult result, unsigned attempt) {
    record(Event{.kind = Event::resume, .id = id, .result = result, .attempt = attempt});
  };
  return obs;
}

void EventLog::record(Event event) {
  event.at = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  changed_.notify_all();
}

std::vector<Event> EventLog::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::string EventLog::summary_locked(std::size_t limit) const {
  if (events_.empty()) return "  (no events)\n";
  std::string out;
  const auto first = events_.front().at;
  const std::size_t skip = events_.size() > limit ? events_.size() - limit : 0;
  if (skip > 0) out += "  ... " + std::to_string(skip) + " earlier events\n";
  for (std::size_t i = skip; i < events_.size(); ++i) {
    const Event& e = events_[i];
    const double ms = std::chrono::duration<double, std::milli>(e.at - first).count();
    char line[160];
    std::snprintf(line, sizeof line, "  +%.3fms %s #%llu", ms, kind_name(e.kind),
                  static_cast<unsigned long long>(e.id));
    out += line;
    switch (e.kind) {
      case Event::stopped: out += std::string(" reason=") + sluice::to_string(e.reason); break;
      case Event::write: out += " bytes=" + std::to_string(e.bytes); break;
      case Event::end: out += std::string(" outcome=") + sluice::to_string(e.outcome); break;
      case Event::resume:
        out += std::string(" ") + sluice::to_string(e.result) +
               " attempt=" + std::to_string(e.attempt);
        break;
      case Event::started:
      case Event::heartbeat: break;
    }
    out += '\n';
  }
  return out;
}

testing::AssertionResult EventLog::wait_until(std::function<bool(const std::vector<Event>&)> pred,
                                              std::string_view what,
                                              std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex_);
  if (changed_.wait_for(lock, deadline, [&] { return pred(events_); })) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure()
         << "timed out after " << detail::format_ms(deadline) << " waiting for " << what << "; "
         << events_.size() << " events:\n"
         << summary_locked();
}

testing::AssertionResult EventLog::wait_for_stopped(sluice::ResponseId id,
                                                    std::chrono::milliseconds deadline) {
  return wait_until(
      [id](const std::vector<Event>& events) {
        return std::any_of(events.begin(), events.end(),
                           [id](const Event& e) { return e.kind == Event::stopped && e.id == id; });
      },
      "flush_timer_stopped of response #" + std::to_string(id), deadline);
}

testing::AssertionResult EventLog::wait_for_any_stopped(std::chrono::milliseconds deadline,
                                                        sluice::ResponseId* id_out) {
  sluice::ResponseId found = 0;
  auto result = wait_until(
      [&found](const std::vector<Event>& events) {
        const auto it = std::find_if(events.begin(), events.end(),
                                     [](const Event& e) { return e.kind == Event::stopped; });
        if (it == events.end()) return false;
        found = it->id;
        return true;
      },
      "any flush_timer_stopped", deadline);
  if (result && id_out != nullptr) *id_out = found;
  return result;
}

testing::AssertionResult EventLog::wait_for_ends(std::size_t n,
                                                 std::chrono::milliseconds deadline) {
  return wait_until(
      [n](const std::vector<Event>& events) {
        const auto is_end = [](const Event& e) { return e.kind == Event::end; };
        return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), is_end)) >= n;
      },
      std::to_string(n) + " response_end events", deadline);
}

testing::AssertionResult EventLog::check_flush_lifecycle() const {
  struct PerId {
    int started = 0;
    int stopped = 0;
    bool ended = false;
  };
  std::lock_guard lock(mutex_);
  std::map<sluice::ResponseId, PerId> ids;  // ordered, so the report is stable
  std::vector<std::string> problems;
  auto problem = [&problems](sluice::ResponseId id, std::size_t index, const std::string& what) {
    problems.push_back("#" + std::to_string(id) + " (event " + std::to_string(index) +
                       "): " + what);
  };
  for (std::size_t i = 0; i < events_.size(); ++i) {
    const Event& e = events_[i];
    PerId& s = ids[e.id];
    if (s.ended) problem(e.id, i, std::string(kind_name(e.kind)) + " after response_end");
    switch (e.kind) {
      case Event::started:
        if (s.started > 0) problem(e.id, i, "flush_timer_started twice");
        if (s.stopped > 0) problem(e.id, i, "flush_timer_started after its stop");
        ++s.started;
        break;
      case Event::stopped:
        if (s.started == 0) {
          problem(e.id, i, "flush_timer_stopped without flush_timer_started before it");
        }
        if (s.stopped > 0) problem(e.id, i, "flush_timer_stopped twice");
        ++s.stopped;
        break;
      case Event::write:
        if (s.stopped > 0) {
          const auto bytes = std::to_string(e.bytes);
          problem(e.id, i, "client_write of " + bytes + " bytes after flush_timer_stopped");
        }
        break;
      case Event::heartbeat:
        if (s.stopped > 0) problem(e.id, i, "heartbeat after flush_timer_stopped");
        break;
      case Event::resume: break;
      case Event::end: s.ended = true; break;
    }
  }
  for (const auto& [id, s] : ids) {
    if (s.started > 0 && s.stopped == 0) {
      problems.push_back("#" + std::to_string(id) + ": flush_timer_started but never stopped");
    }
  }
  if (problems.empty()) return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure() << "flush lifecycle violated:\n";
  for (const auto& p : problems)
    failure << "  " << p << "\n";
  return failure << "events:\n" << summary_locked();
}

}  // namespace sluice::test
