#pragma once
// The HTTP/1.1 Exchange: one request and its response on a client connection (SPEC 14, 19, 21,
// 22, 23, 33, 34, 36). The response is framed toward the client here: a known length goes out
// with Content-Length; an unknown length is chunked to HTTP/1.1 clients and close-delimited to
// HTTP/1.0 clients; HEAD, 1xx, 204 and 304 carry no body. Output is held in one buffer
// (kOutputBufferBytes) that `flush` empties; a body write that would overflow it goes out at
// once together with what is held, in one gathered write, without being copied.
#include <boost/beast/core/error.hpp>
#include <functional>
#include <span>

#include "net/splice.hpp"
#include "server/session_io.hpp"
#include "sluice/exchange.hpp"

namespace sluice::detail {

class Http1Exchange final : public Exchange, public SpliceSink {
 public:
  static constexpr std::size_t kOutputBufferBytes = 16 * 1024;
  // What a response's buffer starts with: enough for a typical head and a small body, so a
  // small response allocates once; it grows up to kOutputBufferBytes for buffered body bytes.
  static constexpr std::size_t kInitialOutputBytes = 1024;

  Http1Exchange(SessionIo& io, Request&& request);

  // RequestContext
  boost::asio::any_io_executor executor() const override;
  StopSignal& stop_signal() override { return io_.stop_signal; }
  bool server_stopping() const override { return io_.stopping; }
  bool client_watchable() const override;
  bool client_gone_now() override;

  // Exchange
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body(
      boost::asio::mutable_buffer buf) override;
  bool continue_sent() const override;
  void begin_response(const Response& res,
                      const std::vector<std::string>& trailer_names = {}) override;
  boost::asio::awaitable<std::error_code> write_body(boost::asio::const_buffer data) override;
  boost::asio::awaitable<std::error_code> flush() override;
  boost::asio::awaitable<std::error_code> end_response(const Fields* trailers = nullptr) override;
  void abort() override;
  void discard_response() override;
  boost::asio::awaitable<std::error_code> write_informational(unsigned status,
                                                              Fields fields) override;
  boost::asio::awaitable<Switched> switch_protocols(Response res) override;
  SpliceSink* splice_sink() override;

  // SpliceSink
  bool accepts_spliced_body() const override;
  boost::asio::awaitable<std::error_code> write_body_spliced(int pipe_fd, std::size_t n) override;

  // Whether the connection may serve another request after this exchange.
  bool keep_alive() const;

 protected:
  void start_wait_client(WaitHandler handler) override;

 private:
  // read_body with Beast's and the socket's own errors (read_body maps them to errc).
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body_raw(
      boost::asio::mutable_buffer buf);
  // The request body was read to its end (by the parser, or directly: read_body).
  bool request_body_read() const;
  boost::asio::awaitable<std::error_code> write_out(
      std::span<const boost::asio::const_buffer> extra = {});
  void append_head(const Response& res, const std::vector<std::string>& trailer_names);

  SessionIo& io_;
  std::string out_;
  enum class Framing { none, length, chunked, close_delimited } framing_ = Framing::none;
  bool continue_sent_ = false;
  bool last_chunk_seen_ = false;  // the request body's last chunk was parsed (SPEC R22)
  bool body_complete_ = false;    // ... and its unparsable trailer section dropped
  bool direct_ = false;           // the rest of a Content-Length body is read unparsed
  std::uint64_t direct_left_ = 0;
  std::function<void(std::uint64_t, std::string_view, boost::beast::error_code&)> last_chunk_hook_;
  bool upgraded_ = false;
  bool will_close_ = false;
  bool pipelined_ = false;
  std::int64_t declared_length_ = kUnknownLength;  // Framing::length: what Content-Length said
};

}  // namespace sluice::detail
