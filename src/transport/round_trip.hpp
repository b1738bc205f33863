#pragma once
// One request sent upstream and its response head read back (Go's Transport.RoundTrip):
// checkout or connect, write head and stream the body, read the head (forwarding 1xx, SPEC 23;
// validating the head, R40-R43), and the
// single safe retry of SPEC L6.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <system_error>

#include "sluice/exchange.hpp"
#include "sluice/message.hpp"
#include "sluice/reverse_proxy.hpp"
#include "transport/connection_pool.hpp"

namespace sluice {

using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

struct RoundTrip {
  std::error_code ec;                   // set when no response head was obtained
  Lease lease;                          // the connection the response arrives on
  std::optional<ResponseParser> parser;  // head parsed; the body is still to be read from it
  bool request_incomplete = false;      // the upstream answered before the body was all sent
};

// The request head as sent upstream: HTTP/1.1, Host first, then out.header minus the framing
// fields, then the framing sluice chose (SPEC 14): Content-Length n, chunked for unknown length,
// "Content-Length: 0" only for methods that carry a body (POST, PUT, PATCH). Fields whose name
// is not a token or whose value has a CTL are dropped; an invalid method, target or Host makes
// the whole request invalid (nullopt): never a head a hook could have split or reframed.
std::optional<std::string> serialize_request_head(const Request& out);

boost::asio::awaitable<void> round_trip(Exchange& ex, const Request& out, ConnectionPool& pool,
                                        const TransportOptions& options, RoundTrip& result);

}  // namespace sluice
