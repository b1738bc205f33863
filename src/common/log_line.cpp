#include <unistd.h>

#include <string>

#include "sluice/log.hpp"

namespace sluice {

void write_log_line(const std::function<void(std::string_view)>& sink, std::string_view line) {
  if (sink) {
    sink(line);
    return;
  }
  std::string buf(line);
  buf += '\n';
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, buf.data(), buf.size());
}

}  // namespace sluice
