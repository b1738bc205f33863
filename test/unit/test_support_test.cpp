// Self-tests of test/support: FakeUpstream and TestClient talk to each other directly (the
// client treats the fake upstream as its server), and EventLog is fed by hand. If these fail,
// no proxy test result means anything.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/event_log.hpp"
#include "support/fake_upstream.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// A connected pair: the client's socket and the upstream's end of it.
struct Pair {
  FakeUpstream upstream;
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
};

testing::AssertionResult connect_pair(Pair& pair) {
  if (auto r = TestClient::connect(pair.upstream.port(), pair.client); !r) return r;
  return pair.upstream.accept(pair.conn);
}

TEST(FakeUpstreamTest, UrlNamesTheLoopbackPort) {
  FakeUpstream upstream;
  EXPECT_NE(upstream.port(), 0);
  EXPECT_EQ(upstream.url("/x"), "http://127.0.0.1:" + std::to_string(upstream.port()) + "/x");
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

TEST(FakeUpstreamTest, ContentLengthRequestAndResponse) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  const std::string request =
      "POST /echo?x=1 HTTP/1.1\r\nHost: test\r\nX-Multi: a\r\nx-multi: b\r\n"
      "Content-Length: 5\r\n\r\nhello";
  ASSERT_TRUE(p.client->send(request));

  RecordedRequest req;
  ASSERT_TRUE(p.conn->read_request(req));
  EXPECT_EQ(req.raw, request);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/echo?x=1");
  EXPECT_EQ(req.version, "HTTP/1.1");
  EXPECT_EQ(req.body, "hello");
  EXPECT_FALSE(req.chunked);
  EXPECT_EQ(req.header("host"), "test");
  EXPECT_EQ(req.header("X-MULTI"), "a");
  EXPECT_EQ(req.values("x-multi"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(req.count("X-Multi"), 2u);
  EXPECT_EQ(req.count("Absent"), 0u);
  EXPECT_EQ(req.header("Absent"), std::nullopt);
  EXPECT_EQ(p.upstream.accepted_count(), 1u);

  ASSERT_TRUE(p.conn->send(response(200, {{"X-A", "1"}}, "world")));
  ParsedResponse res;
  ASSERT_TRUE(p.client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.reason, "OK");
  EXPECT_EQ(res.version, "HTTP/1.1");
  EXPECT_EQ(res.body, "world");
  EXPECT_EQ(res.header("content-length"), "5");
  EXPECT_EQ(res.header("x-a"), "1");
  EXPECT_TRUE(res.complete);
  EXPECT_FALSE(res.chunked);
  EXPECT_TRUE(p.client->received().empty());
}

TEST(FakeUpstreamTest, ChunkedRequestIsDecodedWithTrailers) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  const std::string request =
      "PUT /up HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
      chunk("hello") + "6;ext=\"a b\"\r\n world\r\n" + "0\r\nX-Sum: 42\r\n\r\n";
  ASSERT_TRUE(p.client->send(request));

  RecordedRequest req;
  ASSERT_TRUE(p.conn->read_request(req));
  EXPECT_EQ(req.raw, request);
  EXPECT_TRUE(req.chunked);
  EXPECT_EQ(req.body, "hello world");
  ASSERT_EQ(req.trailers.size(), 1u);
  EXPECT_EQ(req.trailers[0], (std::pair<std::string, std::string>{"X-Sum", "42"}));

  // And the same framing back: chunked response with a trailer.
  ASSERT_TRUE(p.conn->send(response(200, {{"Transfer-Encoding", "chunked"}}) + chunk("ab") +
                           chunk("cd") + "0\r\nX-T: v\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(p.client->read_response(res));
  EXPECT_TRUE(res.chunked);
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.body, "abcd");
  EXPECT_EQ(res.count("Content-Length"), 0u);
  EXPECT_EQ(header_values(res.trailers, "x-t"), std::vector<std::string>{"v"});
}

TEST(FakeUpstreamTest, PipelinedRequestsOnOneConnection) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  const std::string first = "GET /one HTTP/1.1\r\nHost: test\r\n\r\n";
  const std::string second = "POST /two HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc";
  ASSERT_TRUE(p.client->send(first + second));

  RecordedRequest one, two;
  ASSERT_TRUE(p.conn->read_request(one));
  ASSERT_TRUE(p.conn->read_request(two));
  EXPECT_EQ(one.raw, first);
  EXPECT_EQ(one.target, "/one");
  EXPECT_EQ(one.body, "");
  EXPECT_EQ(two.raw, second);
  EXPECT_EQ(two.target, "/two");
  EXPECT_EQ(two.body, "abc");

  // Both responses in one write: the client must split them by framing alone.
  ASSERT_TRUE(p.conn->send(response(200, {}, "first") + response(404, {}, "second!")));
  ParsedResponse r1, r2;
  ASSERT_TRUE(p.client->read_response(r1));
  ASSERT_TRUE(p.client->read_response(r2));
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "first");
  EXPECT_EQ(r2.status, 404);
  EXPECT_EQ(r2.reason, "Not Found");
  EXPECT_EQ(r2.body, "second!");
  EXPECT_EQ(p.client->take(), "");
}

