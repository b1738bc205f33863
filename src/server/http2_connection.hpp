#pragma once
// One HTTP/2 client connection (RFC 9113) over nghttp2's session, driven from sluice's own
// coroutines: one reader (socket -> nghttp2_session_mem_recv), one writer (nghttp2_session_mem_send
// -> socket), and one handler coroutine per stream, each with its own Exchange
// (server/http2_exchange.hpp). docs/architecture.md, "HTTP/2", draws it.
//
// - Flushing: a stream's flush makes its bytes sendable and wakes the writer, which sends at
//   once; the connection adds no delay of its own, and batches what is ready when it runs.
// - Flow control: request body bytes are granted back (WINDOW_UPDATE) only as the handler reads
//   them; response bytes leave a stream only as the client's windows allow, and a stream whose
//   buffer is full waits (at most write_timeout, then it is reset), never its neighbours.
// - Defences: concurrent streams bounded, counting streams the client reset until their
//   handler has ended (CVE-2023-44487); a client that resets streams faster than a budget gets
//   GOAWAY(ENHANCE_YOUR_CALM); nghttp2 bounds CONTINUATION, SETTINGS and PING floods; header
//   blocks are held only up to max_request_header_bytes; empty DATA frames are counted.
// - Graceful stop: GOAWAY with the last stream id, open streams finish within the grace.
#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "server/http2_stream.hpp"
#include "server/session.hpp"

namespace sluice::detail {

class Http2Connection {
 public:
  // The client preface, whose first bytes tell a cleartext HTTP/2 connection (prior knowledge).
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

  Http2Connection(SessionIo& io, SessionEnv& env, boost::asio::ip::tcp::endpoint remote);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Serves the connection until it ends; `received`: bytes already read from it (the preface,
  // perhaps more). Returns once every stream's handler and the writer have ended.
  boost::asio::awaitable<void> run(std::string_view received);

  // ---- For the streams' exchanges.
  nghttp2_session* session() { return session_; }
  SessionIo& io() { return io_; }
  // Frames are queued with nghttp2: the writer sends them now.
  void wake_writer() { writer_wake_.cancel(); }
  // The last batch of frames written to the socket whole.
  std::uint64_t written_batch() const { return written_batch_; }
  bool failed() const { return failed_; }

  // ---- nghttp2's callbacks (C linkage trampolines call these).
  int on_begin_headers(const nghttp2_frame& frame);
  int on_header(const nghttp2_frame& frame, std::string_view name, std::string_view value);
  int on_invalid_header(const nghttp2_frame& frame);
  int on_frame_recv(const nghttp2_frame& frame);
  int on_data_chunk(std::int32_t stream_id, const std::uint8_t* data, std::size_t len);
  int on_frame_send(const nghttp2_frame& frame);
  int on_stream_close(std::int32_t stream_id, std::uint32_t error_code);

 private:
  boost::asio::awaitable<void> read_loop(std::string_view received);
  boost::asio::awaitable<void> write_loop();
  // `head_ended_stream`: END_STREAM came with the header block (no body at all).
  boost::asio::awaitable<void> serve_stream(std::shared_ptr<Http2Stream> stream,
                                            bool head_ended_stream);
  void start_stream(Http2Stream& stream, bool end_stream);
  // Feeds client bytes to nghttp2; false on a connection error (GOAWAY is queued).
  bool receive(const std::uint8_t* data, std::size_t n);
  void collect_output();
  void client_reset(Http2Stream& stream);
  void count_reset();
  void fail();  // the connection is gone: every stream's handler learns it
  // A connection error of ours: GOAWAY(code), and every stream's handler learns it now.
  void terminate(std::uint32_t code);
  // When the reader gives up waiting: a header block's header_timeout, or idle_timeout.
  std::chrono::steady_clock::time_point next_deadline() const;
  void wake_connection() { conn_wake_.cancel(); }
  bool finished() const;

  SessionIo& io_;
  SessionEnv& env_;
  boost::asio::ip::tcp::endpoint remote_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<Http2Stream>> streams_;  // open in nghttp2
  std::size_t handlers_ = 0;    // running stream handlers (reset streams too, until they end)
  std::size_t collecting_ = 0;  // streams whose header block is still arriving
  // Reset budget: RST_STREAM frames from the client and refused streams, in the current second.
  std::chrono::steady_clock::time_point reset_window_;
  std::uint32_t resets_in_window_ = 0;
  std::string out_;  // the batch being written
  std::uint64_t batch_ = 0;
  std::uint64_t written_batch_ = 0;
  bool writer_running_ = false;
  bool goaway_sent_ = false;
  bool failed_ = false;
  bool terminating_ = false;
  bool reading_done_ = false;
  // When the last stream ended (or the connection began): idle_timeout counts from it.
  std::chrono::steady_clock::time_point last_activity_;
  boost::asio::steady_timer writer_wake_;
  boost::asio::steady_timer conn_wake_;  // the reader and run(): a handler or the writer ended
};

}  // namespace sluice::detail
