// ReverseProxy::sse_resume: an SSE stream whose upstream fails mid-stream continues on a new
// upstream response asked for with Last-Event-ID; the client gets every event whole and once,
// in one response. Each attempt is an event (Observer::sse_resume) and a metric.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/metrics.hpp"
#include "support/fake_upstream.hpp"
#include "support/prometheus_text.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"
#include "support/transport_options.hpp"
#include "transport/balancing_transport.hpp"
#include "transport/server_registry.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::vector<Event> resumes(const std::vector<Event>& events) {
  std::vector<Event> out;
  std::copy_if(events.begin(), events.end(), std::back_inserter(out),
               [](const Event& e) { return e.kind == Event::resume; });
  return out;
}

struct ResumedStream {
  FakeUpstream upstream;
  std::unique_ptr<ProxyHarness> proxy;
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
  RecordedRequest first;

  explicit ResumedStream(unsigned attempts = 3, ProxyHarness::Configure more = {}) {
    proxy = std::make_unique<ProxyHarness>(upstream.url(), [attempts, more](ReverseProxy& p) {
      p.sse_resume = true;
      p.sse_resume_attempts = attempts;
      if (more) more(p);
    });
  }

  testing::AssertionResult open(
      std::string_view request = "GET /events?room=1 HTTP/1.1\r\nHost: t\r\nX-Token: k\r\n\r\n") {
    if (auto r = TestClient::connect(proxy->port(), client); !r) return r;
    if (!client->send(request)) return testing::AssertionFailure() << "send failed";
    if (auto r = upstream.accept(conn); !r) return r;
    if (auto r = conn->read_request(first); !r) return r;
    if (!conn->send(kSseHead)) return testing::AssertionFailure() << "upstream send failed";
    return testing::AssertionSuccess();
  }

  // The next upstream connection and its request.
  testing::AssertionResult next(RecordedRequest& req) {
    if (auto r = upstream.accept(conn); !r) return r;
    return conn->read_request(req);
  }

  testing::AssertionResult client_body_is(std::string_view want) {
    return client->read_until(
        [want](std::string_view got) { return parse_response_prefix(got).body == want; });
  }
};

TEST(SseResume, ContinuesTheSameResponseAfterAResetWithLastEventId) {
  ResumedStream s;
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("id: 1\ndata: a\n\n") + chunk("id: 2\ndata: b\n\ndata: par")));
  ASSERT_TRUE(s.client_body_is("id: 1\ndata: a\n\nid: 2\ndata: b\n\n"));  // not "data: par"
  s.conn->reset();

  RecordedRequest again;
  ASSERT_TRUE(s.next(again));
  EXPECT_EQ(again.method, "GET");
  EXPECT_EQ(again.target, s.first.target);
  EXPECT_EQ(again.header("X-Token"), "k");
  EXPECT_EQ(again.header("Last-Event-ID"), "2");
  EXPECT_EQ(again.count("Last-Event-ID"), 1u);
  // The new upstream replays the unfinished event whole; the client gets it once.
  ASSERT_TRUE(s.conn->send(std::string(kSseHead) + chunk("data: partial\n\nid: 3\ndata: c\n\n")));
  ASSERT_TRUE(s.conn->send(kLastChunk));
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  ASSERT_TRUE(
      s.client_body_is("id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: partial\n\nid: 3\ndata: c\n\n"));
  const ParsedResponse r = parse_response_prefix(s.client->received());
  EXPECT_TRUE(r.complete);

  const auto events = s.proxy->events().events();
  const auto attempts = resumes(events);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].result, SseResumeResult::resumed);
  EXPECT_EQ(attempts[0].attempt, 1u);
  EXPECT_EQ(events.back().outcome, ResponseOutcome::complete);
  EXPECT_TRUE(s.proxy->events().check_flush_lifecycle());
  EXPECT_TRUE(s.proxy->log_contains("SSE stream resumed"));
}

TEST(SseResume, AfterACleanCloseMidStreamAndSplitEvents) {
  ResumedStream s;
  ASSERT_TRUE(s.open());
  // An event split across chunks, CRLF endings: it reaches the client only when whole.
  ASSERT_TRUE(s.conn->send(chunk("id: 7\r\ndata: ") + chunk("x\r\n") + chunk("\r\nid: 8\r\nda")));
  ASSERT_TRUE(s.client_body_is("id: 7\r\ndata: x\r\n\r\n"));
  s.conn->close();  // FIN without the last chunk: truncated upstream
  RecordedRequest again;
  ASSERT_TRUE(s.next(again));
  EXPECT_EQ(again.header("Last-Event-ID"), "7");
  // A byte-order mark at the start of the new stream is dropped: the client saw one stream.
  ASSERT_TRUE(s.conn->send(std::string(kSseHead) + chunk("\xEF\xBB\xBFid: 8\r\ndata: y\r\n\r\n")));
  ASSERT_TRUE(s.client_body_is("id: 7\r\ndata: x\r\n\r\nid: 8\r\ndata: y\r\n\r\n"));
}

