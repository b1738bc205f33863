#pragma once
// The Request a handler sees, built from a parsed request head (shared by the session and the
// request-head fuzz target, which checks what the proxy re-serializes from it).
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "sluice/message.hpp"

namespace sluice::detail {

// Method, version, target (absolute-form authority replaces Host, RFC 9112 §3.2.2), every field
// but Host, and the body length (-1 for chunked). Call once the head is parsed and validated.
Request request_from_parser(
    const boost::beast::http::request_parser<boost::beast::http::buffer_body>& parser,
    const boost::asio::ip::tcp::endpoint& remote);

}  // namespace sluice::detail
