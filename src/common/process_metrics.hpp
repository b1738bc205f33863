#pragma once
// The standard process_* families of Prometheus clients, read from /proc at scrape time.
#include <string>

namespace sluice::detail {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds. A file that cannot be read
// leaves its family out (never a made-up value).
void write_process_metrics(std::string& out);

}  // namespace sluice::detail
