#include "stream_features.hpp"

#include <algorithm>

namespace sluice::app {

void apply_stream_features(const StreamFeatures& features, ReverseProxy& proxy) {
  proxy.sse_heartbeat = features.sse_heartbeat;
  proxy.sse_resume = features.sse_resume;
  proxy.sse_resume_attempts = features.sse_resume_attempts;
  proxy.compress.codings = features.compress;
}

std::optional<ContentCoding> parse_coding(std::string_view name, std::string& problem) {
  if (auto coding = parse_content_coding(name)) return coding;
  problem = "names no coding: \"" + std::string(name) + "\" (use zstd, br, gzip)";
  return std::nullopt;
}

std::optional<std::vector<ContentCoding>> parse_coding_list(std::string_view text,
                                                            std::string& problem) {
  std::vector<ContentCoding> codings;
  // At most one element per comma: the loop is bounded by the text.
  while (true) {
    const std::size_t comma = text.find(',');
    const auto coding = parse_coding(text.substr(0, comma), problem);
    if (!coding) return std::nullopt;
    if (std::find(codings.begin(), codings.end(), *coding) != codings.end()) {
      problem = "names " + std::string(to_string(*coding)) + " twice";
      return std::nullopt;
    }
    codings.push_back(*coding);
    if (comma == std::string_view::npos) return codings;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace sluice::app
