// Large Content-Length bodies (well past 64 KiB, up to 64 MiB), in both directions: SPEC 14, 19,
// 24-26, 30, 33, 34, L1, L2, L4, L6, L7. These pin what must stay true whatever mechanism moves
// the bytes (copy through a buffer, direct reads, splice(2)): every byte arrives once, in order,
// nothing before or after the body is eaten or leaked, the Content-Length is kept, the
// connections on both sides stay usable after a complete body, and every way a large transfer
// can end (upstream gone, client gone, upstream stall, destination reset) ends as it does for a
// small one.
//
// Bodies are a position-derived byte pattern (pattern() below): the bytes at an offset name the
// offset, so a dropped, duplicated, reordered or stale block of any size is a mismatch, and the
// failure message says where the wrong bytes came from.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A whole multi-MiB transfer under sanitizers on a shared machine. Passing tests never wait for it.
constexpr std::chrono::milliseconds kBigDeadline = 15s;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

// ---- the byte pattern ------------------------------------------------------------------------

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Bytes [offset, offset + n) of the stream `seed`: byte p is byte p % 8 of a hash of (seed, p / 8).
// Every byte value occurs (CR, LF, NUL included) and nothing repeats with a period.
std::string pattern(std::uint64_t seed, std::uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  std::uint64_t pos = offset;
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t word = mix((seed * 0x9e3779b97f4a7c15ULL) ^ (pos >> 3));
    for (unsigned b = static_cast<unsigned>(pos & 7); b < 8 && i < n; ++b, ++i, ++pos) {
      out[i] = static_cast<char>(word >> (8 * b));
    }
  }
  return out;
}

// Success when `got` is exactly bytes [offset, offset + size) of stream `seed`. Otherwise: the
// first differing offset, and where in the stream the bytes found there really belong (a block
// dropped, duplicated or reordered) or that they are not from this stream at all.
testing::AssertionResult is_pattern(std::string_view got, std::uint64_t seed, std::uint64_t offset,
                                    std::size_t size) {
  const std::string want = pattern(seed, offset, size);
  if (got == want) return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure();
  failure << got.size() << " bytes, expected " << size << " (stream " << seed << " from offset "
          << offset << ")";
  const auto at = static_cast<std::size_t>(
      std::mismatch(got.begin(), got.end(), want.begin(), want.end()).first - got.begin());
  if (at >= got.size() || at >= want.size()) {
    return failure << "; the common part matches, the length differs";
  }
  failure << "; first difference at body byte " << at << ": got \"" << printable(got.substr(at, 8))
          << "\", expected \"" << printable(std::string_view(want).substr(at, 8)) << "\"";
  const std::string_view window = got.substr(at, 32);
  if (window.size() >= 8) {
    if (const auto from = std::string_view(want).find(window); from != std::string_view::npos) {
      failure << "; the bytes there belong at body byte " << from
              << (from < at ? " (a block was repeated or sent again)" : " (a block was skipped)");
    } else {
      failure << "; the bytes there are not from this body (stale or foreign bytes)";
    }
  }
  std::size_t differing = 0;
  for (std::size_t i = at; i < std::min(got.size(), want.size()); ++i)
    differing += got[i] != want[i];
  return failure << "; " << differing << " bytes differ in the common length";
}

// ---- sending in uneven pieces ----------------------------------------------------------------

// Piece sizes, cycled: single bytes, sizes just off the proxy's buffer sizes (16/64/256 KiB) and
// the 64 KiB socket read size, and pieces far larger than any of them.
constexpr std::array<std::size_t, 12> kPieces = {1,   4093, 65537,   7,     262147, 16383,
                                                 131, 2,    1048583, 65536, 3,      300007};

// Sends `bytes` as a first write of `first` bytes and then pieces of kPieces sizes, all within
// `total`. Works for a TestClient and an UpstreamConn (both have send(bytes, deadline)).
template <typename Peer>
bool send_unevenly(Peer& peer, std::string_view bytes, std::size_t first,
                   std::chrono::milliseconds total = kBigDeadline) {
  const auto until = Clock::now() + total;
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()),
                    std::chrono::milliseconds{1});
  };
  std::size_t at = std::min(first, bytes.size());
  if (at > 0 && !peer.send(bytes.substr(0, at), left())) return false;
  for (std::size_t k = 0; at < bytes.size(); ++k) {
    const std::size_t n = std::min(kPieces[k % kPieces.size()], bytes.size() - at);
    if (!peer.send(bytes.substr(at, n), left())) return false;
    at += n;
  }
  return true;
}

std::string head_200(std::uint64_t content_length) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
         std::to_string(content_length) + "\r\n\r\n";
}

// Body bytes after the response head in `received` (Content-Length framing: nothing to strip).
std::string_view body_after_head(std::string_view received) {
  const auto end = received.find("\r\n\r\n");
  return end == std::string_view::npos ? std::string_view{} : received.substr(end + 4);
}

// ---- a pattern-serving upstream --------------------------------------------------------------

// The numbers in a target like "/cut/4194304/1048583?x": {4194304, 1048583}.
std::vector<std::uint64_t> numbers_in(std::string_view target) {
  std::vector<std::uint64_t> out;
  target = target.substr(0, target.find('?'));
  for (std::size_t i = 0; i < target.size();) {
    if (target[i] < '0' || target[i] > '9') {
      ++i;
      continue;
    }
    std::uint64_t n = 0;
    for (; i < target.size() && target[i] >= '0' && target[i] <= '9'; ++i)
      n = n * 10 + (target[i] - '0');
    out.push_back(n);
  }
  return out;
}

