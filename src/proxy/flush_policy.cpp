#include "proxy/flush_policy.hpp"

#include <string>
#include <string_view>

#include "common/http_syntax.hpp"
#include "http1/wire.hpp"

namespace sluice {

std::string media_type(std::string_view content_type) {
  // RFC 9110 §8.3.1: media-type = type "/" subtype parameters. Parameters are ignored whatever
  // they hold (Go's mime.ParseMediaType still returns the type when only they are malformed); a
  // malformed type/subtype yields "" as in Go, so "text/event-stream x" is not mistaken for SSE.
  const std::string_view base = http1::trim_element(content_type.substr(0, content_type.find(';')));
  const std::size_t slash = base.find('/');
  const std::string_view type = base.substr(0, slash);
  if (!is_token(type)) return {};
  if (slash != std::string_view::npos && !is_token(base.substr(slash + 1))) return {};
  std::string out(base);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::chrono::nanoseconds flush_interval_for(const Response& res,
                                            std::chrono::nanoseconds configured) {
  constexpr std::chrono::nanoseconds kImmediately{-1};
  // SPEC 27: an event stream must reach the client event by event, whatever the configuration.
  // Like Go's Header.Get, only the first Content-Type line counts.
  if (const auto it = res.header.find("Content-Type"); it != res.header.end()) {
    if (media_type(it->value()) == "text/event-stream") return kImmediately;
  }
  // SPEC 27: no Content-Length means a stream of unknown length (chunked or close-delimited),
  // which is likely to be a long poll or a live feed; buffering it would stall the client.
  if (res.content_length == kUnknownLength) return kImmediately;
  return configured;
}

}  // namespace sluice
