#include "http1/wire.hpp"

#include <boost/beast/http/status.hpp>

#include "common/http_syntax.hpp"

namespace sluice::http1 {

namespace http = boost::beast::http;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string_view trim_element(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

void append_status_line(std::string& out, unsigned status, std::string_view fallback) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  const auto known = http::obsolete_reason(static_cast<http::status>(status));
  const std::string_view standard =
      status == 103 ? std::string_view("Early Hints")  // not in Beast 1.81's table
                    : std::string_view(known.data(), known.size());
  if (standard != "<unknown-status>") {
    out += standard;
  } else if (!fallback.empty() && is_field_value(fallback)) {
    out += fallback;
  } else {
    out += "Unknown";
  }
  out += "\r\n";
}

void append_fields(std::string& out, const Fields& fields,
                   std::initializer_list<http::field> skip) {
  for (const auto& f : fields) {
    bool skipped = false;
    for (const auto name : skip)
      skipped = skipped || f.name() == name;
    if (skipped || !is_token(f.name_string()) || !is_field_value(f.value())) continue;
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
}

void append_hex(std::string& out, std::size_t n) {
  char digits[2 * sizeof(std::size_t)];
  int len = 0;
  do {
    digits[len++] = "0123456789abcdef"[n & 0xf];
    n >>= 4;
  } while (n != 0);
  while (len > 0)
    out.push_back(digits[--len]);
}

}  // namespace sluice::http1
