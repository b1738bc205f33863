#pragma once
// One HTTP/2 connection to an upstream server (RFC 9113, prior knowledge), shared by the
// requests of one worker: nghttp2's client session driven by a reader and a writer coroutine,
// which hold the connection alive while it is open. Each request is a stream
// (Http2UpstreamStream): the round trip waits on it for the head, the ResponseBody for body bytes
// (granted back to the server only as the proxy reads them, so a stream holds at most its window),
// the upload coroutine feeds it the request body.
#include <nghttp2/nghttp2.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/byte_stream.hpp"
#include "sluice/message.hpp"
#include "sluice/stop_signal.hpp"

namespace sluice {

struct Http2UpstreamStream {
  explicit Http2UpstreamStream(const boost::asio::any_io_executor& executor)
      : wake(executor), upload_wake(executor) {}

  std::int32_t id = -1;
  // ---- Response, as it arrives.
  unsigned status = 0;
  Fields header;
  bool head_done = false;
  std::vector<std::pair<unsigned, Fields>> informational;  // 1xx heads not forwarded yet
  unsigned pending_1xx = 0;                                // a 1xx head is arriving
  Fields fields_1xx;
  Fields trailers;
  std::string body;  // received, not read yet: at most the stream window
  std::size_t body_read = 0;
  bool body_ended = false;  // END_STREAM received
  bool closed = false;      // nghttp2 closed the stream
  std::uint32_t close_code = 0;
  // At its close the bytes nobody read went back to the connection window: later reads of
  // them grant nothing more.
  bool window_returned = false;
  std::size_t head_bytes = 0;   // of the head (or trailers) so far, as the limit counts them
  bool head_too_large = false;  // past max_response_header_bytes: reset, not held
  // ---- Request body, as the upload coroutine hands it over.
  std::string upload;
  std::size_t upload_taken = 0;
  bool upload_eof = false;
  bool deferred = false;
  bool reset_sent = false;
  bool headers_sent = false;  // the request's HEADERS were written: the server may have seen it
  // Wakes whoever waits for the head, a 1xx, body bytes or the end; and the upload for room.
  boost::asio::steady_timer wake;
  boost::asio::steady_timer upload_wake;

  std::size_t unread() const { return body.size() - body_read; }
  std::size_t upload_pending() const { return upload.size() - upload_taken; }
  void wake_all() {
    wake.cancel();
    upload_wake.cancel();
  }
};

// Live connection counts of one transport, over its workers (TransportCounts): busy ones carry
// a stream, idle ones none.
struct Http2ConnectionCounts {
  std::atomic<std::int64_t> busy{0};
  std::atomic<std::int64_t> idle{0};
};

class Http2UpstreamConnection : public std::enable_shared_from_this<Http2UpstreamConnection> {
 public:
  // `io_timeout`: each write must progress within it; `idle_timeout`: closed after that long
  // without a stream.
  Http2UpstreamConnection(std::unique_ptr<ByteStream> stream, std::chrono::nanoseconds io_timeout,
                          std::chrono::nanoseconds idle_timeout, std::uint32_t max_head_bytes,
                          std::shared_ptr<Http2ConnectionCounts> counts);
  ~Http2UpstreamConnection();
  Http2UpstreamConnection(const Http2UpstreamConnection&) = delete;
  Http2UpstreamConnection& operator=(const Http2UpstreamConnection&) = delete;

  // Sends the preface and starts the reader and writer.
  void start();
  // Takes a new stream: open, no GOAWAY received, below the server's concurrent stream limit.
  bool usable() const;
  bool dead() const { return failed_; }

  // Submits `out` (scheme "http") as a stream; with `with_body` its DATA come from
  // stream->upload. False when nghttp2 refused it.
  bool open(const Request& out, const std::shared_ptr<Http2UpstreamStream>& stream, bool with_body);
  void reset(Http2UpstreamStream& s, std::uint32_t code);
  // The proxy took `n` body bytes: the server may send as many more.
  void consume(Http2UpstreamStream& s, std::size_t n);
  // More request body bytes (or its end) are in stream->upload.
  void resume_upload(Http2UpstreamStream& s);
  // Ends the connection now: every stream fails.
  void close();
  // Its transport is gone: no new stream, and the connection ends once its last stream did
  // (at once when it has none). On the connection's executor.
  void retire();
  boost::asio::any_io_executor executor() { return stream_->get_executor(); }

  // nghttp2's callbacks.
  int on_header(const nghttp2_frame& frame, std::string_view name, std::string_view value);
  int on_frame_recv(const nghttp2_frame& frame);
  int on_data_chunk(std::int32_t id, const std::uint8_t* data, std::size_t len);
  int on_stream_close(std::int32_t id, std::uint32_t code);
  int on_frame_send(const nghttp2_frame& frame);

 private:
  boost::asio::awaitable<void> read_loop(std::shared_ptr<Http2UpstreamConnection> self);
  boost::asio::awaitable<void> write_loop(std::shared_ptr<Http2UpstreamConnection> self);
  void fail();
  void wake_writer() { writer_wake_.cancel(); }
  // Moves this connection between the idle and busy counts as its first stream opens or its
  // last one closes (and out of both when it ends).
  void count_as(int state);  // 0: idle, 1: busy, -1: gone

  std::unique_ptr<ByteStream> stream_;
  std::chrono::nanoseconds io_timeout_;
  std::chrono::nanoseconds idle_timeout_;
  std::uint32_t max_head_bytes_;
  std::shared_ptr<Http2ConnectionCounts> counts_;
  int counted_as_ = -1;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<Http2UpstreamStream>> streams_;
  std::string out_;
  bool goaway_ = false;
  bool settings_received_ = false;
  bool failed_ = false;
  bool retired_ = false;
  std::chrono::steady_clock::time_point idle_since_;
  StopSignal stop_;
  boost::asio::steady_timer writer_wake_;
  boost::asio::steady_timer reader_wake_;
};

}  // namespace sluice
