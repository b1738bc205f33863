#pragma once
// Where sluice's lines go: the access log and the error lines of the server and the proxy.
#include <functional>
#include <string_view>

namespace sluice {

// Writes one line to `sink`, or to stderr when it is empty (a single write(2), so lines from
// several workers never interleave). A sink that throws loses the line; nothing else happens.
void write_log_line(const std::function<void(std::string_view)>& sink, std::string_view line);

}  // namespace sluice
