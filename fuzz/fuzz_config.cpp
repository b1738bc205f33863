// libFuzzer target: the fleet configuration loader (app/fleet_config.*) on arbitrary bytes.
// Invariants: it never throws, crashes or hangs; it returns a config or at least one error, never
// both; every error carries a line and column inside the input (at most one past its last line
// or a line's end, where a YAML error at the end of the file points); and a config it accepts is
// whole (listeners, upstreams, routes, and every route's upstream defined).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "fleet_config.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = sluice::app::load_fleet_config(text);

  int lines = 1;
  int longest = 0;
  int current = 0;
  for (char c : text) {
    if (c == '\n') {
      ++lines;
      current = 0;
    } else {
      longest = std::max(longest, ++current);
    }
  }

  if (const auto* errors = std::get_if<std::vector<sluice::app::ConfigError>>(&result)) {
    FUZZ_CHECK(!errors->empty());
    for (const auto& e : *errors) {
      FUZZ_CHECK(e.at.line >= 1 && e.at.line <= lines + 1);
      FUZZ_CHECK(e.at.column >= 1 && e.at.column <= longest + 2);
      FUZZ_CHECK(!e.message.empty());
    }
    return 0;
  }
  const auto& config = std::get<sluice::app::FleetConfig>(result);
  FUZZ_CHECK(!config.listeners.empty());
  FUZZ_CHECK(!config.upstreams.empty());
  FUZZ_CHECK(!config.routes.empty());
  for (const auto& route : config.routes) {
    FUZZ_CHECK(std::any_of(config.upstreams.begin(), config.upstreams.end(),
                           [&](const auto& u) { return u.name == route.upstream; }));
  }
  for (const auto& upstream : config.upstreams) {
    FUZZ_CHECK(!upstream.servers.empty());
    FUZZ_CHECK(upstream.hash_key.has_value() == (upstream.balance == sluice::app::Balance::hash));
  }
  return 0;
}
