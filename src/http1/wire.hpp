#pragma once
// HTTP/1.1 wire text, written once for both sides: status lines, field lines, chunk sizes, and
// the comma-separated lists that several fields carry. Whatever a hook put in a Request or a
// Response, nothing written here can split or reframe a head (RFC 9110 §5.5, §5.6.2).
#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

#include "sluice/message.hpp"

namespace sluice::http1 {

// ASCII case-insensitive equality (field names, tokens, codings).
bool iequals(std::string_view a, std::string_view b);

// Optional whitespace (RFC 9110 §5.6.3: SP, HTAB) trimmed from both ends.
std::string_view trim_ows(std::string_view s);

// A list element's surroundings trimmed: OWS, and CR and LF too, as Go's textproto.TrimString
// does (a value a hook set may hold them; a parsed one cannot).
std::string_view trim_element(std::string_view s);

// Calls f(element) for each non-empty, trimmed element of a comma-separated field value
// (RFC 9110 §5.6.1: recipients ignore empty list elements). Bounded by the value's length.
template <typename F>
void for_each_list_element(std::string_view value, F&& f) {
  std::size_t pos = 0;
  while (pos <= value.size()) {
    const std::size_t comma = value.find(',', pos);
    const std::size_t end = comma == std::string_view::npos ? value.size() : comma;
    const std::string_view element = trim_element(value.substr(pos, end - pos));
    if (!element.empty()) f(element);
    pos = end + 1;
  }
}

// "HTTP/1.1 <status> <phrase>\r\n". As Go's server: the standard phrase of the status, so a
// status a hook changed never carries a stale phrase; `fallback` only for codes without one
// (when it is a valid field value), else "Unknown".
void append_status_line(std::string& out, unsigned status, std::string_view fallback = {});

// "name: value\r\n" for every field except those named in `skip` (the framing fields the writer
// decides itself) and those that could break the head: a name that is not a token, a value with
// CR, LF or another CTL.
void append_fields(std::string& out, const Fields& fields,
                   std::initializer_list<boost::beast::http::field> skip);

// Lower-case hexadecimal, as a chunk size.
void append_hex(std::string& out, std::size_t n);

}  // namespace sluice::http1