// Answers one request as the pattern-serving upstream; false when the connection must end.
//   GET /bytes/<n>[?how]      200, Content-Length n, body pattern(n, 0, n). How the upstream
//                             writes it: "?together" (head and body in one write), "?head" (the
//                             head alone, then the body in one write), otherwise the head with
//                             the first 100 body bytes, then uneven pieces.
//   HEAD /bytes/<n>           the same head, no body.
//   GET /cut/<n>/<sent>       the head of /bytes/<n> and its first <sent> body bytes in uneven
//                             pieces, then the connection closes (FIN), short of the length.
//   GET /not-modified/<n>     304 with Content-Length n, no body.
//   anything else             200 "small".
bool answer_pattern(UpstreamConn& c, const RecordedRequest& req) {
  const std::string_view target = req.target;
  const auto numbers = numbers_in(target);
  if (target.starts_with("/bytes/") && numbers.size() == 1) {
    const std::uint64_t n = numbers[0];
    const std::string head = head_200(n);
    if (req.method == "HEAD") return c.send(head);
    const std::string body = pattern(n, 0, n);
    const std::string_view how = target.substr(std::min(target.find('?'), target.size()));
    if (how == "?together") return c.send(head + body, kBigDeadline);
    if (how == "?head") return c.send(head) && c.send(body, kBigDeadline);
    return send_unevenly(c, head + body, head.size() + 100);
  }
  if (target.starts_with("/cut/") && numbers.size() == 2) {
    const std::string head = head_200(numbers[0]);
    send_unevenly(c, head + pattern(numbers[0], 0, numbers[1]), head.size() + 100);
    return false;
  }
  if (target.starts_with("/not-modified/") && numbers.size() == 1) {
    return c.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: " +
                  std::to_string(numbers[0]) + "\r\n\r\n");
  }
  return c.send(response(200, {}, "small"));
}

// Every request on every connection answered by answer_pattern, until the proxy closes it.
void serve_patterns(FakeUpstream& upstream) {
  upstream.set_handler([](UpstreamConn& c) {
    for (;;) {
      RecordedRequest req;
      if (!c.read_request(req, kBigDeadline) || !answer_pattern(c, req)) return;
    }
  });
}

// After a large transfer ended badly, a fresh client gets a fresh large body exact: nothing
// (a buffer, a pipe, a pooled connection) carries bytes of the failed one over. Use with
// ASSERT_NO_FATAL_FAILURE; the upstream must answer with answer_pattern.
void expect_fresh_large_get(ProxyHarness& h) {
  constexpr std::uint64_t kSize = 1 * MiB + 1;
  ParsedResponse res;
  ASSERT_TRUE(http_get(h.port(), "/bytes/" + std::to_string(kSize), res, {}, kBigDeadline))
      << "the proxy no longer serves a large body";
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(is_pattern(res.body, kSize, 0, kSize)) << "the large body after the failure";
}

// ---- event helpers ---------------------------------------------------------------------------

std::vector<Event> events_of(const EventLog& log, ResponseId id, Event::Kind kind) {
  std::vector<Event> out;
  for (const auto& e : log.events()) {
    if (e.id == id && e.kind == kind) out.push_back(e);
  }
  return out;
}

std::vector<Event> all_of(const EventLog& log, Event::Kind kind) {
  std::vector<Event> out;
  for (const auto& e : log.events()) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}

std::size_t bytes_written(const EventLog& log, ResponseId id) {
  std::size_t total = 0;
  for (const auto& e : events_of(log, id, Event::write))
    total += e.bytes;
  return total;
}

// The response's flush timer started once and stopped once with `reason` when a timer is
// expected (interval != 0), and never started otherwise.
testing::AssertionResult timer_stopped_once(const EventLog& log, ResponseId id,
                                            std::chrono::nanoseconds interval,
                                            FlushStopReason reason) {
  const auto started = events_of(log, id, Event::started);
  const auto stopped = events_of(log, id, Event::stopped);
  if (interval.count() == 0) {
    if (started.empty() && stopped.empty()) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "interval 0 armed a flush timer (" << started.size()
                                       << " started, " << stopped.size() << " stopped)";
  }
  if (started.size() != 1 || stopped.size() != 1) {
    return testing::AssertionFailure() << started.size() << " flush_timer_started and "
                                       << stopped.size() << " flush_timer_stopped, expected 1 each";
  }
  if (stopped[0].reason != reason) {
    return testing::AssertionFailure()
           << "flush timer stopped with " << to_string(stopped[0].reason) << ", expected "
           << to_string(reason);
  }
  return testing::AssertionSuccess();
}

// SPEC L2, once every response ended (wait for their response_end first): nothing in flight,
// no armed flush timer, no busy upstream connection.
testing::AssertionResult proxy_at_rest(ProxyHarness& h) {
  const auto c = h.proxy().counts();
  if (c.in_flight_responses != 0 || c.armed_flush_timers != 0 || c.upstream_busy != 0) {
    return testing::AssertionFailure()
           << "in_flight=" << c.in_flight_responses << " armed=" << c.armed_flush_timers
           << " busy=" << c.upstream_busy;
  }
  return testing::AssertionSuccess();
}

// No client session left, once the test closed its client connections.
testing::AssertionResult sessions_at_rest(ProxyHarness& h) {
  if (!h.server().wait_for_no_sessions(5s)) {
    return testing::AssertionFailure() << "sessions still live: " << h.server().live_sessions();
  }
  return testing::AssertionSuccess();
}

std::string interval_name(std::chrono::nanoseconds interval) {
  if (interval.count() < 0) return "flush_interval=-1 (every write)";
  return "flush_interval=" +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(interval).count()) +
         "ms";
}

// ---- SPEC 19: a large Content-Length body arrives exact -------------------------------------

