#pragma once
// Response compression (issue 14): the content codings sluice can apply to a response the
// upstream sent uncompressed, and the options that decide when it does.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// The content codings sluice produces (RFC 9110 §8.4.1; zstd: RFC 8878, br: RFC 7932, gzip:
// RFC 1952). "deflate" is left out on purpose: clients disagree on whether it means zlib or raw
// deflate, and gzip is the same compression with a framing every client reads.
enum class ContentCoding { zstd, br, gzip };

// The coding's name as it appears in Content-Encoding: "zstd", "br" or "gzip".
const char* to_string(ContentCoding c);

// The coding named exactly "zstd", "br" or "gzip" (lowercase, as to_string writes them), for
// configuration; nullopt for anything else. Accept-Encoding is parsed elsewhere, leniently
// (case-insensitive, "x-gzip").
std::optional<ContentCoding> parse_content_coding(std::string_view name);

// The media types compressed by default, in the forms CompressOptions::types accepts:
//   "text/*"                             every text type: text/html, text/css, text/plain,
//                                        text/csv, text/javascript, text/event-stream, ...
//   "application/json", "application/x-ndjson", "application/ndjson", "application/javascript",
//   "application/xml", "image/svg+xml"   exact type/subtype
//   "+json", "+xml"                      a structured syntax suffix (RFC 6838 §4.2.8): any subtype
//                                        ending in it, such as application/problem+json,
//                                        application/ld+json or application/atom+xml
// Everything else (images, video, archives, fonts, octet streams) is either compressed already
// or of unknown content, and is sent as it is.
std::vector<std::string> default_compressible_types();

struct CompressOptions {
  // The codings sluice may apply, most preferred first: among those the client accepts with the
  // same q-value, the earlier one wins. Empty (the default): compression is off.
  std::vector<ContentCoding> codings;
  // The media types to compress (parameters such as charset are ignored; case-insensitive):
  // "type/*", an exact "type/subtype", or a suffix "+json" (see default_compressible_types()).
  std::vector<std::string> types = default_compressible_types();
  // A body whose length is known (Content-Length) and smaller than this is sent as it is. A body
  // of unknown length (a stream) always qualifies. Measured on JSON (SmallJson in
  // bench/micro/compression_bench.cpp): up to 128 bytes gzip and zstd make it larger or save a
  // few bytes (their framing: gzip's 18 bytes), from 256 bytes every coding saves a third, for
  // the 3-10 µs a fresh encoder costs.
  std::uint64_t min_bytes = 256;
};

}  // namespace sluice
