#pragma once
// Where sluice's lines go: the access log and the error lines of the server and the proxy.
//
// A line without a sink of its own goes to one process-wide bounded queue, and a writer thread
// of its own drains that queue to stderr. A worker thread never waits on stderr: when the reader
// is slow or stalled and the queue is full, the line is dropped and counted
// (log_lines_dropped(), exported as sluice_log_dropped_total), and the request goes on.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace sluice {

// Writes one line to `sink`, or queues it for stderr when `sink` is empty (see above; lines
// from several threads never interleave). A sink that throws loses the line; nothing else
// happens.
void write_log_line(const std::function<void(std::string_view)>& sink, std::string_view line);

// Lines dropped so far because the stderr queue was full.
std::uint64_t log_lines_dropped();

// Waits until every line queued so far was written to stderr, for at most `limit`. True if
// they were. The binary calls it before it exits; a stalled stderr makes it return false.
bool flush_log(std::chrono::nanoseconds limit);

}  // namespace sluice
