#pragma once
// Request and Response as the hooks see them: Go's http.Request / http.Response, reduced to what a
// proxy needs. Header fields live in a Beast `fields` container (case-insensitive, ordered,
// multi-valued). Host is kept out of `header`, as in Go: it is `Request::host`.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <cstdint>
#include <string>

#include "sluice/url.hpp"

namespace sluice {

using Fields = boost::beast::http::fields;

// Body length convention (Go's ContentLength): -1 unknown (chunked or close-delimited), 0 none, n
// bytes.
inline constexpr std::int64_t kUnknownLength = -1;

struct Request {
  std::string method;     // "GET"
  unsigned version = 11;  // 10 for HTTP/1.0, 11 for HTTP/1.1
  // Inbound: scheme is "" and url holds only raw_path/raw_query of the request-target.
  // Outbound: url.scheme/host/port name the upstream to connect to, raw_path/raw_query the target.
  Url url;
  // Inbound: the Host header. Outbound: the Host to send; "" means url.authority() (Go's req.Host).
  std::string host;
  Fields header;  // every field except Host
  std::int64_t content_length = 0;
  boost::asio::ip::tcp::endpoint remote;  // inbound only: the client's address
  bool tls = false;                       // inbound only: arrived over TLS
  // Director mode only: true suppresses the X-Forwarded-For append (Go: Header["X-Forwarded-For"] =
  // nil).
  bool omit_x_forwarded_for = false;
};

struct Response {
  unsigned status = 200;
  // As the upstream sent it. The client always gets the standard phrase of `status` (as from
  // Go's server); this is used only for status codes that have none.
  std::string reason;
  Fields header;
  std::int64_t content_length = kUnknownLength;
};

// A response the proxy (or a handler) produces itself, whole: error pages, local answers.
struct SimpleResponse {
  unsigned status = 502;
  Fields header;
  std::string body;
};

}  // namespace sluice