TEST(FakeUpstreamTest, UpstreamResetIsSeenByTheClient) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  EXPECT_FALSE(p.client->peer_closed_now());
  p.conn->reset();
  ASSERT_TRUE(p.client->wait_closed());
  EXPECT_TRUE(p.client->peer_closed_now());
}

TEST(FakeUpstreamTest, ClientResetIsSeenByTheUpstream) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  EXPECT_FALSE(p.conn->peer_closed_now());
  p.client->reset();
  ASSERT_TRUE(p.conn->wait_closed());
  EXPECT_TRUE(p.conn->peer_closed_now());
  RecordedRequest req;
  EXPECT_FALSE(p.conn->read_request(req));
}

TEST(FakeUpstreamTest, CloseAfterPartialBodyKeepsTheBytesForTheClient) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  // An unread request in the upstream's kernel buffer must not turn close() into a RST that
  // would destroy the partial response on its way to the client.
  ASSERT_TRUE(p.client->send("GET / HTTP/1.1\r\nHost: test\r\n\r\n"));
  ASSERT_TRUE(p.conn->send(response(200, {{"Content-Length", "10"}}) + "abc"));
  ASSERT_TRUE(p.client->read_until([](std::string_view got) { return got.ends_with("abc"); }));
  p.conn->close();

  ParsedResponse res;
  const auto result = p.client->read_response(res);
  EXPECT_FALSE(result);
  EXPECT_TRUE(contains(result.message(), "body incomplete")) << result.message();
  EXPECT_FALSE(res.complete);
  EXPECT_EQ(res.body, "abc");
  const auto prefix = parse_response_prefix(p.client->received());
  EXPECT_EQ(prefix.status, 200);
  EXPECT_FALSE(prefix.complete);
  EXPECT_EQ(prefix.body, "abc");
}

TEST(FakeUpstreamTest, ShutdownWriteIsAHalfClose) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  p.client->shutdown_write();
  ASSERT_TRUE(p.conn->wait_closed());
  // The other direction still works.
  ASSERT_TRUE(p.conn->send(response(204, {})));
  ParsedResponse res;
  ASSERT_TRUE(p.client->read_response(res));
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.count("Content-Length"), 0u);
}

TEST(TestClientTest, ReadUntilFailsAtItsDeadline) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  ASSERT_TRUE(p.conn->send("HTTP/1.1 200 OK\r\n"));
  const auto start = std::chrono::steady_clock::now();
  const auto result = p.client->read_until(
      [](std::string_view got) { return got.find("never") != std::string_view::npos; }, 200ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(result);
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_TRUE(contains(result.message(), "deadline of 200ms")) << result.message();
  // The bytes seen so far are in the message, escaped.
  EXPECT_TRUE(contains(result.message(), "HTTP/1.1 200 OK\\r\\n")) << result.message();
}

