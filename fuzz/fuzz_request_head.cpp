// fuzz_request_head: request head parsing (as the server does it) -> Request (as session.cpp's
// to_request builds it) -> remove_hop_by_hop -> serialize_request_head -> parsed again by a fresh
// Beast parser. Invariants on every head the proxy would forward:
//   - the serialized head parses completely (every byte consumed, header done, no error);
//   - same method, and the target sluice meant to send (for origin-form: the client's target);
//   - every end-to-end field of the client's head is present with the same values, in order,
//     and nothing else (apart from Host and the framing sluice chose);
//   - exactly one Host, with the value the proxy chose;
//   - framing: Transfer-Encoding only for content_length == -1 and then only "chunked",
//     Content-Length n for n > 0, "Content-Length: 0" only for POST/PUT/PATCH with no body;
//   - no hop-by-hop field and no CR, LF or NUL in any name or value.
// Only requests that src/http1/request_validation.hpp accepts (check_raw_head, then
// validate_request_head) are checked, and those must not carry the SPEC R1-R6/R13/R15 faults.
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_syntax.hpp"
#include "fuzz_common.hpp"
#include "proxy/hop_by_hop.hpp"
#include "sluice/message.hpp"
#include "sluice/url.hpp"
#include "transport/round_trip.hpp"

#include "http1/request_validation.hpp"
#include "server/request_from_parser.hpp"

namespace http = boost::beast::http;
using RequestParser = http::request_parser<http::buffer_body>;

namespace {

constexpr std::uint32_t kMaxRequestHeaderBytes = 64 * 1024;  // ServerOptions default

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool method_has_body(std::string_view m) { return m == "POST" || m == "PUT" || m == "PATCH"; }

const std::set<std::string> kHop = {"connection",
                                    "proxy-connection",
                                    "keep-alive",
                                    "proxy-authenticate",
                                    "proxy-authorization",
                                    "te",
                                    "trailer",
                                    "transfer-encoding",
                                    "upgrade"};

// Comma-separated list elements of every `name` line, trimmed and lower-cased.
std::set<std::string> list_tokens(const sluice::Fields& fields, std::string_view name) {
  std::set<std::string> out;
  const auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last; ++it) {
    std::string_view v = it->value();
    std::size_t pos = 0;
    while (pos <= v.size()) {
      std::size_t comma = v.find(',', pos);
      if (comma == std::string_view::npos) comma = v.size();
      std::string_view e = v.substr(pos, comma - pos);
      while (!e.empty() && (e.front() == ' ' || e.front() == '\t'))
        e.remove_prefix(1);
      while (!e.empty() && (e.back() == ' ' || e.back() == '\t'))
        e.remove_suffix(1);
      if (!e.empty()) out.insert(lower(e));
      pos = comma + 1;
    }
  }
  return out;
}