// 8 MiB + 123 bytes, written by the upstream in uneven pieces (the head together with the first
// 100 body bytes), read by the client, compared byte for byte; then the same client connection
// and the same upstream connection serve the next request.
void expect_large_body_exact(std::chrono::nanoseconds interval) {
  SCOPED_TRACE(interval_name(interval));
  constexpr std::uint64_t kSize = 8 * MiB + 123;
  FakeUpstream upstream;
  serve_patterns(upstream);
  ProxyHarness h(upstream.url(), [interval](ReverseProxy& p) { p.flush_interval = interval; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /bytes/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: t\r\n\r\n"));

  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return got.find("\r\n\r\n") != std::string_view::npos; },
      kBigDeadline));
  const std::size_t head_size = client->received().find("\r\n\r\n") + 4;
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kBigDeadline));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), std::to_string(kSize))
      << "SPEC 19: the client must see the upstream's Content-Length";
  EXPECT_EQ(res.count("Transfer-Encoding"), 0u);
  EXPECT_FALSE(res.chunked);
  EXPECT_TRUE(is_pattern(res.body, kSize, 0, kSize));

  // Keep-alive: nothing past the body was sent or consumed, both connections are in a sane state.
  ASSERT_TRUE(client->send("GET /small HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse next;
  ASSERT_TRUE(client->read_response(next)) << "the connection is unusable after the large body";
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "small");
  EXPECT_EQ(upstream.accepted_count(), 1u)
      << "SPEC 35 / L6: a complete, well-framed large response must leave its upstream connection "
         "reusable";

  ASSERT_TRUE(h.events().wait_for_ends(2));
  const auto ends = all_of(h.events(), Event::end);
  ASSERT_EQ(ends.size(), 2u);
  const ResponseId large = ends[0].id;
  EXPECT_EQ(ends[0].outcome, ResponseOutcome::complete);
  EXPECT_EQ(ends[1].outcome, ResponseOutcome::complete);
  // The observer contract: client_write reports every byte handed to the client socket.
  EXPECT_EQ(bytes_written(h.events(), large), head_size + kSize)
      << "client_write events of the large response do not add up to head + body";
  EXPECT_TRUE(timer_stopped_once(h.events(), large, interval, FlushStopReason::complete));
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  EXPECT_TRUE(proxy_at_rest(h));
  EXPECT_EQ(h.proxy().counts().upstream_idle, 1);
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

TEST(LargeBody, Spec19_LargeContentLengthBodyArrivesExact) {
  // SPEC 24: the default interval 0 (no periodic flush).
  expect_large_body_exact(0ns);
}

TEST(LargeBody, Spec25_LargeBodyExactWhenFlushingEveryWrite) { expect_large_body_exact(-1ns); }

TEST(LargeBody, Spec26_LargeBodyExactWithPositiveInterval) { expect_large_body_exact(100ms); }

// Sizes on each side of the proxy's buffer sizes (16, 64, 256 KiB) and of the large-body
// threshold (today kSpliceMinBytes, 256 KiB still to come), written three ways by the upstream, one
// after the other on ONE client connection and ONE upstream connection. Each body has its own
// stream, so a byte left over from the previous response (in a buffer, a pipe, a socket) shows up
// as foreign bytes.
TEST(LargeBody, Spec19_BodySizesAroundTheBufferSizesArriveExact) {
  constexpr std::array<std::uint64_t, 13> kSizes = {1,
                                                    16 * KiB - 1,
                                                    16 * KiB,
                                                    16 * KiB + 1,
                                                    64 * KiB - 1,
                                                    64 * KiB,
                                                    64 * KiB + 1,
                                                    256 * KiB - 1,
                                                    256 * KiB,
                                                    256 * KiB + 1,
                                                    512 * KiB + 3,
                                                    1 * MiB + 1,
                                                    3 * MiB + 5};
  constexpr std::array<std::string_view, 3> kHow = {"?together", "?head", "?uneven"};
  for (const auto interval : {0ns, std::chrono::nanoseconds(-1ns)}) {
    SCOPED_TRACE(interval_name(interval));
    FakeUpstream upstream;
    serve_patterns(upstream);
    ProxyHarness h(upstream.url(), [interval](ReverseProxy& p) { p.flush_interval = interval; });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h.port(), client));
    for (std::size_t i = 0; i < kSizes.size(); ++i) {
      const std::uint64_t n = kSizes[i];
      const std::string target = "/bytes/" + std::to_string(n) + std::string(kHow[i % kHow.size()]);
      SCOPED_TRACE(target);
      ASSERT_TRUE(client->send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
      ParsedResponse res;
      ASSERT_TRUE(client->read_response(res, kBigDeadline));
      EXPECT_EQ(res.status, 200);
      EXPECT_EQ(res.header("Content-Length"), std::to_string(n));
      EXPECT_FALSE(res.chunked);
      ASSERT_TRUE(is_pattern(res.body, n, 0, n));
    }
    EXPECT_EQ(upstream.accepted_count(), 1u) << "an upstream connection was not reused";
    ASSERT_TRUE(h.events().wait_for_ends(kSizes.size()));
    for (const auto& e : all_of(h.events(), Event::end)) {
      EXPECT_EQ(e.outcome, ResponseOutcome::complete) << "response " << e.id;
    }
    EXPECT_TRUE(h.events().check_flush_lifecycle());
    EXPECT_TRUE(proxy_at_rest(h));
    client->close();
    EXPECT_TRUE(sessions_at_rest(h));
  }
}