TEST(TestClientTest, ReadUntilFailsWhenThePeerClosesFirst) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  p.conn->close();
  const auto result = p.client->read_until([](std::string_view got) { return !got.empty(); });
  EXPECT_FALSE(result);
  EXPECT_TRUE(contains(result.message(), "EOF")) << result.message();
}

TEST(TestClientTest, InformationalResponsesAreSkippedAndRecorded) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  ASSERT_TRUE(p.conn->send(response(103, {{"Link", "</s.css>; rel=preload"}}) + response(102, {}) +
                           response(200, {}, "ok")));
  ParsedResponse res;
  ASSERT_TRUE(p.client->read_response(res));
  EXPECT_EQ(res.informational, (std::vector<int>{103, 102}));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok");
  EXPECT_EQ(res.count("Link"), 0u);
}

TEST(TestClientTest, HeadResponseHasNoBody) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  ASSERT_TRUE(p.conn->send(response(200, {{"Content-Length", "100"}}) + response(200, {}, "x")));
  ParsedResponse head, next;
  ASSERT_TRUE(p.client->read_response(head, kDeadline, /*head_request=*/true));
  EXPECT_EQ(head.header("Content-Length"), "100");
  EXPECT_EQ(head.body, "");
  ASSERT_TRUE(p.client->read_response(next));
  EXPECT_EQ(next.body, "x");
}

TEST(TestClientTest, CloseDelimitedBodyEndsAtEof) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  ASSERT_TRUE(p.conn->send("HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil the end"));
  p.conn->close();
  ParsedResponse res;
  ASSERT_TRUE(p.client->read_response(res));
  EXPECT_EQ(res.version, "HTTP/1.0");
  EXPECT_EQ(res.body, "until the end");
  EXPECT_TRUE(res.complete);
}

TEST(TestClientTest, MalformedResponseIsReported) {
  Pair p;
  ASSERT_TRUE(connect_pair(p));
  ASSERT_TRUE(p.conn->send("HTTP/1.1 200 OK\r\nX-Spaced : bar\r\nContent-Length: 0\r\n\r\n"));
  ParsedResponse res;
  const auto result = p.client->read_response(res);
  EXPECT_FALSE(result);
  EXPECT_TRUE(contains(result.message(), "not a token")) << result.message();
}

TEST(FakeUpstreamTest, StrictRequestParsingRejectsSmugglingShapes) {
  const std::vector<std::string> bad = {
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      "GET / HTTP/1.1\nHost: t\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Fold: a\r\n b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (const auto& bytes : bad) {
    Pair p;
    ASSERT_TRUE(connect_pair(p));
    ASSERT_TRUE(p.client->send(bytes));
    RecordedRequest req;
    const auto result = p.conn->read_request(req, 2s);
    EXPECT_FALSE(result) << printable(bytes);
    EXPECT_TRUE(contains(result.message(), "malformed request")) << result.message();
  }
}

TEST(FakeUpstreamTest, AcceptFailsAtItsDeadline) {
  FakeUpstream upstream;
  std::shared_ptr<UpstreamConn> conn;
  const auto result = upstream.accept(conn, 100ms);
  EXPECT_FALSE(result);
  EXPECT_EQ(conn, nullptr);
  EXPECT_TRUE(contains(result.message(), "no connection within 100ms")) << result.message();
}

TEST(FakeUpstreamTest, HandlerModeServesSequentialConnections) {
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& conn) {
    RecordedRequest req;
    // Keep-alive loop: ends when the client closes (or the upstream stops).
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {{"X-Conn", std::to_string(conn.index())}}, req.target))) return;
    }
  });
  for (int i = 0; i < 20; ++i) {
    ParsedResponse res;
    const std::string target = "/n/" + std::to_string(i);
    ASSERT_TRUE(http_get(upstream.port(), target, res, {{"X-Extra", "1"}}));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, target);
    EXPECT_EQ(res.header("X-Conn"), std::to_string(i));
  }
  EXPECT_EQ(upstream.accepted_count(), 20u);
}

