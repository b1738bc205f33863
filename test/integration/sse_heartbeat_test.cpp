// ReverseProxy::sse_heartbeat: an idle SSE stream gets the comment ":\n\n" at an event boundary,
// on time (measured on the event log's timestamps), never inside an event however the upstream
// splits it, never after the response ended, and without feeding the upstream idle timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"
#include "support/transport_options.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
// How late a due heartbeat may be written: the timer firing and the write, on a loaded 2-core
// machine under ASan/TSan.
constexpr auto kLate = 150ms;

std::size_t heartbeats(const std::vector<Event>& events) {
  return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [](const Event& e) { return e.kind == Event::heartbeat; }));
}

// What EventSource makes of a stream, written independently of the proxy's tracker: the
// events it dispatches, each as its non-comment lines joined by '|' (empty events dropped).
std::vector<std::string> dispatched(std::string_view stream) {
  std::vector<std::string> events;
  std::string event;
  std::string line;
  bool has_line = false;
  auto end_line = [&] {
    if (line.empty()) {
      if (!event.empty()) events.push_back(event);
      event.clear();
    } else if (line[0] != ':') {
      if (!event.empty()) event += '|';
      event += line;
    }
    line.clear();
    has_line = false;
  };
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const char c = stream[i];
    if (c == '\r') {
      end_line();
      if (i + 1 < stream.size() && stream[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      end_line();
    } else {
      line += c;
      has_line = true;
    }
  }
  (void)has_line;
  return events;
}

// True when the client, having got `prefix`, is between events: the last line ended, and it
// was empty (or nothing came yet).
bool at_boundary(std::string_view prefix) {
  if (prefix.empty()) return true;
  const char last = prefix.back();
  if (last != '\n' && last != '\r') return false;
  std::string_view rest = prefix.substr(0, prefix.size() - 1);
  if (last == '\n' && !rest.empty() && rest.back() == '\r') rest.remove_suffix(1);  // CRLF
  return rest.empty() || rest.back() == '\n' || rest.back() == '\r';
}

struct SseStream {
  FakeUpstream upstream;
  std::unique_ptr<ProxyHarness> proxy;
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;

  explicit SseStream(ProxyHarness::Configure configure) {
    proxy = std::make_unique<ProxyHarness>(upstream.url(), std::move(configure));
  }

  // A GET through the proxy; the upstream answers with `head` (an SSE stream by default).
  testing::AssertionResult open(std::string_view head = kSseHead) {
    if (auto r = TestClient::connect(proxy->port(), client); !r) return r;
    if (!client->send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")) {
      return testing::AssertionFailure() << "send failed";
    }
    if (auto r = upstream.accept(conn); !r) return r;
    RecordedRequest req;
    if (auto r = conn->read_request(req); !r) return r;
    if (!conn->send(head)) return testing::AssertionFailure() << "upstream send failed";
    return client_body_ends_with("");
  }

  std::string body() const { return parse_response_prefix(client->received()).body; }

  testing::AssertionResult client_body_ends_with(std::string_view tail) {
    return client->read_until([tail](std::string_view got) {
      const ParsedResponse r = parse_response_prefix(got);
      return r.status == 200 && r.body.ends_with(tail);
    });
  }

  // The client got exactly `sent` (the upstream's body so far), heartbeats aside.
  testing::AssertionResult client_got(std::string_view sent) {
    return client->read_until([sent](std::string_view got) {
      std::string body = parse_response_prefix(got).body;
      for (std::size_t at; (at = body.find(":\n\n")) != std::string::npos;)
        body.erase(at, 3);
      return body == sent;
    });
  }

  testing::AssertionResult heartbeats_reach(std::size_t n,
                                            std::chrono::milliseconds deadline = kDeadline) {
    return proxy->events().wait_until(
        [n](const std::vector<Event>& events) { return heartbeats(events) >= n; },
        std::to_string(n) + " heartbeats", deadline);
  }
};

TEST(SseHeartbeat, ComesOneIntervalAfterTheLastForwardedByte) {
  SseStream s([](ReverseProxy& p) { p.sse_heartbeat = 100ms; });
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("data: a\n\n")));
  ASSERT_TRUE(s.client_body_ends_with("data: a\n\n"));
  ASSERT_TRUE(s.heartbeats_reach(2));
  ASSERT_TRUE(s.client_body_ends_with("data: a\n\n:\n\n:\n\n"));

  // The event's write, then each heartbeat's write and its event: one interval apart each.
  const auto events = s.proxy->events().events();
  std::vector<Clock::time_point> writes;
  std::vector<Clock::time_point> beats;
  for (const Event& e : events) {
    if (e.kind == Event::write) writes.push_back(e.at);
    if (e.kind == Event::heartbeat) beats.push_back(e.at);
  }
  ASSERT_GE(writes.size(), 4u);  // head, event, two heartbeats
  // The log stamps an event when its observer runs, a little after sluice took the time the
  // next heartbeat counts from: a gap may look up to kStampSkew short (seen: 99.3 ms under load).
  constexpr auto kStampSkew = 2ms;
  const Clock::time_point event_written = writes[1];
  EXPECT_GE(beats[0] - event_written, 100ms - kStampSkew);
  EXPECT_LE(beats[0] - event_written, 100ms + kLate);
  EXPECT_GE(beats[1] - beats[0], 100ms - kStampSkew);
  EXPECT_LE(beats[1] - beats[0], 100ms + kLate);
}

