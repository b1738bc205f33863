// Strict request framing (SPEC H). See request_validation.hpp for what each check is for and what
// Beast 1.81 already rejects on its own.
#include "http1/request_validation.hpp"

#include <boost/beast/core/string.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/http_syntax.hpp"
#include "http1/wire.hpp"

namespace sluice::detail {

namespace http = boost::beast::http;

namespace {

Verdict reject(unsigned status, std::string reason) { return Rejection{status, std::move(reason)}; }

// Content-Length = 1*DIGIT (RFC 9110 §8.6). Beast strips the OWS around a field value. The value
// must also fit the signed length sluice carries (Request::content_length).
// Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): unreserved, pct-encoded,
// sub-delims, ":" and the IP-literal brackets. May be empty (no authority in the target URI).
bool valid_host(std::string_view v) {
  for (unsigned char c : v) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) continue;
    if (std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) ==
        std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Transfer-Encoding (RFC 9112 §6.1, §7): sluice decodes `chunked` only, so the whole list must be
// exactly one `chunked` (any case). chunked not final, twice, or with parameters, or a list element
// that is not a token: 400. Any other coding: 501 (RFC 9112 §6.1, unknown coding).
Verdict check_transfer_encoding(std::string_view value) {
  std::vector<std::string_view> codings;
  for (;;) {
    const auto comma = value.find(',');
    const std::string_view element = http1::trim_ows(value.substr(0, comma));
    if (!is_token(element)) return reject(400, "malformed Transfer-Encoding");
    codings.push_back(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  std::size_t chunked = 0;
  for (std::string_view c : codings) {
    if (http1::iequals(c, "chunked")) ++chunked;
  }
  if (chunked > 1) return reject(400, "Transfer-Encoding lists chunked more than once");
  if (chunked == 1 && !http1::iequals(codings.back(), "chunked")) {
    return reject(400, "Transfer-Encoding: chunked is not the final coding");
  }
  if (codings.size() != 1 || chunked != 1) {
    return reject(501, "Transfer-Encoding other than chunked is not implemented");
  }
  return std::nullopt;
}

// A request line "token SP target SP HTTP/D.D": the version Beast refused was well formed, so the
// answer is 505 rather than 400 (RFC 9110 §15.6.6). Anything else is left to Beast.
Verdict check_request_line(std::string_view line) {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || !is_token(line.substr(0, sp1))) return std::nullopt;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !is_wire_word(line.substr(sp1 + 1, sp2 - sp1 - 1))) {
    return std::nullopt;
  }
  const std::string_view v = line.substr(sp2 + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) {
    return std::nullopt;
  }
  if (v == "HTTP/1.0" || v == "HTTP/1.1") return std::nullopt;
  return reject(505, "HTTP version not supported");
}

}  // namespace

Verdict validate_request_head(const http::request_header<>& head) {
  // Beast parses only these two, but the checks below assume them.
  if (head.version() != 10 && head.version() != 11)
    return reject(505, "HTTP version not supported");
  if (!is_token(head.method_string())) return reject(400, "malformed method");
  if (!is_wire_word(head.target())) return reject(400, "malformed request target");

  std::size_t hosts = 0, lengths = 0, encodings = 0;
  std::string_view host, length, encoding;
  for (const auto& f : head) {
    const std::string_view name = f.name_string();
    const std::string_view value = f.value();
    if (!is_token(name)) return reject(400, "malformed header field name");          // R10
    if (!is_field_value(value)) return reject(400, "malformed header field value");  // R11
    if (f.name() == http::field::host) {
      ++hosts;
      host = value;
    } else if (f.name() == http::field::content_length) {
      ++lengths;
      length = value;
    } else if (f.name() == http::field::transfer_encoding) {
      ++encodings;
      encoding = value;
    }
  }

  // R15 (RFC 9112 §3.2): exactly one Host in HTTP/1.1, never two, and a valid one.
  if (hosts > 1) return reject(400, "more than one Host header field");
  if (hosts == 0 && head.version() >= 11) return reject(400, "missing Host header field");
  if (hosts == 1 && !valid_host(host)) return reject(400, "invalid Host header field");

  // R2, R3, R4: one Content-Length, 1*DIGIT. Identical duplicates are refused too.
  if (lengths > 1) return reject(400, "more than one Content-Length header field");
  if (lengths == 1 && !is_content_length(length)) return reject(400, "invalid Content-Length");

  if (encodings > 0) {
    // R13 (RFC 9112 §6.1): a 1.0 request with Transfer-Encoding has faulty framing.
    if (head.version() < 11) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    // R1: with both, the framing is ambiguous whatever the coding says.
    if (lengths > 0) return reject(400, "both Content-Length and Transfer-Encoding");
    // R6: chunked twice (Beast refuses two `chunked` fields, not any two fields).
    if (encodings > 1) return reject(400, "more than one Transfer-Encoding header field");
    // R5, R14.
    if (auto bad = check_transfer_encoding(encoding)) return bad;
  }
  return std::nullopt;
}

Verdict check_raw_head(std::string_view s) {
  bool first = true;
  std::size_t pos = 0;
  while (pos < s.size()) {
    // At the start of a line.
    const char c = s[pos];
    if (c == ' ' || c == '\t') {
      return reject(400, "obsolete line folding or whitespace-led line");  // R8, R9
    }
    if (c == '\n') return reject(400, "bare LF in the request head");  // R12
    // The empty line ending the head (or not enough bytes yet); a CR without LF is Beast's.
    if (c == '\r') return std::nullopt;
    const auto eol = s.find('\n', pos);
    if (eol == std::string_view::npos) return std::nullopt;  // line not complete yet
    if (s[eol - 1] != '\r') return reject(400, "bare LF in the request head");  // R12
    if (first) {
      if (auto bad = check_request_line(s.substr(pos, eol - 1 - pos))) return bad;  // R16
    }
    first = false;
    pos = eol + 1;
  }
  return std::nullopt;
}

bool stalled_chunk_line_invalid(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
  }
  return false;
}

}  // namespace sluice::detail
