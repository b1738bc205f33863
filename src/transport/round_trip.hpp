#pragma once
// One request sent upstream over HTTP/1.1 and its response head read back (Go's
// Transport.RoundTrip): checkout or connect, write the head and stream the body, read the head
// (passing 1xx on, SPEC 23; validating it, R40-R43), and the single safe retry of SPEC L6.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/message.hpp"
#include "sluice/transport.hpp"
#include "transport/connection_pool.hpp"

namespace sluice {

// The request head as sent upstream: HTTP/1.1, Host first, then out.header minus the framing
// fields, then the framing sluice chose (SPEC 14): Content-Length n, chunked for unknown length,
// "Content-Length: 0" only for methods that carry a body (POST, PUT, PATCH). Fields whose name
// is not a token or whose value has a CTL are dropped; an invalid method, target or Host makes
// the whole request invalid (nullopt): never a head a hook could have split or reframed.
std::optional<std::string> serialize_request_head(const Request& out);

// The pool key of a request's upstream: connections to other keys are never used for it.
// Scheme, host and port, and for https the SNI name, so that a cleartext and a TLS connection
// to one address never mix. `tls`: the transport's (null: no https upstream).
std::string pool_key(const Request& out, const UpstreamTls* tls = nullptr);

// `fresh`: a connection just made for this request (the auto transport's, on which the server
// chose http/1.1), used first instead of a pooled one, as a new connection (no L6 retry for it),
// with `fresh_connect_time` as its connect time.
boost::asio::awaitable<UpstreamResponse> round_trip_http1(
    RoundTripRequest request, ConnectionPool& pool,
    std::unique_ptr<UpstreamConnection> fresh = nullptr,
    std::chrono::nanoseconds fresh_connect_time = {});

// RFC 9110 §9.2.2: a request that may be sent twice without harm (the stale-connection retry
// here, and the balancing transport's retries on another server).
bool idempotent(std::string_view method);

}  // namespace sluice