// A response that never has a body, whatever its Content-Length says: HEAD (8 MiB announced)
// and 304 (8 MiB announced). No body byte may be relayed or awaited, and the next response on
// the same connections must parse from its first byte.
TEST(LargeBody, Spec19_HeadAnd304WithLargeContentLengthCarryNoBody) {
  constexpr std::uint64_t kSize = 8 * MiB;
  FakeUpstream upstream;
  serve_patterns(upstream);
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));

  ASSERT_TRUE(
      client->send("HEAD /bytes/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kDeadline, /*head_request=*/true));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Length"), std::to_string(kSize));
  EXPECT_EQ(res.body, "");

  ASSERT_TRUE(client->send("GET /not-modified/" + std::to_string(kSize) +
                           " HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 304);
  EXPECT_EQ(res.header("ETag"), "\"v1\"");
  EXPECT_EQ(res.body, "");

  // Any body byte relayed after either response would be parsed as the start of this one.
  ASSERT_TRUE(client->send("GET /small HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "small");
  EXPECT_EQ(upstream.accepted_count(), 1u) << "a bodiless response left its upstream connection "
                                              "unusable (or the proxy waited for a body)";
  ASSERT_TRUE(h.events().wait_for_ends(3));
  for (const auto& e : all_of(h.events(), Event::end)) {
    EXPECT_EQ(e.outcome, ResponseOutcome::complete) << "response " << e.id;
  }
  EXPECT_TRUE(proxy_at_rest(h));
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

// L6 / R43: an upstream that sends bytes past its Content-Length (here a whole fake response,
// in the same write as the body's last bytes). The client gets exactly Content-Length bytes,
// and the next request goes to a fresh upstream connection: the extra bytes never reach the
// client, neither as body nor as the next response.
TEST(LargeBody, L6_BytesPastALargeBodyNeverReachTheClient) {
  constexpr std::uint64_t kSize = 4 * MiB + 17;
  constexpr std::size_t kTail = 100;  // sent together with the extra bytes, in one write
  const std::string body = pattern(kSize, 0, kSize);
  const std::string extra = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!";
  FakeUpstream upstream;
  // Flush every write, so the client sees every byte the proxy has read (no held bytes).
  ProxyHarness h(upstream.url(), [](ReverseProxy& p) { p.flush_interval = -1ns; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /large HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));

  const std::string head = head_200(kSize);
  bool sent = false;
  std::thread sender([&] {
    sent = send_unevenly(*conn, head + body.substr(0, kSize - kTail), head.size() + 100);
  });
  // Once the client has everything but the tail, the proxy has read everything the upstream sent
  // so far: the tail and the extra bytes then arrive together, in one small write.
  const bool got_all_but_tail = static_cast<bool>(client->read_until(
      [&](std::string_view got) { return body_after_head(got).size() >= kSize - kTail; },
      kBigDeadline));
  sender.join();
  ASSERT_TRUE(sent);
  ASSERT_TRUE(got_all_but_tail);
  ASSERT_TRUE(conn->send(body.substr(kSize - kTail) + extra));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kBigDeadline));
  EXPECT_EQ(res.header("Content-Length"), std::to_string(kSize));
  EXPECT_TRUE(is_pattern(res.body, kSize, 0, kSize));

  ASSERT_TRUE(client->send("GET /next HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> fresh;
  ASSERT_TRUE(upstream.accept(fresh))
      << "the proxy reused the upstream connection that had unread bytes after the body";
  ASSERT_TRUE(fresh->read_request(req));
  EXPECT_EQ(req.target, "/next");
  ASSERT_TRUE(fresh->send(response(200, {}, "fresh")));
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "fresh");
  EXPECT_EQ(client->received().find("EVIL"), std::string::npos);
  EXPECT_TRUE(conn->wait_closed()) << "the upstream connection with unread bytes was left open";
  ASSERT_TRUE(h.events().wait_for_ends(2));
  EXPECT_TRUE(proxy_at_rest(h));
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

// ---- SPEC 29: the BufferPool with large bodies ----------------------------------------------

// A pool with an odd-sized buffer that records what it handed out and what came back.
class RecordingPool : public BufferPool {
 public:
  static constexpr std::size_t kBufferSize = 5003;

  RecordingPool() = default;
  RecordingPool(const RecordingPool&) = delete;
  RecordingPool& operator=(const RecordingPool&) = delete;
  ~RecordingPool() override {
    for (char* p : out_)
      delete[] p;
  }

  std::span<char> get() override {
    std::lock_guard lock(mutex_);
    ++gets_;
    out_.push_back(new char[kBufferSize]);
    return {out_.back(), kBufferSize};
  }
  void put(std::span<char> buffer) override {
    std::lock_guard lock(mutex_);
    ++puts_;
    const auto it = std::find(out_.begin(), out_.end(), buffer.data());
    if (it == out_.end() || buffer.size() != kBufferSize) {
      ++foreign_puts_;  // not a span this pool handed out: leave it alone
      return;
    }
    delete[] * it;
    out_.erase(it);
  }

  int gets() const {
    std::lock_guard lock(mutex_);
    return gets_;
  }
  int puts() const {
    std::lock_guard lock(mutex_);
    return puts_;
  }
  int foreign_puts() const {
    std::lock_guard lock(mutex_);
    return foreign_puts_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<char*> out_;
  int gets_ = 0;
  int puts_ = 0;
  int foreign_puts_ = 0;
};

// SPEC 29 (and README: "get() is called once per proxied response body and put() once with the
// same span"): a large body is still copied through the pool's buffer, one get and one put of
// the same span per response, however the copy ends, and arrives exact through a 5003-byte
// buffer.
TEST(LargeBody, Spec29_LargeBodiesTakeOneGetAndOnePutFromTheBufferPool) {
  constexpr std::uint64_t kSize = 8 * MiB + 123;
  constexpr std::uint64_t kOther = 300001;
  RecordingPool pool;  // outlives the proxy that uses it
  FakeUpstream upstream;
  serve_patterns(upstream);
  ProxyHarness h(upstream.url(), [&pool](ReverseProxy& p) { p.buffer_pool = &pool; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  for (const std::uint64_t n : {kSize, kOther}) {
    ASSERT_TRUE(client->send("GET /bytes/" + std::to_string(n) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res, kBigDeadline));
    EXPECT_EQ(res.header("Content-Length"), std::to_string(n));
    EXPECT_TRUE(is_pattern(res.body, n, 0, n));
  }
  // A third response that ends cut short: the upstream closes 3/4 of the way short.
  std::unique_ptr<TestClient> cut;
  ASSERT_TRUE(TestClient::connect(h.port(), cut));
  ASSERT_TRUE(cut->send("GET /cut/" + std::to_string(kSize) + "/" + std::to_string(kSize / 4) +
                        " HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(cut->wait_closed(kBigDeadline));
  EXPECT_FALSE(parse_response_prefix(cut->received()).complete);

  ASSERT_TRUE(h.events().wait_for_ends(3));
  EXPECT_EQ(pool.gets(), 3) << "one get() per response body";
  EXPECT_EQ(pool.puts(), 3) << "one put() per response body";
  EXPECT_EQ(pool.foreign_puts(), 0) << "put() got a span get() never returned";
  EXPECT_TRUE(proxy_at_rest(h));
}

// ---- SPEC 33 / L4: the upstream closes mid large body ----------------------------------------

TEST(LargeBody, Spec33_UpstreamClosesMidLargeBody) {
  constexpr std::uint64_t kAnnounced = 4 * MiB;
  constexpr std::size_t kSent = 1 * MiB + 7;
  constexpr std::size_t kOutputBuffer = 16 * KiB;  // docs/architecture.md: response output buffer
  for (const auto interval :
       {std::chrono::nanoseconds(-1ns), 0ns, std::chrono::nanoseconds(100ms)}) {
    SCOPED_TRACE(interval_name(interval));
    FakeUpstream upstream;
    serve_patterns(upstream);  // /cut/: the upstream closes 3 MiB short of the Content-Length
    ProxyHarness h(upstream.url(), [interval](ReverseProxy& p) { p.flush_interval = interval; });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h.port(), client));
    ASSERT_TRUE(client->send("GET /cut/" + std::to_string(kAnnounced) + "/" +
                             std::to_string(kSent) + " HTTP/1.1\r\nHost: t\r\n\r\n"));

    ASSERT_TRUE(client->wait_closed(kBigDeadline)) << "the truncated response was not cut";
    const ParsedResponse res = parse_response_prefix(client->received());
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("Content-Length"), std::to_string(kAnnounced));
    EXPECT_FALSE(res.complete) << "a cut response must not look complete";
    EXPECT_LE(res.body.size(), kSent) << "bytes the upstream never sent (padding?)";
    EXPECT_TRUE(is_pattern(res.body, kAnnounced, 0, res.body.size()))
        << "the bytes that did arrive";
    if (interval.count() < 0) {
      // Every byte read was flushed before the next read: all of them reached the client.
      EXPECT_EQ(res.body.size(), kSent);
    } else {
      // At most what the output buffer held at the cut is lost.
      EXPECT_GE(res.body.size(), kSent - kOutputBuffer);
    }

    ASSERT_TRUE(h.events().wait_for_ends(1));
    const auto ends = all_of(h.events(), Event::end);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].outcome, ResponseOutcome::truncated);
    EXPECT_TRUE(
        timer_stopped_once(h.events(), ends[0].id, interval, FlushStopReason::upstream_error));
    EXPECT_TRUE(h.log_contains("truncated"));

    ASSERT_NO_FATAL_FAILURE(expect_fresh_large_get(h));
    ASSERT_TRUE(h.events().wait_for_ends(2));
    EXPECT_TRUE(h.events().check_flush_lifecycle());
    EXPECT_TRUE(proxy_at_rest(h));
    EXPECT_TRUE(sessions_at_rest(h));
  }
}

// ---- SPEC 26 / L7: the upstream stalls mid large body ----------------------------------------

// The bytes that came before the stall reach the client within the flush interval (not at the
// end of a 8 MiB body that never comes), then the upstream idle timeout cuts the response.
TEST(LargeBody, Spec26_L7_BytesBeforeALargeBodyStallFlushedThenCut) {
  constexpr std::uint64_t kAnnounced = 8 * MiB;
  constexpr std::size_t kSent = 1 * MiB + 5;
  constexpr std::uint64_t kSeed = 26;
  for (const auto interval : {std::chrono::nanoseconds(-1ns), std::chrono::nanoseconds(100ms)}) {
    SCOPED_TRACE(interval_name(interval));
    std::promise<bool> saw_close;  // set by the handler thread: declared before the upstream
    auto upstream_saw_close = saw_close.get_future();
    FakeUpstream upstream;
    upstream.set_handler([&saw_close](UpstreamConn& c) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (req.target != "/stall") {
        while (answer_pattern(c, req) && c.read_request(req, kBigDeadline)) {
        }
        return;
      }
      const std::string head = head_200(kAnnounced);
      if (!send_unevenly(c, head + pattern(kSeed, 0, kSent), head.size() + 100)) return;
      // Stall: nothing more, connection kept open, until the proxy gives up on it.
      saw_close.set_value(static_cast<bool>(c.wait_closed(10s)));
    });
    ProxyHarness h(upstream.url(), [interval](ReverseProxy& p) {
      p.flush_interval = interval;
      set_transport_option(p, &TransportOptions::idle_read_timeout, 1s);
    });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h.port(), client));
    ASSERT_TRUE(client->send("GET /stall HTTP/1.1\r\nHost: t\r\n\r\n"));
    // Every byte sent before the stall arrives before the idle timeout closes the connection.
    ASSERT_TRUE(client->read_until(
        [](std::string_view got) { return body_after_head(got).size() >= kSent; }, kBigDeadline))
        << "bytes sent before the stall were held until the cut";
    const auto complete_at = Clock::now();
    ASSERT_TRUE(client->wait_closed(kBigDeadline));
    EXPECT_GE(Clock::now() - complete_at, 500ms) << "cut long before the 1 s idle timeout";
    const ParsedResponse res = parse_response_prefix(client->received());
    EXPECT_EQ(res.status, 200);
    EXPECT_FALSE(res.complete);
    EXPECT_TRUE(is_pattern(res.body, kSeed, 0, kSent));

    ASSERT_EQ(upstream_saw_close.wait_for(15s), std::future_status::ready);
    EXPECT_TRUE(upstream_saw_close.get()) << "the stalled upstream connection was left open";
    ASSERT_TRUE(h.events().wait_for_ends(1));
    const auto ends = all_of(h.events(), Event::end);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].outcome, ResponseOutcome::truncated);
    EXPECT_TRUE(
        timer_stopped_once(h.events(), ends[0].id, interval, FlushStopReason::upstream_timeout));
    ASSERT_NO_FATAL_FAILURE(expect_fresh_large_get(h));
    ASSERT_TRUE(h.events().wait_for_ends(2));
    EXPECT_TRUE(h.events().check_flush_lifecycle());
    EXPECT_TRUE(proxy_at_rest(h));
    client->close();
    EXPECT_TRUE(sessions_at_rest(h));
  }
}