TEST(SseResume, AfterTheUpstreamIdleTimeout) {
  ResumedStream s(3, [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::idle_read_timeout, 200ms);
  });
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("id: a1\ndata: 1\n\n")));
  ASSERT_TRUE(s.client_body_is("id: a1\ndata: 1\n\n"));
  auto silent = s.conn;  // says nothing more
  RecordedRequest again;
  ASSERT_TRUE(s.next(again));
  EXPECT_EQ(again.header("Last-Event-ID"), "a1");
  ASSERT_TRUE(s.conn->send(std::string(kSseHead) + chunk("id: a2\ndata: 2\n\n")));
  ASSERT_TRUE(s.client_body_is("id: a1\ndata: 1\n\nid: a2\ndata: 2\n\n"));
}

TEST(SseResume, GivesUpAfterTheAttemptsAndCutsTheStream) {
  ResumedStream s(2);
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("id: 1\ndata: a\n\n")));
  ASSERT_TRUE(s.client_body_is("id: 1\ndata: a\n\n"));
  s.conn->reset();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    RecordedRequest again;
    ASSERT_TRUE(s.next(again)) << "attempt " << attempt;
    EXPECT_EQ(again.header("Last-Event-ID"), "1");
    s.conn->reset();  // before any response head
  }
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  ASSERT_TRUE(s.client->wait_closed());
  const ParsedResponse r = parse_response_prefix(s.client->received());
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.body, "id: 1\ndata: a\n\n");
  const auto events = s.proxy->events().events();
  const auto attempts = resumes(events);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].result, SseResumeResult::failed);
  EXPECT_EQ(attempts[1].result, SseResumeResult::failed);
  EXPECT_EQ(attempts[1].attempt, 2u);
  EXPECT_EQ(events.back().outcome, ResponseOutcome::truncated);
  EXPECT_EQ(s.upstream.accepted_count(), 3u);  // the first and two attempts, no third
  EXPECT_TRUE(s.proxy->events().check_flush_lifecycle());
}

TEST(SseResume, AReplacementThatDeliversNoNewEventEarnsNoFreshAttempts) {
  ResumedStream s(2);
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("id: 1\ndata: a\n\n")));
  ASSERT_TRUE(s.client_body_is("id: 1\ndata: a\n\n"));
  s.conn->reset();
  // Two replacements answer, send a comment or a retry only, and fail: two attempts in all.
  for (const std::string_view said : {": ok\n", "retry: 10\n\n"}) {
    RecordedRequest again;
    ASSERT_TRUE(s.next(again));
    EXPECT_EQ(again.header("Last-Event-ID"), "1");
    ASSERT_TRUE(s.conn->send(std::string(kSseHead) + chunk(said)));
    ASSERT_TRUE(s.client->read_until(
        [said](std::string_view got) { return parse_response_prefix(got).body.ends_with(said); }));
    s.conn->reset();
  }
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  EXPECT_EQ(s.proxy->events().events().back().outcome, ResponseOutcome::truncated);
  EXPECT_EQ(s.upstream.accepted_count(), 3u);
  const auto attempts = resumes(s.proxy->events().events());
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1].attempt, 2u);
}

TEST(SseResume, ANewResponseThatIsNoEventStreamEndsTheAttempts) {
  ResumedStream s(3);
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("id: 1\ndata: a\n\n")));
  ASSERT_TRUE(s.client_body_is("id: 1\ndata: a\n\n"));
  s.conn->reset();
  RecordedRequest again;
  ASSERT_TRUE(s.next(again));
  ASSERT_TRUE(s.conn->send(response(404, {{"Content-Type", "text/plain"}}, "gone\n")));
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  ASSERT_TRUE(s.client->wait_closed());
  EXPECT_EQ(parse_response_prefix(s.client->received()).body, "id: 1\ndata: a\n\n");
  EXPECT_EQ(resumes(s.proxy->events().events()).size(), 1u);
  EXPECT_EQ(s.upstream.accepted_count(), 2u);
}

