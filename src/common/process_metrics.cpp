#include "common/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "sluice/metrics.hpp"

namespace sluice::detail {

namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and parentheses:
// it ends at the last ')'). Field 3 (state) is element 0.
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;)
    fields.push_back(f);
  return fields;
}

// Seconds since the epoch at boot (the "btime" line of /proc/stat), or -1.
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = -1;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

long open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return -1;
  long n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the descriptor of the directory being read
}

void gauge(std::string& out, const char* name, const char* type, const char* help, double v) {
  append_metric_header(out, name, type, help);
  append_sample(out, name, "", v);
}

}  // namespace

void write_process_metrics(std::string& out) {
  const auto f = stat_fields();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // Field numbers of proc(5), minus 3: utime 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() > 21 && ticks > 0) {
    gauge(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
          (std::stod(f[11]) + std::stod(f[12])) / ticks);
    gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size.", std::stod(f[20]));
    gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size.",
          std::stod(f[21]) * page);
    if (const double boot = boot_time(); boot >= 0) {
      gauge(out, "process_start_time_seconds", "gauge",
            "Start time of the process since the Unix epoch.", boot + std::stod(f[19]) / ticks);
    }
  }
  if (const long fds = open_fds(); fds >= 0) {
    gauge(out, "process_open_fds", "gauge", "Open file descriptors.", static_cast<double>(fds));
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    gauge(out, "process_max_fds", "gauge", "Limit on open file descriptors.",
          static_cast<double>(limit.rlim_cur));
  }
}

}  // namespace sluice::detail