// ---- SPEC 34 / L4: the client leaves mid large body ------------------------------------------

// A 64 MiB body; the client reads 2 MiB and leaves. The exchange ends as client_gone, the proxy
// closes the upstream connection without draining the body, a fresh large body is served exact,
// and nothing is left counted. Three ways to leave:
//   close          FIN while the body streams;
//   reset          RST while the body streams;
//   stall + close  the client stops reading until the upstream is blocked (every buffer on the
//                  way is full, the proxy is in the middle of a write), then closes: the proxy's
//                  socket is in CLOSE_WAIT, the client's kernel answers the next bytes with RST,
//                  and the write after that fails with EPIPE. splice(2) has no MSG_NOSIGNAL: a
//                  process that does not block or ignore SIGPIPE dies here.
TEST(LargeBody, Spec34_ClientLeavesMidLargeBody) {
  constexpr std::uint64_t kTotal = 64 * MiB;
  constexpr std::size_t kBlock = 256 * KiB;
  constexpr std::size_t kClientReads = 2 * MiB;
  constexpr std::uint64_t kSeed = 34;
  static constexpr std::chrono::milliseconds kInterval = 100ms;
  struct UpstreamView {
    bool saw_close = false;
    std::size_t body_sent = 0;
  };
  enum class Leave { close, reset, stall_then_close };
  for (const Leave leave : {Leave::close, Leave::reset, Leave::stall_then_close}) {
    SCOPED_TRACE(leave == Leave::close   ? "client closes"
                 : leave == Leave::reset ? "client resets"
                                         : "client stops reading, then closes");
    // Set by the upstream's handler thread, which may still be running when the proxy is done:
    // waited on with a deadline. Declared before the upstream, whose destructor joins that thread.
    std::promise<void> blocked;  // a send made no progress for 300 ms: every buffer is full
    auto upstream_blocked = blocked.get_future();
    std::promise<UpstreamView> finished;
    auto upstream_finished = finished.get_future();
    FakeUpstream upstream;
    upstream.set_handler([&](UpstreamConn& c) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (req.target != "/huge") {
        while (answer_pattern(c, req) && c.read_request(req, kBigDeadline)) {
        }
        return;
      }
      const std::string head = head_200(kTotal);
      if (!c.send(head)) return;
      bool told_blocked = false;
      int stuck = 0;  // sends in a row that made no progress: 7 x 300 ms, then give up
      for (std::uint64_t at = 0; at < kTotal && stuck < 7;) {
        const bool ok =
            c.send(pattern(kSeed, at, std::min<std::uint64_t>(kBlock, kTotal - at)), 300ms);
        const std::uint64_t now_at = c.bytes_sent() - head.size();  // a timed-out send sent a part
        stuck = ok || now_at > at ? 0 : stuck + 1;
        at = now_at;
        if (!ok && !told_blocked) {
          told_blocked = true;
          blocked.set_value();
        }
      }
      if (!told_blocked) blocked.set_value();
      finished.set_value({static_cast<bool>(c.wait_closed(10s)), c.bytes_sent() - head.size()});
    });
    ProxyHarness h(upstream.url(), [](ReverseProxy& p) { p.flush_interval = kInterval; });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h.port(), client));
    ASSERT_TRUE(client->send("GET /huge HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(client->read_until(
        [](std::string_view got) { return body_after_head(got).size() >= kClientReads; },
        kBigDeadline));
    const std::string_view got = body_after_head(client->received());
    EXPECT_TRUE(is_pattern(got, kSeed, 0, got.size())) << "the part the client read";
    if (leave == Leave::stall_then_close) {
      ASSERT_EQ(upstream_blocked.wait_for(kBigDeadline), std::future_status::ready)
          << "the upstream never blocked although the client stopped reading";
    }
    if (leave == Leave::reset) {
      client->reset();
    } else {
      client->close();
    }

    ASSERT_EQ(upstream_finished.wait_for(15s), std::future_status::ready)
        << "the upstream was neither closed nor blocked";
    const UpstreamView view = upstream_finished.get();
    EXPECT_TRUE(view.saw_close) << "SPEC 34: the upstream connection was not closed";
    EXPECT_LT(view.body_sent, kTotal) << "the proxy drained the whole upstream body after the "
                                         "client left";
    ASSERT_TRUE(h.events().wait_for_ends(1));
    const auto ends = all_of(h.events(), Event::end);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].outcome, ResponseOutcome::client_gone);
    EXPECT_TRUE(
        timer_stopped_once(h.events(), ends[0].id, kInterval, FlushStopReason::client_gone));
    EXPECT_TRUE(h.log_contains("client aborted"));
    for (const auto& line : h.log_lines()) {
      EXPECT_EQ(line.find(" 502 "), std::string::npos)
          << "a client abort logged as a 502: " << line;
    }
    ASSERT_NO_FATAL_FAILURE(expect_fresh_large_get(h));
    ASSERT_TRUE(h.events().wait_for_ends(2));
    EXPECT_TRUE(h.events().check_flush_lifecycle());

    h.stop();
    const auto c = h.proxy().counts();
    EXPECT_EQ(c.in_flight_responses, 0);
    EXPECT_EQ(c.armed_flush_timers, 0);
    EXPECT_EQ(c.upstream_busy, 0);
    EXPECT_EQ(h.server().live_sessions(), 0);
  }
}

