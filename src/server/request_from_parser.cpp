#include "server/request_from_parser.hpp"

namespace sluice::detail {

namespace http = boost::beast::http;

Request request_from_parser(const http::request_parser<http::buffer_body>& parser,
                            const boost::asio::ip::tcp::endpoint& remote) {
  const auto& head = parser.get();
  Request req;
  req.method = std::string(head.method_string());
  req.version = head.version();
  Target target = parse_target(head.target());
  req.url.raw_path = std::move(target.raw_path);
  req.url.raw_query = std::move(target.raw_query);
  for (const auto& f : head) {
    if (f.name() == http::field::host) {
      if (req.host.empty()) req.host = std::string(f.value());
      continue;
    }
    req.header.insert(f.name_string(), f.value());
  }
  if (!target.authority.empty()) req.host = std::move(target.authority);  // RFC 9112 §3.2.2
  // The validator capped Content-Length at INT64_MAX, so the cast cannot wrap.
  req.content_length = parser.chunked()
                           ? kUnknownLength
                           : static_cast<std::int64_t>(parser.content_length().value_or(0));
  req.remote = remote;
  return req;
}

}  // namespace sluice::detail
