#pragma once
// URLs as a reverse proxy needs them: an upstream target parsed once, and request targets kept in
// their escaped (wire) form so that joins never decode `%2F` (SPEC 10).
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct Url {
  std::string scheme;     // "http" or "https" (lower-cased)
  std::string host;       // "127.0.0.1", "example.com" or "[::1]" (brackets kept for IPv6)
  std::string port;       // "9000", or "" when the URL names none
  std::string raw_path;   // escaped path as written, e.g. "/base/a%2Fb" (may be "")
  std::string raw_query;  // without the '?', escaped as written (may be "")

  // Parses an absolute http or https URL ("https://host[:port][/path][?query]"). A fragment is
  // dropped. Returns nullopt for anything else (no scheme, another scheme, empty host, bad port).
  static std::optional<Url> parse(std::string_view text);

  // "host:port" when a port is given, else "host": the value for a Host header.
  std::string authority() const;
  // "http://10.0.0.7:9000": scheme and authority, how logs, metrics and the pools name a server.
  std::string origin() const;
  // The port to connect to: `port`, or "80" for http, "443" for https.
  std::string connect_port() const;
  // raw_path (or "/" when empty) plus "?raw_query" when the query is non-empty.
  std::string request_target() const;
};

// Splits a request-target (origin-form "/p?q", absolute-form "http://h/p?q", or "*") into its
// escaped path and query. For absolute-form the authority is returned too: a server must use
// it instead of the Host field (RFC 9112 §3.2.2).
struct Target {
  std::string raw_path;
  std::string raw_query;
  std::string authority;  // absolute-form only, else ""
};
Target parse_target(std::string_view target);

// Go's singleJoiningSlash: a + b with exactly one '/' at the junction
// ("/base"+"/dir" -> "/base/dir", "/base/"+"/dir" -> "/base/dir", ""+"x" -> "/x", "host"+"" ->
// "host/").
std::string single_joining_slash(std::string_view a, std::string_view b);

// SPEC 11: target query and request query joined with '&' when both are non-empty, else the
// non-empty one.
std::string merge_query(std::string_view target_query, std::string_view request_query);

// SPEC 12: a raw query containing ';' or a malformed %-escape is re-encoded to its parsable subset
// (Go's url.ParseQuery + Values.Encode: keys sorted, values in order); any other query is returned
// unchanged, byte for byte. "a=1&a=2;b=3" -> "a=1", "a=1&a=%zz&b=3" -> "a=1&b=3".
std::string clean_query(std::string_view raw_query);

}  // namespace sluice
