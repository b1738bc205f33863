// fuzz_response_head: an upstream response head parsed as the transport does it
// (response_parser<buffer_body>, 64 KiB header limit, no body limit). Invariants on every head
// that parses:
//   - status 100..999, version 1.0 or 1.1;
//   - no CR, LF or NUL in the reason, any field name or value; names are tokens;
//   - chunked() only with a Transfer-Encoding whose last coding is chunked;
//   - content_length() only with a Content-Length field whose value is that number;
//   - the bytes arriving whole or 7 at a time give the same verdict, status and framing.
// Heads are first run through validate_response_head (src/http1/response_validation.hpp):
// the invariants apply to the heads it accepts, which also must carry no framing fault
// (one Content-Length at most, Transfer-Encoding only as a single "chunked" without
// Content-Length and not in HTTP/1.0). Beast alone accepts status codes 000-099.
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_syntax.hpp"
#include "fuzz_common.hpp"

#include "http1/response_validation.hpp"

namespace http = boost::beast::http;
using ResponseParser = http::response_parser<http::buffer_body>;

namespace {

constexpr std::uint32_t kMaxResponseHeaderBytes = 64 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The last non-empty element of the last Transfer-Encoding line.
std::string_view last_coding(const ResponseParser::value_type& head) {
  std::string_view last;
  for (const auto& f : head) {
    if (f.name() != http::field::transfer_encoding) continue;
    std::string_view v = f.value();
    std::size_t pos = 0;
    while (pos <= v.size()) {
      std::size_t comma = v.find(',', pos);
      if (comma == std::string_view::npos) comma = v.size();
      const std::string_view e = trim(v.substr(pos, comma - pos));
      if (!e.empty()) last = e;
      pos = comma + 1;
    }
  }
  return last;
}

std::size_t parse(ResponseParser& parser, std::string_view input, std::size_t slice,
                  boost::beast::error_code& ec) {
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(boost::none);
  return sluice_fuzz::feed_head(parser, input, slice, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ResponseParser parser;
  boost::beast::error_code ec;
  const std::size_t head_bytes = parse(parser, input, 0, ec);

  ResponseParser sliced;
  boost::beast::error_code sec;
  parse(sliced, input, 7, sec);
  FUZZ_CHECK(parser.is_header_done() == sliced.is_header_done());
  if (!parser.is_header_done()) return 0;  // 502: nothing relayed

  const auto& head = parser.get();
  // The transport's verdict: a defective head is a 502, nothing of it is relayed.
  if (sluice::validate_response_head(input.substr(0, head_bytes), head) !=
      sluice::ResponseDefect::none) {
    return 0;
  }
  {
    const std::size_t te_lines = head.count(http::field::transfer_encoding);
    const std::size_t cl_lines = head.count(http::field::content_length);
    FUZZ_CHECK(cl_lines <= 1);
    FUZZ_CHECK(te_lines == 0 ||
               (te_lines == 1 && cl_lines == 0 && parser.chunked() && head.version() >= 11));
  }
  FUZZ_CHECK(sliced.get().result_int() == head.result_int());
  FUZZ_CHECK(sliced.chunked() == parser.chunked());
  FUZZ_CHECK(sliced.content_length() == parser.content_length());

  const unsigned status = head.result_int();
  FUZZ_CHECK(status >= 100 && status <= 999);
  FUZZ_CHECK(head.version() == 10 || head.version() == 11);
  FUZZ_CHECK(!sluice_fuzz::has_ctl_crlf_nul(head.reason()));
  for (const auto& f : head) {
    FUZZ_CHECK(sluice::is_token(f.name_string()));
    FUZZ_CHECK(!sluice_fuzz::has_ctl_crlf_nul(f.value()));
  }
  if (parser.chunked()) {
    FUZZ_CHECK(iequals(last_coding(head), "chunked"));
  }
  if (const auto cl = parser.content_length(); cl && !parser.chunked()) {
    // Some Content-Length line holds exactly that number.
    bool found = false;
    for (const auto& f : head) {
      if (f.name() != http::field::content_length) continue;
      std::string_view v = trim(f.value());
      if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos) continue;
      // Leading zeros are valid (1*DIGIT): compare the significant digits.
      while (v.size() > 1 && v.front() == '0')
        v.remove_prefix(1);
      if (v.size() <= 20 && std::stoull(std::string(v)) == *cl) found = true;
    }
    FUZZ_CHECK(found);
  }

  return 0;
}
