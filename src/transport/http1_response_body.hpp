#pragma once
// The body of one HTTP/1 response, read from its pooled connection (ResponseBody, SPEC 19, 21,
// 33, R37, R44, L6). Bytes are parsed out of the connection's read buffer; once a
// Content-Length body has nothing left buffered, the rest is read straight into the caller's
// buffer (bounded by what remains, so nothing past the body is ever read), or moved by the
// kernel (SpliceSource).
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <optional>

#include "net/splice.hpp"
#include "sluice/transport.hpp"
#include "transport/connection_pool.hpp"

namespace sluice {

using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

class Http1ResponseBody final : public ResponseBody, public detail::SpliceSource {
 public:
  // The round trip fills it: the lease of the connection, the parser (a fresh one per 1xx),
  // then start() once the final head is parsed.
  Http1ResponseBody() = default;
  ~Http1ResponseBody() override;
  Lease& lease() { return lease_; }
  std::optional<ResponseParser>& parser() { return parser_; }
  // The upstream answered before the request body was all sent: never reused.
  void set_request_incomplete() { request_incomplete_ = true; }
  // The final head is parsed; the body follows.
  void start();

  std::size_t read_some(boost::asio::mutable_buffer into, std::error_code& ec) override;
  std::size_t buffered_bytes() const override;
  bool done() const override;
  Fields trailers() override;
  void finish(bool reusable) override;
  detail::SpliceSource* splice_source() override;
  Upgraded upgraded() override;

  // SpliceSource
  int fd() const override;
  std::uint64_t remaining() const override { return remaining_; }
  void consumed(std::uint64_t n) override;
  ByteStream& stream() override { return *lease_.conn().stream; }

 protected:
  void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) override;

 private:
  // Parses buffered bytes into `into`: the body bytes it produced.
  std::size_t parse_into(boost::asio::mutable_buffer into, std::error_code& ec);
  // After bytes were read (or eof): the body bytes `into` now holds.
  std::size_t after_read(boost::asio::mutable_buffer into, boost::system::error_code rec,
                         std::size_t n, std::error_code& ec);
  // Room for the next raw read into the connection's buffer.
  boost::asio::mutable_buffer raw_room();
  UpstreamConnection& conn() { return lease_.conn(); }

  Lease lease_;
  std::optional<ResponseParser> parser_;
  bool request_incomplete_ = false;
  bool direct_ = false;          // the rest of a Content-Length body is read unparsed
  std::uint64_t remaining_ = 0;  // ... this much of it
  bool finished_ = false;
};

}  // namespace sluice