// L7 / R35 mid large body: the client reads 1 MiB and then stops reading. After write_timeout
// without progress the exchange ends as client_gone while body bytes are still on their way
// inside the proxy (its output buffer, a pipe): none of them may reach the next response.
TEST(LargeBody, L7_WriteTimeoutMidLargeBodyLeavesNothingBehind) {
  constexpr std::uint64_t kTotal = 64 * MiB;
  constexpr std::size_t kBlock = 256 * KiB;
  constexpr std::uint64_t kSeed = 7;
  // Set by the upstream's handler thread: declared before the upstream, which joins it.
  std::promise<bool> saw_close;
  auto upstream_saw_close = saw_close.get_future();
  FakeUpstream upstream;
  upstream.set_handler([&saw_close](UpstreamConn& c) {
    RecordedRequest req;
    if (!c.read_request(req)) return;
    if (req.target != "/huge") {
      while (answer_pattern(c, req) && c.read_request(req, kBigDeadline)) {
      }
      return;
    }
    if (!c.send(head_200(kTotal))) return;
    for (std::uint64_t at = 0; at < kTotal; at += kBlock) {
      if (!c.send(pattern(kSeed, at, kBlock), 2s)) break;  // blocks once the buffers are full
    }
    saw_close.set_value(static_cast<bool>(c.wait_closed(10s)));
  });
  ServerOptions o;
  o.write_timeout = 300ms;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /huge HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return body_after_head(got).size() >= 1 * MiB; }, kBigDeadline));
  // From here on the client reads nothing and keeps its connection open.

  ASSERT_TRUE(h.events().wait_for_ends(1, kBigDeadline));
  EXPECT_EQ(all_of(h.events(), Event::end).at(0).outcome, ResponseOutcome::client_gone);
  ASSERT_EQ(upstream_saw_close.wait_for(15s), std::future_status::ready);
  EXPECT_TRUE(upstream_saw_close.get()) << "the upstream connection was left open";

  ASSERT_NO_FATAL_FAILURE(expect_fresh_large_get(h));
  ASSERT_TRUE(h.events().wait_for_ends(2));
  EXPECT_TRUE(h.events().check_flush_lifecycle());
  EXPECT_TRUE(proxy_at_rest(h));
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

