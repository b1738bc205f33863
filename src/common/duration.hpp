#pragma once
// Durations as the command line writes them: "250ms", "5s", "1m", "1h", "500us", "0", "-1".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// Accepts an optional leading '-', then one or more "<digits>[.<digits>]<unit>" groups
// (units ns, us, ms, s, m, h; e.g. "1m30s", "1.5s"), or a bare "0" / "-1" (meaning -1ns, the
// flush interval's "after every write"). Anything else, overflow included, returns nullopt.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Go's Duration.String with zero parts left out ("250ms", "5s", "1m30s", "0", "-1ns"): exact,
// and parse_duration reads it back. For logs and --help defaults.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace sluice
