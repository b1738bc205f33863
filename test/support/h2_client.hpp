#pragma once
// An HTTP/2 client for tests, on nghttp2's client session over a blocking loopback socket (or
// any byte pipe: a TLS client's). The test submits requests, resets streams, holds a stream's
// window shut, or writes raw frames, then runs the connection until a condition holds, within a
// deadline. Independent of sluice's own HTTP/2 code except for nghttp2 itself.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/deadline.hpp"

namespace sluice::test {

using H2Fields = std::vector<std::pair<std::string, std::string>>;

struct H2Response {
  int status = 0;  // the final status; 0 until it arrived
  H2Fields headers;
  std::vector<int> informational;  // 1xx statuses before the final one
  std::string body;
  H2Fields trailers;
  bool ended = false;  // END_STREAM arrived: the response is complete
  // END_STREAM came on the final head's HEADERS frame: one frame, no DATA (Trailers-Only).
  bool head_ended_stream = false;
  bool closed = false;
  bool reset = false;  // the server reset the stream (RST_STREAM)
  std::uint32_t reset_code = 0;
  // When each DATA chunk arrived, and its size.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::size_t>> chunks;
  std::string header(std::string_view name) const;   // "" when absent
  std::string trailer(std::string_view name) const;  // "" when absent
};

struct H2ClientOptions {
  std::uint32_t stream_window = 1 << 20;      // SETTINGS_INITIAL_WINDOW_SIZE the client sends
  std::uint32_t connection_window = 1 << 24;  // raised by WINDOW_UPDATE at the start
};

class H2Client {
 public:
  // The bytes under the session: send all of them, or receive some within a deadline.
  struct Pipe {
    std::function<bool(std::string_view)> send;
    // Appends what arrived; false when the peer closed (or failed); true with nothing new at the
    // deadline.
    std::function<bool(std::string&, std::chrono::milliseconds)> receive;
  };

  // Cleartext HTTP/2 with prior knowledge to 127.0.0.1:port.
  static testing::AssertionResult connect(std::uint16_t port, std::unique_ptr<H2Client>& out,
                                          H2ClientOptions options = {});
  // Over a pipe the test set up (a TLS client that negotiated h2).
  static std::unique_ptr<H2Client> over(Pipe pipe, H2ClientOptions options = {});

  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // A request; `body`: sent whole with END_STREAM, or nullopt for none. `open_body`: the body is
  // sent later (send_body). Returns the stream id.
  std::int32_t submit(std::string method, std::string path, H2Fields fields = {},
                      std::optional<std::string> body = std::nullopt, bool open_body = false,
                      std::string authority = "sluice.test");
  std::int32_t get(std::string path, H2Fields fields = {}) {
    return submit("GET", std::move(path), std::move(fields));
  }
  void send_body(std::int32_t id, std::string bytes, bool end);
  void reset(std::int32_t id, std::uint32_t code = NGHTTP2_CANCEL);
  // A paused stream's DATA is not acknowledged: its window closes as the server sends.
  void pause(std::int32_t id, bool paused);
  void ping();
  // Bytes written to the socket as they are, after what the session has queued.
  bool send_raw(std::string_view bytes);

  // Drives the connection until pred() holds. Fails at the deadline, or when the connection
  // closes before pred() holds (pred is checked once more then).
  testing::AssertionResult run_until(const std::function<bool()>& pred,
                                     std::chrono::milliseconds deadline = kDeadline);
  // Runs until the stream ended, was reset or closed.
  testing::AssertionResult finish(std::int32_t id, std::chrono::milliseconds deadline = kDeadline);

  H2Response& response(std::int32_t id) { return streams_[id].response; }
  bool connection_closed() const { return closed_; }
  bool goaway_received() const { return goaway_; }
  std::uint32_t goaway_error() const { return goaway_error_; }
  std::int32_t goaway_last_stream() const { return goaway_last_; }
  std::size_t pings_acked() const { return pings_acked_; }

  // nghttp2 callbacks.
  struct Stream {
    H2Response response;
    bool in_informational = false;
    bool final_seen = false;
    std::string upload;
    std::size_t upload_sent = 0;
    bool upload_done = true;
    bool paused = false;
    std::size_t unconsumed = 0;
  };
  Stream& stream(std::int32_t id) { return streams_[id]; }
  nghttp2_session* session() { return session_; }
  void on_goaway(std::uint32_t error, std::int32_t last) {
    goaway_ = true;
    goaway_error_ = error;
    goaway_last_ = last;
  }
  void on_ping_ack() { ++pings_acked_; }

 private:
  H2Client(Pipe pipe, H2ClientOptions options);
  bool flush();

  Pipe pipe_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, Stream> streams_;
  std::string inbox_;
  bool closed_ = false;
  bool goaway_ = false;
  std::uint32_t goaway_error_ = 0;
  std::int32_t goaway_last_ = 0;
  std::size_t pings_acked_ = 0;
};

// Raw frames, for the attacks nghttp2's client API will not produce.
std::string h2_frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream_id,
                     std::string_view payload);

}  // namespace sluice::test
