#pragma once
// The state of one HTTP/2 stream that both sides of the connection touch: the reader (nghttp2's
// receive callbacks put request body bytes here), the writer (nghttp2's data provider takes
// response bytes from here) and the stream's Exchange, which the handler drives. Shared by the
// connection's stream map (until nghttp2 closes the stream) and by the handler (until it ends),
// so neither outlives the state it touches. One worker thread touches it.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "http2/header_list.hpp"
#include "http2/request_head.hpp"
#include "sluice/stop_signal.hpp"

namespace sluice::detail {

class Http2Exchange;

struct Http2Stream {
  Http2Stream(std::int32_t stream_id, const boost::asio::any_io_executor& executor,
              http2::HeadLimits limits)
      : id(stream_id), head(limits), gone(executor), body_wake(executor), out_wake(executor) {}

  std::int32_t id;
  http2::RequestHead head;  // collected until END_HEADERS
  // When the header block began: it must be whole within header_timeout (a half-sent one
  // would otherwise hold the connection forever).
  std::chrono::steady_clock::time_point head_started = std::chrono::steady_clock::now();
  bool handler_started = false;

  // ---- Request body: received DATA not yet read by the handler. nghttp2 grants the client
  // window only as the handler reads (nghttp2_session_consume), so this holds at most one
  // stream window.
  std::string body;
  std::size_t body_read = 0;  // of `body`, bytes already handed out
  bool body_ended = false;    // END_STREAM received
  std::uint32_t empty_data_frames = 0;

  // ---- Response body: bytes written by the handler, not yet taken into DATA frames.
  std::string out;
  std::size_t out_taken = 0;  // of `out`, bytes already in frames
  std::size_t sendable = 0;   // of the rest, bytes a flush released to the data provider
  bool submitted = false;     // the response HEADERS are with nghttp2
  bool deferred = false;      // the data provider deferred: nghttp2_session_resume_data wakes it
  bool eof = false;           // the body ends after `out`
  std::optional<http2::HeaderList> trailers;
  // The writer's batch that holds the stream's latest frame; kQueued while a frame is with
  // nghttp2 but not in a batch yet. A flush is done once that batch is written.
  static constexpr std::uint64_t kQueued = UINT64_MAX;
  std::uint64_t last_batch = 0;
  bool end_sent = false;         // our END_STREAM went into a frame
  bool reset_submitted = false;  // we reset the stream: no second RST_STREAM
  // Body bytes in DATA frames handed to the writer; counted as delivered once written.
  std::uint64_t batched_body = 0;

  bool closed = false;  // nghttp2 closed the stream (both ends done, or a reset)
  // Fires when the client reset the stream or the connection went before the response ended:
  // the handler's client-liveness wait (RequestContext) races it.
  StopSignal gone;
  // Wakes the handler waiting for body bytes (body_wake) or for its output to go (out_wake);
  // separate, as a full-duplex handler may wait on both at once.
  boost::asio::steady_timer body_wake;
  boost::asio::steady_timer out_wake;
  Http2Exchange* exchange = nullptr;  // while the handler runs

  std::size_t pending_out() const { return out.size() - out_taken; }
  std::size_t unread_body() const { return body.size() - body_read; }
  void wake_all() {
    body_wake.cancel();
    out_wake.cancel();
  }
};

}  // namespace sluice::detail
