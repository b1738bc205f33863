// SPEC J (R32-R35) and L7: limits on what clients send, slow clients, and clients that stop
// reading. After each, the proxy still serves a fresh request.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

FakeUpstream::Handler answer_ok() {
  return [](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (!c.send(response(200, {}, "ok " + std::to_string(req.body.size())))) return;
    }
  };
}

// Sends `request`, expects `status` and a close, nothing upstream, then a fresh GET served.
void expect_refused(ProxyHarness& h, FakeUpstream& upstream, const std::string& request,
                    int status) {
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send(request));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, status);
  EXPECT_EQ(res.header("Connection"), "close");
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(upstream.accepted_count(), 0u);
  ParsedResponse fresh;
  ASSERT_TRUE(http_get(h.port(), "/fresh", fresh));
  EXPECT_EQ(fresh.status, 200);
}

TEST(Limits, R32_LongUriIs414) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ServerOptions o;
  o.max_uri_bytes = 1024;
  ProxyHarness h(upstream.url(), {}, o);
  expect_refused(h, upstream, "GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n",
                 414);
}

TEST(Limits, R32_LargeHeaderBlockIs431WithDefaults) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ProxyHarness h(upstream.url());
  std::string request = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 40; ++i)
    request += "X-Big-" + std::to_string(i) + ": " + std::string(2000, 'b') + "\r\n";
  expect_refused(h, upstream, request + "\r\n", 431);
}

TEST(Limits, R33_TooManyHeaderFieldsIs431) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ProxyHarness h(upstream.url());
  std::string request = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 2000; ++i)
    request += "X-H" + std::to_string(i) + ": v\r\n";
  expect_refused(h, upstream, request + "\r\n", 431);
}

TEST(Limits, R33_HundredHeaderFieldsAreFine) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ProxyHarness h(upstream.url());
  std::vector<std::pair<std::string, std::string>> extra;
  for (int i = 0; i < 97; ++i)
    extra.emplace_back("X-H" + std::to_string(i), "v");
  ParsedResponse res;
  ASSERT_TRUE(http_get(h.port(), "/", res, extra));  // + Host and Connection: 99 fields
  EXPECT_EQ(res.status, 200);
}

TEST(Limits, MaxBodyContentLengthIs413BeforeAnythingIsSent) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ServerOptions o;
  o.max_body_bytes = 1000;
  ProxyHarness h(upstream.url(), {}, o);
  expect_refused(
      h, upstream,
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'p'), 413);
}

TEST(Limits, MaxBodyChunkedPastTheLimitIs413) {
  FakeUpstream upstream;
  std::atomic<bool> complete_request_seen{false};
  upstream.set_handler([&](UpstreamConn& c) {
    RecordedRequest req;
    if (c.read_request(req)) complete_request_seen = true;  // must never happen
  });
  ServerOptions o;
  o.max_body_bytes = 1000;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  std::string body;
  for (int i = 0; i < 5; ++i)
    body += chunk(std::string(500, 'c'));
  ASSERT_TRUE(client->send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           body + std::string(kLastChunk)));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 413);
  ASSERT_TRUE(client->wait_closed());
  ASSERT_TRUE(h.events().wait_for_ends(1));
  EXPECT_FALSE(complete_request_seen.load());
}

TEST(Limits, MaxBodyWithinTheLimitIsForwarded) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ServerOptions o;
  o.max_body_bytes = 1000;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
                           std::string(1000, 'p')));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "ok 1000");
}

TEST(Limits, R34_SlowlorisDoesNotStopNormalClientsAndGets408) {
  FakeUpstream upstream;
  upstream.set_handler(answer_ok());
  ServerOptions o;
  o.header_timeout = 1s;
  ProxyHarness h(upstream.url(), {}, o);
  // 64 connections that start a head and never finish it.
  std::vector<std::unique_ptr<TestClient>> slow(64);
  for (auto& c : slow) {
    ASSERT_TRUE(TestClient::connect(h.port(), c));
    ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: sl"));
  }
  // A normal client is served meanwhile.
  ParsedResponse res;
  ASSERT_TRUE(http_get(h.port(), "/normal", res));
  EXPECT_EQ(res.status, 200);
  // Each slow one gets its 408 and the close once header_timeout passed.
  for (auto& c : slow) {
    ParsedResponse timed_out;
    ASSERT_TRUE(c->read_response(timed_out));
    EXPECT_EQ(timed_out.status, 408);
    ASSERT_TRUE(c->wait_closed());
  }
  EXPECT_TRUE(h.server().wait_for_no_sessions(5s));
}

TEST(Limits, L7_WriteTimeoutCutsAClientThatStopsReading) {
  // R35: a client that reads nothing cannot pin the proxy: after write_timeout without
  // progress the exchange ends as client_gone and the upstream connection is closed.
  // Set by the upstream's handler thread, which may still be running when the proxy is done:
  // waited on with a deadline, never read racily. Declared before the upstream, whose
  // destructor joins that thread.
  std::promise<bool> saw_close;
  auto upstream_saw_close = saw_close.get_future();
  FakeUpstream upstream;
  upstream.set_handler([&](UpstreamConn& c) {
    RecordedRequest req;
    if (!c.read_request(req)) return;
    const std::size_t total = 256u << 20;
    if (!c.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n")) return;
    const std::string block(256 * 1024, 'w');
    for (std::size_t sent = 0; sent < total; sent += block.size()) {
      if (!c.send(block, 2s)) break;  // blocks once every buffer on the way is full
    }
    saw_close.set_value(static_cast<bool>(c.wait_closed(10s)));
  });
  ServerOptions o;
  o.write_timeout = 300ms;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(h.events().wait_for_ends(1, 15s));
  EXPECT_EQ(h.events().events().back().outcome, ResponseOutcome::client_gone);
  EXPECT_TRUE(h.log_contains("client aborted"));
  h.stop();
  ASSERT_EQ(upstream_saw_close.wait_for(15s), std::future_status::ready);
  EXPECT_TRUE(upstream_saw_close.get());
}

TEST(Limits, R35_ClientThatStallsMidUploadIsCut) {
  // The body read is bounded too (write_timeout bounds each read): a client that sends part of
  // its body and stalls is cut, the upstream never sees a complete request, and a fresh
  // request is still served.
  std::atomic<bool> complete_request_seen{false};
  std::promise<void> saw_close;  // set once, by the handler that saw the cut upload
  auto upstream_saw_close = saw_close.get_future();
  FakeUpstream upstream;
  upstream.set_handler([&](UpstreamConn& c) {
    RecordedRequest req;
    if (c.read_request(req, 10s)) {
      if (req.target == "/fresh") {
        c.send(response(200, {}, "fresh"));
        return;
      }
      complete_request_seen = true;
      return;
    }
    saw_close.set_value();  // read_request failed: the proxy closed mid-body
  });
  ServerOptions o;
  o.write_timeout = 300ms;
  ProxyHarness h(upstream.url(), {}, o);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  ASSERT_TRUE(client->send("POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
                           std::string(10, 's')));
  ASSERT_TRUE(h.events().wait_for_ends(1));
  EXPECT_EQ(h.events().events().back().outcome, ResponseOutcome::client_gone);
  ASSERT_TRUE(client->wait_closed());
  ParsedResponse fresh;
  ASSERT_TRUE(http_get(h.port(), "/fresh", fresh));
  EXPECT_EQ(fresh.body, "fresh");
  h.stop();
  EXPECT_FALSE(complete_request_seen.load());
  EXPECT_EQ(upstream_saw_close.wait_for(15s), std::future_status::ready);
}

}  // namespace
}  // namespace sluice::test