// ---- SPEC 14: large request bodies (uploads) -------------------------------------------------

// Every request the upstream received, in order, and answers "got <body size> for <target>".
struct RecordingUpstream {
  std::mutex mutex;
  std::vector<RecordedRequest> requests;
  FakeUpstream upstream;  // last: its destructor joins the handler threads that use the above

  RecordingUpstream() {
    upstream.set_handler([this](UpstreamConn& c) {
      for (;;) {
        RecordedRequest req;
        if (!c.read_request(req, kBigDeadline)) return;
        const std::string answer = "got " + std::to_string(req.body.size()) + " for " + req.target;
        {
          std::lock_guard lock(mutex);
          requests.push_back(std::move(req));
        }
        if (!c.send(response(200, {}, answer))) return;
      }
    });
  }
  std::vector<RecordedRequest> take() {
    std::lock_guard lock(mutex);
    return std::move(requests);
  }
};

// 8 MiB + 45 bytes in uneven writes (single bytes among them), the head and the first body
// bytes in one write, and a pipelined GET in the same write as the body's last bytes: the
// upstream gets exactly the body, with its Content-Length, and the GET as a request of its own
// (parsed and forwarded by the proxy, not carried over as body bytes).
TEST(LargeBody, Spec14_LargeContentLengthUploadArrivesExact) {
  constexpr std::uint64_t kSize = 8 * MiB + 45;
  constexpr std::uint64_t kSeed = 14;
  constexpr std::size_t kTail = 45;
  RecordingUpstream up;
  ProxyHarness h(up.upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream"
      "\r\nContent-Length: " +
      std::to_string(kSize) + "\r\n\r\n";
  const std::string body = pattern(kSeed, 0, kSize);
  const std::string pipelined = "GET /after HTTP/1.1\r\nHost: t\r\n\r\n";
  // The proxy forwards while the client writes (the upstream's handler thread reads); the
  // answers are small and wait in the client's socket buffer.
  ASSERT_TRUE(send_unevenly(*client, head + body.substr(0, kSize - kTail), head.size() + 10))
      << "the proxy stopped reading the upload";
  ASSERT_TRUE(client->send(body.substr(kSize - kTail) + pipelined));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kBigDeadline));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "got " + std::to_string(kSize) + " for /upload");
  ASSERT_TRUE(client->read_response(res)) << "the pipelined request after the upload got no answer";
  EXPECT_EQ(res.body, "got 0 for /after");

  ASSERT_TRUE(h.events().wait_for_ends(2));
  const auto requests = up.take();
  ASSERT_EQ(requests.size(), 2u);
  const RecordedRequest& upload = requests[0];
  EXPECT_EQ(upload.method, "POST");
  EXPECT_EQ(upload.target, "/upload");
  EXPECT_EQ(upload.values("Content-Length"), std::vector<std::string>{std::to_string(kSize)});
  EXPECT_EQ(upload.count("Transfer-Encoding"), 0u);
  EXPECT_FALSE(upload.chunked);
  EXPECT_TRUE(is_pattern(upload.body, kSeed, 0, kSize));
  const RecordedRequest& after = requests[1];
  EXPECT_EQ(after.method, "GET");
  EXPECT_EQ(after.target, "/after");
  EXPECT_EQ(after.body, "");
  // Forwarded by the proxy (Director mode appends X-Forwarded-For), not relayed raw.
  EXPECT_EQ(after.values("X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(up.upstream.accepted_count(), 1u) << "the upstream connection was not reused";
  EXPECT_TRUE(proxy_at_rest(h));
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

// SPEC 14 / R23: a large upload behind Expect: 100-continue. The client sends no body byte
// before the 100; then the whole body arrives exact, and Expect is not passed on.
TEST(LargeBody, Spec14_ExpectContinueLargeUploadArrivesExact) {
  constexpr std::uint64_t kSize = 4 * MiB + 99;
  constexpr std::uint64_t kSeed = 23;
  RecordingUpstream up;
  ProxyHarness h(up.upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(
      client->send("PUT /expect HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                   "Content-Length: " +
                   std::to_string(kSize) + "\r\n\r\n"));
  ASSERT_TRUE(client->read_until([](std::string_view got) {
    return got.find("\r\n\r\n") != std::string_view::npos;
  })) << "no 100 Continue for a large body";
  EXPECT_EQ(client->received().substr(0, 12), "HTTP/1.1 100") << printable(client->received());

  const std::string body = pattern(kSeed, 0, kSize);
  ASSERT_TRUE(send_unevenly(*client, body, 3)) << "the proxy stopped reading the upload";
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res, kBigDeadline));
  EXPECT_EQ(res.informational, std::vector<int>{100});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "got " + std::to_string(kSize) + " for /expect");

  const auto requests = up.take();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].values("Content-Length"), std::vector<std::string>{std::to_string(kSize)});
  EXPECT_EQ(requests[0].count("Expect"), 0u) << "Expect is answered on the client hop";
  EXPECT_TRUE(is_pattern(requests[0].body, kSeed, 0, kSize));
  ASSERT_TRUE(h.events().wait_for_ends(1));
  EXPECT_TRUE(proxy_at_rest(h));
  client->close();
  EXPECT_TRUE(sessions_at_rest(h));
}

