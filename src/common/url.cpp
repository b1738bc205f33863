#include "sluice/url.hpp"

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 3986 §2.3 unreserved.
bool is_unreserved(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
// RFC 3986 §2.2 sub-delims.
bool is_sub_delim(char c) {
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=': return true;
    default: return false;
  }
}

// True when s[i] starts a well-formed "%XX" escape.
bool valid_escape_at(std::string_view s, std::size_t i) {
  return i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2]);
}

// RFC 3986 §3.2.2 reg-name (or an IPv4 literal, which is a subset): unreserved / pct-encoded /
// sub-delims. Anything else (spaces, CTLs, non-ASCII) would corrupt the Host header; excluding '@'
// also refuses userinfo rather than silently dropping it, as sluice has nowhere to put credentials.
bool valid_reg_name(std::string_view host) {
  for (std::size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (c == '%') {
      if (!valid_escape_at(host, i)) return false;
      i += 2;
    } else if (!is_unreserved(c) && !is_sub_delim(c)) {
      return false;
    }
  }
  return true;
}

// "[...]" IP-literal (RFC 3986 §3.2.2). A light syntactic check: hex digits, ':' and '.' (for an
// embedded IPv4 tail), at least one ':'. Zone identifiers (RFC 6874) are not supported.
bool valid_ip_literal(std::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  const std::string_view inner = host.substr(1, host.size() - 2);
  if (inner.find(':') == std::string_view::npos) return false;
  return std::all_of(inner.begin(), inner.end(),
                     [](char c) { return is_hex(c) || c == ':' || c == '.'; });
}

// RFC 3986 §3.3 path-abempty: "/" and pchar (unreserved / pct-encoded / sub-delims / ":" / "@").
// The raw path goes on the request line verbatim (SPEC 10 keeps escapes), so it must be valid.
bool valid_raw_path(std::string_view path) {
  if (path.empty()) return true;
  if (path.front() != '/') return false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      if (!valid_escape_at(path, i)) return false;
      i += 2;
    } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':' && c != '@' && c != '/') {
      return false;
    }
  }
  return true;
}

// The query is forwarded verbatim, as Go does with RawQuery; only bytes that cannot appear on a
// request line (CTLs, space, DEL, non-ASCII) are refused. Bad %-escapes are allowed here: SPEC 12
// deals with them per request.
bool valid_raw_query(std::string_view query) {
  return std::all_of(query.begin(), query.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

// port = *DIGIT (RFC 3986 §3.2.3); a non-empty port must name a TCP port, 1-65535. Returned
// normalised (no leading zeros) so that Host and the connect target agree.
std::optional<std::string> parse_port(std::string_view text) {
  if (text.empty()) return std::string{};  // "host:" means the default port (RFC 3986 §6.2.3)
  if (text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return std::to_string(value);
}

// Go's url.QueryUnescape: "%XX" decoded, '+' becomes ' '. nullopt on a malformed escape.
std::optional<std::string> query_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (!valid_escape_at(s, i)) return std::nullopt;
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else if (c == '+') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Go's url.QueryEscape: unreserved bytes kept, ' ' -> '+', everything else %XX (upper-case hex).
void append_query_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : s) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0f]);
    }
  }
}

// Go's url.ParseQuery (1.17+) followed by url.Values.Encode. Pairs are split on '&' only; a pair
// holding a ';' is dropped, as is a pair whose key or value does not unescape. Keys come out sorted
// (byte order, like Go's sort of strings), each key's values in their original order.
std::string reencode_query(std::string_view raw) {
  std::map<std::string, std::vector<std::string>> values;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    const std::size_t amp = raw.find('&', pos);
    const std::size_t end = amp == std::string_view::npos ? raw.size() : amp;
    const std::string_view pair = raw.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto key = query_unescape(raw_key);
    if (!key) continue;
    auto value = query_unescape(raw_value);
    if (!value) continue;
    values[std::move(*key)].push_back(std::move(*value));
  }
  std::string out;
  for (const auto& [key, list] : values) {
    for (const auto& value : list) {
      if (!out.empty()) out.push_back('&');
      append_query_escaped(out, key);
      out.push_back('=');
      append_query_escaped(out, value);
    }
  }
  return out;
}

}  // namespace