TEST(SseResume, NeverForPost) {
  ResumedStream s;
  ASSERT_TRUE(s.open("POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(s.conn->send(chunk("id: 1\ndata: a\n\n")));
  ASSERT_TRUE(s.client_body_is("id: 1\ndata: a\n\n"));
  s.conn->reset();
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  ASSERT_TRUE(s.client->wait_closed());
  EXPECT_TRUE(resumes(s.proxy->events().events()).empty());
  EXPECT_EQ(s.upstream.accepted_count(), 1u);
}

TEST(SseResume, NeverWithoutAnEventId) {
  ResumedStream s;
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.conn->send(chunk("data: a\n\n")));  // no id: the client has nothing to send
  ASSERT_TRUE(s.client_body_is("data: a\n\n"));
  s.conn->reset();
  ASSERT_TRUE(s.proxy->events().wait_for_ends(1));
  EXPECT_TRUE(resumes(s.proxy->events().events()).empty());
  EXPECT_EQ(s.upstream.accepted_count(), 1u);
}

TEST(SseResume, OffByDefault) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  // Without resume, bytes are forwarded as they come: the half event too.
  ASSERT_TRUE(conn->send(std::string(kSseHead) + chunk("id: 1\ndata: a\n\ndata: par")));
  ASSERT_TRUE(client->read_until([](std::string_view got) {
    return parse_response_prefix(got).body == "id: 1\ndata: a\n\ndata: par";
  }));
  conn->reset();
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  EXPECT_EQ(upstream.accepted_count(), 1u);
}

TEST(SseResume, GoesToAnotherServerOfThePoolAndIsCounted) {
  FakeUpstream a;
  FakeUpstream b;
  ServerRegistry registry;
  std::vector<PoolMember> members;
  for (FakeUpstream* u : {&a, &b}) {
    PoolMember m;
    m.transport = registry.transport(u->url(), "opts", [] { return make_http1_transport(); });
    m.server = registry.server(u->url());
    m.url = *Url::parse(u->url());
    m.metrics_server = members.size();
    members.push_back(std::move(m));
  }
  BalancingOptions options;
  options.upstream = "pool";
  // hash on the client's address: every request of this client goes to one server, so only the
  // avoidance of the failed server sends the resume to the other one.
  options.policy = BalancePolicy::hash;
  options.hash_key = HashKey{HashKey::Kind::client_ip, {}};
  auto pool = std::make_shared<BalancingTransport>(std::move(options), std::move(members));
  MetricsLayout layout;
  layout.upstreams.push_back({"pool", {a.url(), b.url()}});
  layout.routes.push_back({"events", 0});
  auto metrics = std::make_shared<Metrics>(layout);
  ProxyHarness proxy(a.url(), [&](ReverseProxy& p) {
    p.transport = pool;
    p.sse_resume = true;
    p.metrics = metrics;
    p.metrics_route = 0;
  });

  // Both servers answer the first request of a stream; whichever gets it fails, and the resume
  // must go to the other one.
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  FakeUpstream* first = &a;
  FakeUpstream* other = &b;
  if (!a.accept(conn, 1s)) {
    std::swap(first, other);
    ASSERT_TRUE(first->accept(conn));
  }
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(std::string(kSseHead) + chunk("id: 5\ndata: a\n\n")));
  ASSERT_TRUE(client->read_until([](std::string_view got) {
    return parse_response_prefix(got).body == "id: 5\ndata: a\n\n";
  }));
  conn->reset();
  std::shared_ptr<UpstreamConn> second;
  ASSERT_TRUE(other->accept(second));
  ASSERT_TRUE(second->read_request(req));
  EXPECT_EQ(req.header("Last-Event-ID"), "5");
  ASSERT_TRUE(
      second->send(std::string(kSseHead) + chunk("id: 6\ndata: b\n\n") + std::string(kLastChunk)));
  ASSERT_TRUE(proxy.events().wait_for_ends(1));
  EXPECT_EQ(first->accepted_count(), 1u);

  const std::string text = metrics->expose();
  std::vector<prometheus::Family> families;
  ASSERT_TRUE(prometheus::parses_strictly(text, &families));
  EXPECT_EQ(prometheus::value(families, "sluice_sse_resumes_total",
                              {{"route", "events"}, {"result", "resumed"}}),
            1.0)
      << text;
  EXPECT_EQ(prometheus::value(families, "sluice_sse_resumes_total",
                              {{"route", "events"}, {"result", "failed"}}),
            0.0);
}

}  // namespace
}  // namespace sluice::test
