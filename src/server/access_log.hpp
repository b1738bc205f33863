#pragma once
// The access log: one line per request, refused ones included, as text (the default) or as one
// JSON object per line (--access-log json). Formatting only: the session fills an AccessEntry
// and hands the line to write_log_line (which never blocks).
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::detail {

struct AccessEntry {
  std::chrono::system_clock::time_point time;  // when the response ended (the line is written)
  boost::asio::ip::tcp::endpoint client;
  // As received. A refused request may have none ("-" in text, "" in JSON) or bytes that are
  // not UTF-8: both formats escape what they cannot print.
  std::string_view method;
  std::string_view target;
  std::string_view protocol;         // "HTTP/1.1", "HTTP/1.0"
  unsigned status = 0;               // 0: no response was sent (the client left first)
  std::uint64_t bytes_sent = 0;      // response body bytes
  std::uint64_t bytes_received = 0;  // request body bytes
  std::string_view route;     // "" when no route took the request (refused, non-proxy handler)
  std::string_view upstream;  // the upstream (pool) name, "" when none
  std::string_view server;    // the upstream server's URL, "" when none was reached
  std::optional<std::chrono::nanoseconds> upstream_connect;     // absent: reused or none
  std::optional<std::chrono::nanoseconds> upstream_first_byte;  // request sent -> head read
  std::optional<std::chrono::nanoseconds> upstream_total;       // request sent -> body ended
  // Head read -> response ended; for a refused request, from the start of the wait for its
  // head (on a keep-alive connection that includes the wait for the client's next request).
  std::chrono::nanoseconds total{0};
  // How the response ended: "complete", "truncated", "client_gone", "error_response",
  // "shutdown", "upgraded", "refused", "aborted".
  std::string_view ending;
  // What went wrong, "" when nothing did, e.g. "upstream connect failed
  // [http://127.0.0.1:9]: connect 127.0.0.1:9: Connection refused".
  std::string_view error;
  std::string_view refused;   // why the server refused it before any handler ran, or ""
  std::uint32_t flushes = 0;  // client writes that carried bytes of this response
};

// Today's text line, extended:
//   127.0.0.1 "GET /x HTTP/1.1" 200 13 upstream=0.4ms total=0.6ms
//   127.0.0.1 "- - -" 408 0 upstream=- total=10000.0ms refused="request head not received in time"
// then ` ending=<ending>` unless complete, and ` error="..."` when error is set.
std::string format_text(const AccessEntry& e);

// One JSON object, no newline: keys time (RFC 3339 UTC with microseconds,
// "2026-12-06T12:40:26.123456Z"), client ("127.0.0.1:53412", "[::1]:53412"), method, target,
// protocol, status, bytes_sent, bytes_received, route, upstream, server, upstream_connect_ms,
// upstream_first_byte_ms, upstream_total_ms (null when absent), total_ms (numbers with 3 decimals),
// ending, error, refused, flushes.
std::string format_json(const AccessEntry& e);

}  // namespace sluice::detail
