#pragma once
// A raw-byte HTTP/1 client on loopback: the test writes exactly the bytes it wants (smuggling
// attempts, pipelines, half-sent bodies) and reads back exactly what the proxy sent, parsed
// strictly or byte for byte. Plain POSIX sockets, independent of the code under test.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/deadline.hpp"
#include "support/http_wire.hpp"

namespace sluice::test {

struct ParsedResponse : HeaderLookup<ParsedResponse> {
  int status = 0;  // 0 while the status line has not arrived
  std::string reason;
  std::string version;
  HeaderList headers;
  std::string body;  // decoded; what arrived so far when the response is incomplete
  bool chunked = false;
  bool complete = false;  // the whole response arrived, framing included (final 0 chunk, CL bytes)
  HeaderList trailers;
  std::vector<int> informational;  // statuses of the 1xx responses (not 101) before this one
  std::string error;               // parse_response_prefix: why the bytes are malformed, else ""
};

// Parses the first response in `bytes` (1xx skipped into `informational`), taken as everything
// the connection delivered before it closed. complete=false when the body is cut short (fewer
// bytes than Content-Length, chunked without its final chunk) or the head is incomplete. A
// close-delimited body takes the rest of `bytes` and counts as complete: that framing cannot show
// a truncation.
ParsedResponse parse_response_prefix(std::string_view bytes);

class TestClient {
 public:
  // Connects to 127.0.0.1:port within kDeadline.
  static testing::AssertionResult connect(std::uint16_t port, std::unique_ptr<TestClient>& out);

  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Writes all of `bytes`; false when the peer is gone or the deadline passed (peer not reading).
  bool send(std::string_view bytes, std::chrono::milliseconds deadline = kDeadline);

  // Reads until pred(received()) holds. Fails at the deadline, or when the peer closes first; the
  // message shows the bytes received so far.
  testing::AssertionResult read_until(std::function<bool(std::string_view received)> pred,
                                      std::chrono::milliseconds deadline = kDeadline);
  // Reads exactly one complete response (1xx before it recorded in out.informational) and
  // consumes its bytes; whatever follows stays buffered for the next call. `head_request`: the
  // response answers a HEAD, so it has no body whatever its headers say. On failure `out` holds
  // what was parsed so far (complete=false) and the message shows the bytes.
  testing::AssertionResult read_response(ParsedResponse& out,
                                         std::chrono::milliseconds deadline = kDeadline,
                                         bool head_request = false);
  // Waits for EOF or reset from the peer. Bytes that arrive meanwhile are kept in received(), so
  // that a truncated response can be examined afterwards with parse_response_prefix().
  testing::AssertionResult wait_closed(std::chrono::milliseconds deadline = kDeadline);
  // Non-blocking: true when the peer already closed or reset (arrived bytes are kept).
  bool peer_closed_now();

  void reset();           // RST (SO_LINGER {1, 0}, then close)
  void close();           // FIN
  void shutdown_write();  // FIN on the sending side only; reads still work

  // Bytes received and not yet consumed by read_response() or take().
  const std::string& received() const { return socket_.buffer(); }
  std::string take();

 private:
  explicit TestClient(int fd);

  detail::Socket socket_;
};

// One "GET <target> HTTP/1.1" with "Host: test", "Connection: close" and `extra_headers`, on a
// fresh connection; reads the response.
testing::AssertionResult http_get(
    std::uint16_t port, std::string_view target, ParsedResponse& out,
    std::vector<std::pair<std::string, std::string>> extra_headers = {},
    std::chrono::milliseconds deadline = kDeadline);

}  // namespace sluice::test
