#pragma once
// Strict RFC 9112 checks on an upstream response head (SPEC 23, K: R40-R43), on top of what
// Boost.Beast 1.81's parser enforces. Beast accepts (measured): obs-fold (joined into one value),
// two identical Content-Length lines or a "5, 5" list, Transfer-Encoding with an unknown coding
// next to Content-Length (framed by Content-Length), a Transfer-Encoding whose last coding is
// not chunked (read until close), an empty Transfer-Encoding, and status codes below 100. Each
// of these is a response sluice refuses: 502, and the upstream connection is closed.
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <string_view>

namespace sluice {

enum class ResponseDefect {
  none = 0,
  bad_status_line,           // not "HTTP/1.x SP 3DIGIT SP reason", or a status code below 100
  obs_fold,                  // a field line that starts with SP or HTAB (RFC 9112 §5.2)
  bad_field_line,            // no colon, an empty name, a name that is not a token ("X-A : b")
  bad_content_length,        // a Content-Length value that is not 1*DIGIT (RFC 9110 §8.6)
  duplicate_content_length,  // more than one Content-Length line, or a list (RFC 9112 §6.3#5)
  transfer_encoding_with_content_length,  // RFC 9112 §6.1 / §6.3#3: smuggling-shaped
  unsupported_transfer_encoding,          // anything but exactly one "chunked" (as Go's transport)
  transfer_encoding_in_http10,            // RFC 9112 §6.1: framing is faulty
};

std::string_view to_string(ResponseDefect defect);

// `raw_head`: the bytes of the head exactly as received (status line through the empty line),
// `head`: what Beast parsed from them. Applies to every head, 1xx included.
ResponseDefect validate_response_head(
    std::string_view raw_head,
    const boost::beast::http::header<false, boost::beast::http::fields>& head);

}  // namespace sluice