// SPEC 30 / R36 on the request side: the upstream resets after 1 MiB of an 8 MiB upload. The
// proxy is writing into a reset socket (an error, never SIGPIPE); nothing was relayed yet, so the
// client gets a 502 or a closed connection (never a 2xx, never a hang), and the proxy keeps
// serving.
TEST(LargeBody, Spec30_UpstreamResetsMidLargeUpload) {
  constexpr std::uint64_t kSize = 8 * MiB;
  constexpr std::uint64_t kSeed = 30;
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& c) {
    if (!c.read_until([](std::string_view got) { return got.find("\r\n\r\n") != got.npos; })) {
      return;
    }
    if (c.received().starts_with("POST /upload")) {
      c.read_until([](std::string_view got) { return got.size() > 1 * MiB; }, kBigDeadline);
      c.reset();
      return;
    }
    RecordedRequest req;
    while (c.read_request(req, kBigDeadline) && answer_pattern(c, req)) {
    }
  });
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n";
  const std::string body = pattern(kSeed, 0, kSize);
  // The upload goes on until the proxy stops taking bytes (it answered and closed): a send that
  // fails, or does not complete within 2 s, ends it. The proxy forwards meanwhile (the upstream's
  // handler thread reads), so one thread can do it all.
  if (client->send(head)) {
    for (std::size_t at = 0; at < kSize; at += 64 * KiB) {
      if (!client->send(std::string_view(body).substr(at, 64 * KiB), 2s)) break;
    }
  }
  const auto closed = client->wait_closed(kBigDeadline);
  ASSERT_TRUE(closed) << "the client connection was left open after the upstream reset";
  const ParsedResponse res = parse_response_prefix(client->received());
  if (res.status != 0) {
    EXPECT_EQ(res.status, 502) << printable(client->received());
  }
  ASSERT_TRUE(h.events().wait_for_ends(1));
  const auto ends = all_of(h.events(), Event::end);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].outcome, ResponseOutcome::error_response);

  ASSERT_NO_FATAL_FAILURE(expect_fresh_large_get(h));
  ASSERT_TRUE(h.events().wait_for_ends(2));
  EXPECT_TRUE(proxy_at_rest(h));
  EXPECT_TRUE(sessions_at_rest(h));
}

}  // namespace
}  // namespace sluice::test
