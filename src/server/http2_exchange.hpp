#pragma once
// The HTTP/2 Exchange: one stream's request and response (SPEC, per stream). The response head
// goes out as HEADERS when the response is first flushed or ended; its body as DATA frames that
// nghttp2's data provider takes from the stream's buffer, as far as a flush released it and the
// client's windows allow. A flush returns once its bytes were written to the socket, or fails
// after write_timeout (the stream is then reset: a client that keeps a stream's window shut
// cannot pin it). A cut response is RST_STREAM(INTERNAL_ERROR), never a clean END_STREAM.
#include <memory>

#include "server/http2_connection.hpp"
#include "server/http2_stream.hpp"
#include "sluice/exchange.hpp"

namespace sluice::detail {

class Http2Exchange final : public Exchange {
 public:
  // Body bytes a stream holds before a write waits for them to go (as HTTP/1's output buffer).
  static constexpr std::size_t kOutputBufferBytes = 16 * 1024;

  Http2Exchange(Http2Connection& conn, std::shared_ptr<Http2Stream> stream, Request&& request);
  ~Http2Exchange() override;

  // RequestContext
  boost::asio::any_io_executor executor() const override;
  StopSignal& stop_signal() override { return conn_.io().stop_signal; }
  bool server_stopping() const override { return conn_.io().stopping; }
  bool client_watchable() const override { return true; }
  bool client_gone_now() override { return stream_->gone.fired(); }

  // Exchange
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body(
      boost::asio::mutable_buffer buf) override;
  bool continue_sent() const override { return continue_sent_; }
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

  // The connection's writer put a frame of this stream into a batch.
  void frame_sent(std::size_t bytes, bool data);

 protected:
  void start_wait_client(WaitHandler handler) override;

 private:
  // Hands the buffered bytes to the data provider (submitting the head first), then waits
  // until they, and with `ending` the stream's END_STREAM, are written.
  boost::asio::awaitable<std::error_code> send_out(bool ending);
  void submit_head();
  void reset(std::uint32_t code);

  Http2Connection& conn_;
  std::shared_ptr<Http2Stream> stream_;
  Response head_;
  bool no_body_ = false;  // HEAD, 204, 304: nothing after the head
  std::int64_t declared_length_ = kUnknownLength;
  bool continue_sent_ = false;
};

}  // namespace sluice::detail