TEST(SseHeartbeat, NeverInsideAnEventWhereverTheUpstreamSplitsIt) {
  constexpr auto kInterval = 30ms;
  SseStream s([kInterval](ReverseProxy& p) { p.sse_heartbeat = kInterval; });
  ASSERT_TRUE(s.open());
  // Every line ending EventSource knows, an id and a comment inside the event.
  const std::string event = "data: x\r\n:c\rid: 1\ndata: y\r\n\r\n";
  std::vector<std::string> expected;
  std::string sent;
  for (std::size_t split = 1; split < event.size(); ++split) {
    const std::string head = event.substr(0, split);
    const std::string tail = event.substr(split);
    const std::size_t beats_before = heartbeats(s.proxy->events().events());
    ASSERT_TRUE(s.conn->send(chunk(head)));
    sent += head;
    ASSERT_TRUE(s.client_got(sent)) << "split at " << split;
    if (!at_boundary(head)) {
      // Three intervals of silence inside the event: no heartbeat may come.
      EXPECT_FALSE(s.heartbeats_reach(beats_before + 1, 3 * kInterval))
          << "a heartbeat inside the event split at " << split;
    }
    ASSERT_TRUE(s.conn->send(chunk(tail)));
    sent += tail;
    ASSERT_TRUE(s.client_got(sent)) << "split at " << split;
    ASSERT_TRUE(s.heartbeats_reach(heartbeats(s.proxy->events().events()) + 1))
        << "no heartbeat after the event split at " << split;
    expected.push_back("data: x|id: 1|data: y");
  }
  // What the client's EventSource dispatched: every event whole, once, and nothing else.
  EXPECT_EQ(dispatched(s.body()), expected);
}

TEST(SseHeartbeat, NoneAfterTheResponseEnded) {
  constexpr auto kInterval = 30ms;
  for (const bool complete : {true, false}) {  // the upstream ends it, or cuts it
    SseStream s([kInterval](ReverseProxy& p) { p.sse_heartbeat = kInterval; });
    ASSERT_TRUE(s.open());
    ASSERT_TRUE(s.conn->send(chunk("data: last\n\n")));
    ASSERT_TRUE(s.heartbeats_reach(1));
    if (complete) {
      ASSERT_TRUE(s.conn->send(kLastChunk));
    } else {
      s.conn->reset();
    }
    ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
    const std::size_t beats = heartbeats(s.proxy->events().events());
    EXPECT_FALSE(s.heartbeats_reach(beats + 1, 5 * kInterval)) << "complete=" << complete;
    EXPECT_TRUE(s.proxy->events().check_flush_lifecycle());
  }
}

TEST(SseHeartbeat, IsNotUpstreamActivity) {
  // Heartbeats every 20 ms do not keep a silent upstream alive past its idle timeout.
  SseStream s([](ReverseProxy& p) {
    p.sse_heartbeat = 20ms;
    set_transport_option(p, &TransportOptions::idle_read_timeout, 300ms);
  });
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("data: a\n\n")));
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  const auto events = s.proxy->events().events();
  EXPECT_GE(heartbeats(events), 2u);
  EXPECT_EQ(events.back().outcome, ResponseOutcome::truncated);
  EXPECT_TRUE(s.proxy->events().check_flush_lifecycle());
}

TEST(SseHeartbeat, NotForOtherTypesNorWhenOff) {
  for (const bool event_stream : {true, false}) {
    SseStream s([event_stream](ReverseProxy& p) {
      if (!event_stream) p.sse_heartbeat = 20ms;  // on, but the response is no event stream
    });
    if (event_stream) {
      ASSERT_TRUE(s.open());  // an SSE response with heartbeats off
    } else {
      ASSERT_TRUE(s.open(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"));
    }
    ASSERT_TRUE(s.conn->send(chunk("data: a\n\n")));
    ASSERT_TRUE(s.client_body_ends_with("data: a\n\n"));
    EXPECT_FALSE(s.heartbeats_reach(1, 150ms)) << "event_stream=" << event_stream;
  }
}

TEST(SseHeartbeat, NotIntoAStreamTheUpstreamCompressed) {
  // A comment cannot go into gzip: the client could no longer decode the stream.
  SseStream s([](ReverseProxy& p) { p.sse_heartbeat = 20ms; });
  ASSERT_TRUE(
      s.open("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"));
  EXPECT_FALSE(s.heartbeats_reach(1, 200ms));
}

TEST(SseHeartbeat, AByteOrderMarkAfterAHeartbeatIsDropped) {
  // The client strips a BOM only at the very start of its stream; after a heartbeat it would
  // become part of the first field's name, and the first event would be lost.
  SseStream s([](ReverseProxy& p) { p.sse_heartbeat = 30ms; });
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.heartbeats_reach(1));
  ASSERT_TRUE(
      s.conn->send(chunk("\xEF\xBB\xBF"
                         "data: a\n\n")));
  ASSERT_TRUE(s.client_got("data: a\n\n"));
  EXPECT_EQ(dispatched(s.body()), std::vector<std::string>{"data: a"});
}

}  // namespace
}  // namespace sluice::test