std::optional<Url> Url::parse(std::string_view text) {
  // A fragment never reaches the upstream (RFC 9110 §4.2.1 / Go's url.Parse cuts it first).
  if (const std::size_t hash = text.find('#'); hash != std::string_view::npos) {
    text = text.substr(0, hash);
  }
  // scheme "://": http, or https (TLS to the upstream).
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string scheme;
  for (const char c : text.substr(0, colon))
    scheme.push_back(to_lower(c));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(colon + 1);
  if (rest.substr(0, 2) != "//") return std::nullopt;
  rest.remove_prefix(2);

  // As in Go, the query is split off first, then the authority ends at the first '/'.
  std::string_view query;
  bool has_query = false;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    has_query = true;
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

  std::string_view host = authority;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
      has_port = true;
    }
    if (!valid_ip_literal(host)) return std::nullopt;
  } else {
    if (const std::size_t c = authority.rfind(':'); c != std::string_view::npos) {
      host = authority.substr(0, c);
      port_text = authority.substr(c + 1);
      has_port = true;
    }
    if (!valid_reg_name(host)) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;

  Url url;
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) return std::nullopt;
    url.port = std::move(*port);
  }
  if (!valid_raw_path(path)) return std::nullopt;
  if (has_query && !valid_raw_query(query)) return std::nullopt;

  url.scheme = std::move(scheme);
  url.host = std::string(host);
  url.raw_path = std::string(path);
  url.raw_query = std::string(query);
  return url;
}

std::string Url::authority() const { return port.empty() ? host : host + ":" + port; }

std::string Url::origin() const {
  std::string out = scheme;
  out.append("://").append(authority());
  return out;
}

std::string Url::connect_port() const {
  if (!port.empty()) return port;
  return scheme == "https" ? std::string("443") : std::string("80");
}

std::string Url::request_target() const {
  std::string target = raw_path.empty() ? std::string("/") : raw_path;
  if (!raw_query.empty()) {
    target.push_back('?');
    target += raw_query;
  }
  return target;
}

Target parse_target(std::string_view target) {
  if (target == "*") return Target{"*", "", {}};  // asterisk-form (RFC 9112 §3.2.4), OPTIONS only

  // The query starts at the first '?' in every form (RFC 3986 §3.4).
  std::string_view path = target;
  std::string_view query;
  if (const std::size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  // absolute-form (RFC 9112 §3.2.2): "scheme://authority[/path]"; only path and query are kept.
  if (path.empty() || path.front() != '/') {
    const std::size_t sep = path.find("://");
    if (sep != std::string_view::npos && sep > 0 &&
        std::all_of(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(sep), [](char c) {
          return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
        })) {
      const std::string_view after = path.substr(sep + 3);
      const std::size_t slash = after.find('/');
      path = slash == std::string_view::npos ? std::string_view{} : after.substr(slash);
      // RFC 9112 §3.2.2: the target's authority replaces the Host field.
      return Target{std::string(path), std::string(query), std::string(after.substr(0, slash))};
    }
  }
  return Target{std::string(path), std::string(query), {}};
}

std::string single_joining_slash(std::string_view a, std::string_view b) {
  const bool a_slash = !a.empty() && a.back() == '/';
  const bool b_slash = !b.empty() && b.front() == '/';
  std::string out(a);
  if (a_slash && b_slash) {
    out.append(b.substr(1));
  } else if (!a_slash && !b_slash) {
    out.push_back('/');
    out.append(b);
  } else {
    out.append(b);
  }
  return out;
}

std::string merge_query(std::string_view target_query, std::string_view request_query) {
  std::string out(target_query);
  if (!target_query.empty() && !request_query.empty()) out.push_back('&');
  out.append(request_query);
  return out;
}

std::string clean_query(std::string_view raw_query) {
  // Go's cleanQueryParams: only a query the backend might parse differently from us (';' as a
  // separator, or an escape that does not decode) is rewritten; any other is kept byte for byte.
  for (std::size_t i = 0; i < raw_query.size();) {
    const char c = raw_query[i];
    if (c == ';') return reencode_query(raw_query);
    if (c == '%') {
      if (!valid_escape_at(raw_query, i)) return reencode_query(raw_query);
      i += 3;
    } else {
      ++i;
    }
  }
  return std::string(raw_query);
}

}  // namespace sluice