using FieldMap = std::map<std::string, std::vector<std::string>>;  // lower-case name -> values

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  RequestParser parser;
  parser.header_limit(kMaxRequestHeaderBytes);
  parser.body_limit(boost::none);
  boost::beast::error_code ec;
  // The session checks the raw head bytes before the parser sees them (obs-fold, bare LF, HTTP
  // version: SPEC R8, R12, R16). Beast consumes whole lines, so the first check covers the head.
  if (sluice::detail::check_raw_head(input)) return 0;
  sluice_fuzz::feed_head(parser, input, 0, ec);
  if (!parser.is_header_done()) return 0;  // rejected (400/431) or incomplete: nothing forwarded

  // The same bytes arriving a few at a time must give the same verdict and the same head.
  {
    RequestParser sliced;
    sliced.header_limit(kMaxRequestHeaderBytes);
    sliced.body_limit(boost::none);
    boost::beast::error_code sec;
    sluice_fuzz::feed_head(sliced, input, 7, sec);
    FUZZ_CHECK(sliced.is_header_done());
    FUZZ_CHECK(sliced.get().method_string() == parser.get().method_string());
    FUZZ_CHECK(sliced.get().target() == parser.get().target());
    FUZZ_CHECK(sliced.chunked() == parser.chunked());
    FUZZ_CHECK(sliced.content_length() == parser.content_length());
  }

  const auto& head = parser.get();
  const auto length = parser.content_length();
  const sluice::Request in = sluice::detail::request_from_parser(parser, {});

  // The validation layer decides (as the session does); only what it accepts goes on.
  if (sluice::detail::validate_request_head(head)) return 0;
  {
    // Accepted requests carry no framing fault (SPEC R1, R5, R6, R13, R15).
    const std::size_t te_lines = head.count(http::field::transfer_encoding);
    const std::size_t cl_lines = head.count(http::field::content_length);
    FUZZ_CHECK(te_lines == 0 || cl_lines == 0);                             // R1
    FUZZ_CHECK(cl_lines <= 1);                                              // R2, R3
    FUZZ_CHECK(te_lines == 0 || (te_lines == 1 && parser.chunked()));       // R5, R6
    FUZZ_CHECK(te_lines == 0 || head.version() >= 11);                      // R13
    FUZZ_CHECK(head.version() < 11 || head.count(http::field::host) == 1);  // R15
  }

  // The outbound request as the proxy builds it (Director mode: inbound Host kept, upstream URL
  // set, path untouched so that the target can be compared).
  sluice::Request out = in;
  out.url.scheme = "http";
  out.url.host = "upstream.test";
  out.url.port = "9000";
  sluice::remove_hop_by_hop(out.header);

  const std::string expected_target = out.url.request_target();
  const std::string expected_host = out.host.empty() ? out.url.authority() : out.host;
  const auto serialized = sluice::serialize_request_head(out);
  if (!serialized) {
    // Only a method, target or Host that cannot be written is refused.
    FUZZ_CHECK(!sluice::is_token(out.method) || !sluice::is_wire_word(expected_target) ||
               !sluice::is_wire_word(expected_host));
    return 0;
  }
  FUZZ_CHECK(sluice::is_wire_word(expected_target) && sluice::is_wire_word(expected_host));

  // Target: for origin-form and '*' the client's own bytes, except that an empty query ("/p?") is
  // dropped by Url::request_target. (Beast also accepts targets of no RFC form, e.g. "?q" or
  // "a/b"; sluice forwards those as "/?q", "a/b": only the checks below apply to them.)
  const std::string_view client_target = head.target();
  if (client_target == "*" || (!client_target.empty() && client_target.front() == '/')) {
    std::string_view t = client_target;
    const std::size_t q = t.find('?');
    if (q != std::string_view::npos && q + 1 == t.size()) t.remove_suffix(1);
    FUZZ_CHECK(expected_target == t);
  }

  // Parse what would go upstream.
  RequestParser again;
  again.header_limit(kMaxRequestHeaderBytes + 4096);
  again.body_limit(boost::none);
  boost::beast::error_code ec2;
  const std::size_t used = sluice_fuzz::feed_head(again, *serialized, 0, ec2);
  FUZZ_CHECK(again.is_header_done());
  FUZZ_CHECK(used == serialized->size());
  FUZZ_CHECK(!ec2 || ec2 == http::error::need_buffer);
  const auto& h2 = again.get();
  FUZZ_CHECK(h2.method_string() == head.method_string());
  FUZZ_CHECK(h2.target() == expected_target);
  FUZZ_CHECK(h2.version() == 11);

  // Host: exactly one, the chosen one.
  FUZZ_CHECK(h2.count(http::field::host) == 1);
  FUZZ_CHECK(h2.find(http::field::host)->value() == expected_host);

  // Framing.
  const bool te = h2.find(http::field::transfer_encoding) != h2.end();
  const std::size_t cl_lines = h2.count(http::field::content_length);
  if (out.content_length == sluice::kUnknownLength) {
    FUZZ_CHECK(te && again.chunked() && cl_lines == 0);
    FUZZ_CHECK(h2.count(http::field::transfer_encoding) == 1);
    FUZZ_CHECK(h2.find(http::field::transfer_encoding)->value() == "chunked");
  } else {
    FUZZ_CHECK(!te && !again.chunked());
    if (out.content_length > 0) {
      FUZZ_CHECK(cl_lines == 1);
      FUZZ_CHECK(again.content_length() &&
                 *again.content_length() == static_cast<std::uint64_t>(out.content_length));
    } else {
      FUZZ_CHECK(cl_lines == (method_has_body(out.method) ? 1u : 0u));
      FUZZ_CHECK(again.content_length().value_or(0) == 0);
    }
  }
  // Body length as the upstream will frame it = body length as the client framed it.
  if (!parser.chunked()) {
    FUZZ_CHECK(again.content_length().value_or(0) == length.value_or(0));
  }

  // Fields: the end-to-end fields of the client's head (hop-by-hop, Connection-named, Host and
  // framing fields removed; values sluice refuses to write dropped), value for value.
  const std::set<std::string> named = list_tokens(in.header, "Connection");
  FieldMap expected;
  for (const auto& f : head) {
    const std::string name = lower(f.name_string());
    if (name == "host" || name == "content-length" || name == "transfer-encoding") continue;
    if (kHop.count(name) || named.count(name)) continue;
    if (!sluice::is_token(f.name_string()) || !sluice::is_field_value(f.value())) continue;
    expected[name].emplace_back(f.value());
  }
  FieldMap got;
  for (const auto& f : h2) {
    FUZZ_CHECK(!sluice_fuzz::has_ctl_crlf_nul(f.name_string()));
    FUZZ_CHECK(!sluice_fuzz::has_ctl_crlf_nul(f.value()));
    FUZZ_CHECK(sluice::is_token(f.name_string()));
    const std::string name = lower(f.name_string());
    if (name == "host" || name == "content-length" || name == "transfer-encoding") continue;
    FUZZ_CHECK(kHop.count(name) == 0);
    FUZZ_CHECK(named.count(name) == 0);
    got[name].emplace_back(f.value());
  }
  FUZZ_CHECK(got == expected);
  return 0;
}
