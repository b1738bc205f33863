#pragma once
// Why a proxied request failed: the error codes handed to `error_handler` and written to the log.
#include <system_error>

namespace sluice {

enum class errc {
  no_route = 1,             // neither or both of rewrite/director set (SPEC 8), or no upstream host
  upstream_connect_failed,  // refused, unreachable, name not resolved
  upstream_connect_timeout,  // connect did not finish within connect_timeout (-> 504)
  upstream_header_timeout,   // no complete response head within response_header_timeout (-> 504)
  upstream_closed,           // the upstream closed or reset before the response was complete
  upstream_bad_response,     // the upstream sent something that is not a valid HTTP/1 response head
  upstream_write_failed,     // sending the request (head or body) upstream failed
  upstream_protocol_switch,  // a 101 to another protocol than the client asked for (SPEC 36)
  invalid_upgrade_protocol,  // the client asked to upgrade to a non-printable protocol (SPEC 5)
  client_gone,               // the client went away before the response could be sent
  client_body_failed,        // reading the request body from the client failed mid-way
  client_body_invalid,       // the request body's framing is malformed (SPEC R17-R21) -> 400
  client_body_too_large,     // the request body grew past ServerOptions::max_body_bytes -> 413
  modify_response_failed,    // modify_response returned an error or threw (SPEC 32)
  hook_threw,                // rewrite/director threw
  upstream_idle_timeout,  // no upstream byte within idle_read_timeout (-> 504 if nothing was sent)
  upstream_body_invalid,  // the upstream's body framing is malformed (SPEC R37)
  no_upstream_available,  // every server of the upstream pool is down, ejected or at its limit
  encoder_failed,         // the compression library failed (ReverseProxy::compress); cut
};

const std::error_category& error_category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), error_category()}; }

// The default error handler's status for an error: 504 for the upstream timeouts (connect,
// response head, idle), else 502 (SPEC 30).
unsigned default_error_status(std::error_code ec);

}  // namespace sluice

template <>
struct std::is_error_code_enum<sluice::errc> : std::true_type {};