TEST(FakeUpstreamTest, DestructorEndsBlockedHandlersAndClosesScriptedConnections) {
  std::unique_ptr<TestClient> scripted, handled;
  auto upstream = std::make_unique<FakeUpstream>();
  std::shared_ptr<UpstreamConn> held;
  ASSERT_TRUE(TestClient::connect(upstream->port(), scripted));
  ASSERT_TRUE(upstream->accept(held));

  std::promise<void> handler_running;
  auto running = handler_running.get_future();
  upstream->set_handler([&handler_running](UpstreamConn& conn) {
    handler_running.set_value();
    RecordedRequest req;
    // Would block for the whole default deadline; the destructor's stop signal must end it.
    EXPECT_FALSE(conn.read_request(req));
  });
  ASSERT_TRUE(TestClient::connect(upstream->port(), handled));
  ASSERT_EQ(running.wait_for(kDeadline), std::future_status::ready);

  const auto start = std::chrono::steady_clock::now();
  upstream.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // Both peers see the close even though the test still holds `held`.
  EXPECT_TRUE(scripted->wait_closed());
  EXPECT_TRUE(handled->wait_closed());
  RecordedRequest req;
  const auto after = held->read_request(req);
  EXPECT_FALSE(after);
  EXPECT_TRUE(contains(after.message(), "stopping")) << after.message();
}

TEST(ParseResponsePrefixTest, TruncatedChunkedBodyIsIncomplete) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const auto cut = parse_response_prefix(head + chunk("hello") + "5\r\nwo");
  EXPECT_EQ(cut.status, 200);
  EXPECT_TRUE(cut.chunked);
  EXPECT_FALSE(cut.complete);
  EXPECT_EQ(cut.body, "hellowo");
  EXPECT_EQ(cut.error, "");

  // A whole chunk but no final 0 chunk: still cut.
  EXPECT_FALSE(parse_response_prefix(head + chunk("hello")).complete);
  const auto whole = parse_response_prefix(head + chunk("hello") + std::string(kLastChunk));
  EXPECT_TRUE(whole.complete);
  EXPECT_EQ(whole.body, "hello");
}

