#include "sluice/content_coding.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

const char* to_string(ContentCoding c) {
  switch (c) {
    case ContentCoding::zstd: return "zstd";
    case ContentCoding::br: return "br";
    case ContentCoding::gzip: return "gzip";
  }
  return "";  // not reached: every enumerator is handled above
}

std::optional<ContentCoding> parse_content_coding(std::string_view name) {
  for (const ContentCoding c : {ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}) {
    if (name == to_string(c)) return c;
  }
  return std::nullopt;
}

std::vector<std::string> default_compressible_types() {
  // image/svg+xml is also covered by "+xml"; it is named so that a list edited down from this
  // one keeps it when the suffix entries are dropped.
  return {"text/*",
          "application/json",
          "application/x-ndjson",
          "application/ndjson",
          "application/javascript",
          "application/xml",
          "image/svg+xml",
          "+json",
          "+xml"};
}

}  // namespace sluice
