#include "server/access_log.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <initializer_list>

namespace sluice::detail {

namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

// What a line needs besides its strings: punctuation, keys, and the widest value of every
// number, address and time, with room to spare. With the strings' escaped sizes added, the one
// reserve() of each format covers the whole line.
constexpr std::size_t kTextFixed = 256;
constexpr std::size_t kJsonFixed = 640;

constexpr char kHex[] = "0123456789abcdef";

// Text: the request's bytes are untrusted, and one request must stay one line that splits on
// its quotes. Printable ASCII stays; '"', '\' and everything else become \xNN.
bool text_plain(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

std::size_t text_size(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s)
    n += text_plain(static_cast<unsigned char>(c)) ? 1u : 4u;
  return n;
}

void append_text(std::string& out, std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (text_plain(u)) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
}

void append_text_or_dash(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += '-';
  } else {
    append_text(out, s);
  }
}

// JSON (RFC 8259 §7): '"', '\' and control characters must be escaped. Bytes from 0x7f up are
// escaped too, as \u00XX (the byte read as Latin-1): the input need not be UTF-8, and the line
// must be valid JSON, and ASCII, whatever came in.
std::size_t json_size(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      n += (c == '"' || c == '\\') ? 2u : 1u;
    } else {
      n += (c == '\n' || c == '\r' || c == '\t') ? 2u : 6u;
    }
  }
  return n;
}

void append_json(std::string& out, std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
}

// "key":"value" after a comma (or after '{' for the first key, which writes its own).
void append_json_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json(out, value);
  out += '"';
}

template <class Integer>
void append_number(std::string& out, Integer n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

template <class Integer>
void append_json_number(std::string& out, std::string_view key, Integer n) {
  out += ",\"";
  out += key;
  out += "\":";
  append_number(out, n);
}

// Milliseconds with `decimals` digits (1 or 3), truncated to the microsecond like today's
// format_ms (src/server/session.cpp).
void append_ms(std::string& out, nanoseconds d, int decimals) {
  const auto us = std::chrono::duration_cast<microseconds>(d).count();
  const std::uint64_t magnitude =
      us < 0 ? 0 - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
  if (us < 0) out += '-';
  append_number(out, magnitude / 1000);
  out += '.';
  const std::uint64_t fraction = magnitude % 1000;
  if (decimals == 1) {
    out += static_cast<char>('0' + fraction / 100);
  } else {
    out += static_cast<char>('0' + fraction / 100);
    out += static_cast<char>('0' + fraction / 10 % 10);
    out += static_cast<char>('0' + fraction % 10);
  }
}

void append_json_ms(std::string& out, std::string_view key, const std::optional<nanoseconds>& d) {
  out += ",\"";
  out += key;
  out += "\":";
  if (d) {
    append_ms(out, *d, 3);
  } else {
    out += "null";
  }
}

// The address alone, formatted into the line (address::to_string() would allocate a string of
// its own). A scope id prints as its number: "fe80::1%2".
void append_address(std::string& out, const boost::asio::ip::address& a) {
  char buf[INET6_ADDRSTRLEN];
  if (a.is_v4()) {
    const auto bytes = a.to_v4().to_bytes();
    if (::inet_ntop(AF_INET, bytes.data(), buf, sizeof buf) != nullptr) out += buf;
    return;
  }
  const auto v6 = a.to_v6();
  const auto bytes = v6.to_bytes();
  if (::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) != nullptr) out += buf;
  if (v6.scope_id() != 0) {
    out += '%';
    append_number(out, v6.scope_id());
  }
}

// RFC 3339, UTC, microseconds: "2026-12-06T12:40:26.123456Z".
void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = floor<microseconds>(t);
  const auto day = floor<days>(us);
  const year_month_day date{day};
  const hh_mm_ss time{us - day};
  char buf[48];
  const int n = std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
      static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
  if (n > 0) out.append(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

std::size_t strings_size(std::size_t (*size)(std::string_view),
                         std::initializer_list<std::string_view> strings) {
  std::size_t n = 0;
  for (const auto s : strings)
    n += size(s);
  return n;
}

}  // namespace

std::string format_text(const AccessEntry& e) {
  std::string out;
  out.reserve(kTextFixed + strings_size(text_size, {e.method, e.target, e.protocol, e.ending,
                                                    e.error, e.refused}));
  append_address(out, e.client.address());
  out += " \"";
  append_text_or_dash(out, e.method);
  out += ' ';
  append_text_or_dash(out, e.target);
  out += ' ';
  append_text_or_dash(out, e.protocol);
  out += "\" ";
  append_number(out, e.status);
  out += ' ';
  append_number(out, e.bytes_sent);
  // Today's "upstream=" was request sent -> response head read: the first-byte time.
  out += " upstream=";
  if (e.upstream_first_byte) {
    append_ms(out, *e.upstream_first_byte, 1);
    out += "ms";
  } else {
    out += '-';
  }
  out += " total=";
  append_ms(out, e.total, 1);
  out += "ms";
  if (!e.refused.empty()) {
    out += " refused=\"";
    append_text(out, e.refused);
    out += '"';
  }
  // "refused" already says itself through refused="..."; "complete" is the usual case.
  if (!e.ending.empty() && e.ending != "complete" && e.ending != "refused") {
    out += " ending=";
    append_text(out, e.ending);
  }
  if (!e.error.empty()) {
    out += " error=\"";
    append_text(out, e.error);
    out += '"';
  }
  return out;
}

std::string format_json(const AccessEntry& e) {
  std::string out;
  out.reserve(kJsonFixed +
              strings_size(json_size, {e.method, e.target, e.protocol, e.route, e.upstream,
                                       e.server, e.ending, e.error, e.refused}));
  out += "{\"time\":\"";
  append_time(out, e.time);
  out += "\",\"client\":\"";
  const auto address = e.client.address();
  if (address.is_v6()) out += '[';
  append_address(out, address);
  if (address.is_v6()) out += ']';
  out += ':';
  append_number(out, e.client.port());
  out += '"';
  append_json_field(out, "method", e.method);
  append_json_field(out, "target", e.target);
  append_json_field(out, "protocol", e.protocol);
  append_json_number(out, "status", e.status);
  append_json_number(out, "bytes_sent", e.bytes_sent);
  append_json_number(out, "bytes_received", e.bytes_received);
  append_json_field(out, "route", e.route);
  append_json_field(out, "upstream", e.upstream);
  append_json_field(out, "server", e.server);
  append_json_ms(out, "upstream_connect_ms", e.upstream_connect);
  append_json_ms(out, "upstream_first_byte_ms", e.upstream_first_byte);
  append_json_ms(out, "upstream_total_ms", e.upstream_total);
  append_json_ms(out, "total_ms", e.total);
  append_json_field(out, "ending", e.ending);
  append_json_field(out, "error", e.error);
  append_json_field(out, "refused", e.refused);
  append_json_number(out, "flushes", e.flushes);
  out += '}';
  return out;
}

}  // namespace sluice::detail
