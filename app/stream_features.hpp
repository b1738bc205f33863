#pragma once
// The streaming features of a route (issue 14): SSE heartbeats, SSE resume and compression, as
// the command line and the configuration file spell them, and how they land on a ReverseProxy.
// Every one is off unless asked for.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/content_coding.hpp"
#include "sluice/reverse_proxy.hpp"

namespace sluice::app {

inline constexpr unsigned kDefaultSseResumeAttempts = 3;
inline constexpr unsigned kMaxSseResumeAttempts = 100;
// The shortest heartbeat interval the binary takes: shorter would be a write per wait, not a
// keep-alive. (The library takes any.)
inline constexpr std::chrono::milliseconds kMinSseHeartbeat{100};

struct StreamFeatures {
  std::chrono::nanoseconds sse_heartbeat{0};  // 0: off
  bool sse_resume = false;
  unsigned sse_resume_attempts = kDefaultSseResumeAttempts;
  std::vector<ContentCoding> compress;  // in order of preference; empty: off
};

void apply_stream_features(const StreamFeatures& features, ReverseProxy& proxy);

// "zstd,br,gzip": codings in order of preference, each once. On error, nullopt and `problem`
// says what is wrong ("names no coding: \"lz4\" (use zstd, br, gzip)").
std::optional<std::vector<ContentCoding>> parse_coding_list(std::string_view text,
                                                            std::string& problem);
// The same check for one element of a list already split (the configuration file's sequence).
std::optional<ContentCoding> parse_coding(std::string_view name, std::string& problem);

}  // namespace sluice::app
