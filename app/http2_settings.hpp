#pragma once
// The HTTP/2 limits' shared checks, for the flags and the config file alike.
#include <cstdint>
#include <optional>
#include <string>

#include "sluice/server.hpp"

namespace sluice::app {

// RFC 9113 §6.9.1: a flow-control window is at most 2^31-1.
inline constexpr std::uint64_t kMaxH2Window = 0x7fffffff;

// Why the connection window cannot be used, or nullopt. A connection window below streams x
// stream window would let a few streams' unread bodies stall all the others.
inline std::optional<std::string> check_h2_windows(const ServerOptions& o) {
  if (o.h2_connection_window == 0) return std::nullopt;  // streams x stream window
  const std::uint64_t least = std::min<std::uint64_t>(
      kMaxH2Window, static_cast<std::uint64_t>(o.h2_max_concurrent_streams) * o.h2_stream_window);
  if (o.h2_connection_window < least) {
    return "is below streams x stream window (" + std::to_string(least) + ")";
  }
  return std::nullopt;
}

}  // namespace sluice::app