TEST(ParseResponsePrefixTest, ContentLengthAndOtherShapes) {
  const auto short_cl = parse_response_prefix("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_FALSE(short_cl.complete);
  EXPECT_EQ(short_cl.body, "abc");
  EXPECT_TRUE(parse_response_prefix(response(200, {}, "0123456789")).complete);

  const auto no_head = parse_response_prefix("HTTP/1.1 200 OK\r\nContent-");
  EXPECT_EQ(no_head.status, 200);
  EXPECT_FALSE(no_head.complete);
  EXPECT_EQ(parse_response_prefix("").status, 0);

  const auto with_1xx = parse_response_prefix(response(100, {}) + response(201, {}, "x"));
  EXPECT_EQ(with_1xx.informational, std::vector<int>{100});
  EXPECT_EQ(with_1xx.status, 201);
  EXPECT_TRUE(with_1xx.complete);

  const auto close_delimited = parse_response_prefix("HTTP/1.0 200 OK\r\n\r\nrest");
  EXPECT_TRUE(close_delimited.complete);
  EXPECT_EQ(close_delimited.body, "rest");

  const auto garbage = parse_response_prefix("ICY 200 OK\r\n\r\n");
  EXPECT_FALSE(garbage.complete);
  EXPECT_TRUE(contains(garbage.error, "bad status line")) << garbage.error;
}

TEST(ResponseBuilderTest, AddsContentLengthOnlyWhenFramingIsMissing) {
  EXPECT_EQ(response(200, {}, "abc"), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(response(200, {{"content-length", "9"}}, "abc"),
            "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc");
  EXPECT_EQ(response(200, {{"Transfer-Encoding", "chunked"}}),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(response(204, {}), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(chunk(std::string(26, 'a')), "1a\r\n" + std::string(26, 'a') + "\r\n");
}

// ---------------------------------------------------------------------------------------------
// EventLog

TEST(EventLogTest, CorrectLifecyclePasses) {
  EventLog log;
  const auto obs = log.observer();
  obs.flush_timer_started(1);
  obs.client_write(1, 100);
  obs.client_write(2, 5);  // response 2 never armed a flush timer: allowed
  obs.client_write(1, 20);
  obs.flush_timer_stopped(1, FlushStopReason::complete);
  obs.response_end(1, ResponseOutcome::complete);
  obs.response_end(2, ResponseOutcome::complete);
  EXPECT_TRUE(log.check_flush_lifecycle());
  EXPECT_EQ(log.events().size(), 7u);
  EXPECT_EQ(log.events()[1].kind, Event::write);
  EXPECT_EQ(log.events()[1].bytes, 100u);
  EXPECT_EQ(log.events()[4].reason, FlushStopReason::complete);
}

TEST(EventLogTest, WriteAfterStoppedFails) {
  EventLog log;
  const auto obs = log.observer();
  obs.flush_timer_started(7);
  obs.flush_timer_stopped(7, FlushStopReason::upstream_error);
  obs.client_write(7, 3);
  obs.response_end(7, ResponseOutcome::truncated);
  const auto result = log.check_flush_lifecycle();
  EXPECT_FALSE(result);
  EXPECT_TRUE(contains(result.message(), "#7")) << result.message();
  EXPECT_TRUE(contains(result.message(), "after flush_timer_stopped")) << result.message();
}

TEST(EventLogTest, DoubleStopFails) {
  EventLog log;
  const auto obs = log.observer();
  obs.flush_timer_started(3);
  obs.flush_timer_stopped(3, FlushStopReason::client_gone);
  obs.flush_timer_stopped(3, FlushStopReason::shutdown);
  const auto result = log.check_flush_lifecycle();
  EXPECT_FALSE(result);
  EXPECT_TRUE(contains(result.message(), "stopped twice")) << result.message();
}

TEST(EventLogTest, OtherViolationsFail) {
  {
    EventLog log;
    log.observer().flush_timer_stopped(1, FlushStopReason::complete);
    EXPECT_FALSE(log.check_flush_lifecycle());  // stopped without started
  }
  {
    EventLog log;
    log.observer().flush_timer_started(1);
    EXPECT_FALSE(log.check_flush_lifecycle());  // never stopped
  }
  {
    EventLog log;
    const auto obs = log.observer();
    obs.response_end(1, ResponseOutcome::client_gone);
    obs.client_write(1, 1);
    EXPECT_FALSE(log.check_flush_lifecycle());  // event after end
  }
  {
    EventLog log;
    const auto obs = log.observer();
    obs.response_end(1, ResponseOutcome::complete);
    obs.response_end(1, ResponseOutcome::complete);
    EXPECT_FALSE(log.check_flush_lifecycle());  // two ends
  }
}

TEST(EventLogTest, WaitsSeeEventsFromSeveralThreads) {
  EventLog log;
  const auto obs = log.observer();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&obs, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const ResponseId id = static_cast<ResponseId>(t * kPerThread + i);
        obs.flush_timer_started(id);
        obs.client_write(id, 10);
        obs.flush_timer_stopped(id, FlushStopReason::complete);
        obs.response_end(id, ResponseOutcome::complete);
      }
    });
  }
  EXPECT_TRUE(log.wait_for_ends(kThreads * kPerThread));
  EXPECT_TRUE(log.wait_for_stopped(kThreads * kPerThread - 1));
  ResponseId first = 9999;
  EXPECT_TRUE(log.wait_for_any_stopped(kDeadline, &first));
  EXPECT_LT(first, static_cast<ResponseId>(kThreads * kPerThread));
  for (auto& w : workers)
    w.join();
  EXPECT_TRUE(log.check_flush_lifecycle());
}

TEST(EventLogTest, WaitFailsAtItsDeadlineWithASummary) {
  EventLog log;
  log.observer().flush_timer_started(5);
  const auto start = std::chrono::steady_clock::now();
  const auto result = log.wait_for_stopped(5, 100ms);
  EXPECT_FALSE(result);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_TRUE(contains(result.message(), "flush_timer_stopped of response #5")) << result.message();
  EXPECT_TRUE(contains(result.message(), "started #5")) << result.message();
}

}  // namespace
}  // namespace sluice::test
