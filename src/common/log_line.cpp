#include <unistd.h>

#include <string>

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
  std::string buf(line);
  buf += '\n';
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, buf.data(), buf.size());
}

}  // namespace sluice
