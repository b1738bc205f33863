#include "common/log_queue.hpp"
#include "sluice/log.hpp"

namespace sluice {

void write_log_line(const std::function<void(std::string_view)>& sink, std::string_view line) {
  if (sink) {
    try {
      sink(line);
    } catch (...) {  // a sink's failure must not end the request that logged (nor the process)
    }
    return;
  }
  // Full queue: the line is dropped and counted; the caller goes on either way.
  detail::LogQueue::for_stderr().push(line);
}

std::uint64_t log_lines_dropped() { return detail::LogQueue::for_stderr().dropped(); }

bool flush_log(std::chrono::nanoseconds limit) {
  return detail::LogQueue::for_stderr().flush(limit);
}

}  // namespace sluice
