#include "http1/response_validation.hpp"

#include <boost/beast/core/string.hpp>

#include "common/http_syntax.hpp"
#include "http1/wire.hpp"

namespace sluice {

namespace http = boost::beast::http;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "HTTP/1." DIGIT SP 3DIGIT [SP reason] (RFC 9112 §4), status 100..999. (Beast 1.81 also
// insists on the SP before an empty reason; Go does not.)
bool valid_status_line(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !is_digit(line[7]) || line[8] != ' ') {
    return false;
  }
  if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11])) return false;
  if (line[9] == '0') return false;  // 000-099: not a status code
  if (line.size() == 12) return true;
  return line[12] == ' ' && is_field_value(line.substr(13));
}

}  // namespace

std::string_view to_string(ResponseDefect defect) {
  switch (defect) {
    case ResponseDefect::none: return "none";
    case ResponseDefect::bad_status_line: return "bad status line";
    case ResponseDefect::obs_fold: return "obs-fold in a field";
    case ResponseDefect::bad_field_line: return "bad field line";
    case ResponseDefect::bad_content_length: return "invalid Content-Length";
    case ResponseDefect::duplicate_content_length: return "duplicate Content-Length";
    case ResponseDefect::transfer_encoding_with_content_length:
      return "Transfer-Encoding with Content-Length";
    case ResponseDefect::unsupported_transfer_encoding: return "unsupported Transfer-Encoding";
    case ResponseDefect::transfer_encoding_in_http10: return "Transfer-Encoding in HTTP/1.0";
  }
  return "unknown";
}

ResponseDefect validate_response_head(std::string_view raw_head,
                                      const http::header<false, http::fields>& head) {
  // ---- Syntax, on the bytes: what Beast normalizes away can no longer be seen in `head`.
  // Every line ends with CRLF (Beast refuses a bare LF); the head ends with an empty line.
  bool first = true;
  // Bounded by raw_head: each round consumes one line.
  while (!raw_head.empty()) {
    const auto eol = raw_head.find("\r\n");
    if (eol == std::string_view::npos)
      return first ? ResponseDefect::bad_status_line : ResponseDefect::bad_field_line;
    const std::string_view line = raw_head.substr(0, eol);
    raw_head.remove_prefix(eol + 2);
    if (first) {
      first = false;
      if (!valid_status_line(line)) return ResponseDefect::bad_status_line;
      continue;
    }
    if (line.empty()) break;  // end of the head
    if (line.front() == ' ' || line.front() == '\t') return ResponseDefect::obs_fold;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
        !is_field_value(line.substr(colon + 1))) {
      return ResponseDefect::bad_field_line;
    }
  }
  if (first) return ResponseDefect::bad_status_line;

  // ---- Framing, on the parsed fields.
  int content_lengths = 0;
  int transfer_encodings = 0;
  bool chunked_only = false;
  for (const auto& f : head) {
    if (f.name() == http::field::content_length) {
      ++content_lengths;
      const auto v = http1::trim_ows(f.value());
      if (v.find(',') != std::string_view::npos) return ResponseDefect::duplicate_content_length;
      if (!is_content_length(v)) return ResponseDefect::bad_content_length;
    } else if (f.name() == http::field::transfer_encoding) {
      ++transfer_encodings;
      chunked_only = http1::iequals(http1::trim_ows(f.value()), "chunked");
    }
  }
  if (content_lengths > 1) return ResponseDefect::duplicate_content_length;
  if (transfer_encodings > 0) {
    if (content_lengths > 0) return ResponseDefect::transfer_encoding_with_content_length;
    if (head.version() < 11) return ResponseDefect::transfer_encoding_in_http10;
    if (transfer_encodings > 1 || !chunked_only)
      return ResponseDefect::unsupported_transfer_encoding;
  }
  return ResponseDefect::none;
}

}  // namespace sluice
