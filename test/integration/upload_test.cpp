// Uploads (SPEC 14, L5, L6): an upstream that answers before the body is all sent.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

TEST(Upload, EarlyUpstreamAnswerIsRelayedWithoutWaitingForTheIdleTimeout) {
  // The upstream reads only the head, answers 413 and stops reading: the proxy must stop
  // pushing the 16 MiB body and relay the 413 now, not after idle_read_timeout (a 502).
  FakeUpstream upstream;
  std::shared_ptr<UpstreamConn> conn;
  ProxyHarness h(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::idle_read_timeout, 60s);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  constexpr std::size_t kBody = 16u << 20;
  ASSERT_TRUE(client->send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
  std::atomic<bool> stop_sending{false};
  std::thread sender([&] {
    const std::string block(64 * 1024, 'u');
    for (std::size_t sent = 0; sent < kBody && !stop_sending; sent += block.size()) {
      if (!client->send(block, 200ms)) continue;  // blocked: the proxy stopped reading
    }
  });
  ASSERT_TRUE(upstream.accept(conn));
  ASSERT_TRUE(conn->read_until(
      [](std::string_view got) { return got.find("\r\n\r\n") != std::string_view::npos; }));
  ASSERT_TRUE(conn->send(response(413, {{"Connection", "close"}}, "too big")));
  ParsedResponse res;
  const bool got = client->read_response(res, 5s);
  stop_sending = true;
  sender.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(res.status, 413);
  EXPECT_EQ(res.body, "too big");
  ASSERT_TRUE(h.events().wait_for_ends(1));
  EXPECT_EQ(h.proxy().counts().upstream_idle, 0);  // an incomplete request is never pooled
}

TEST(Upload, InterimResponseDuringTheUploadDoesNotStopTheBody) {
  // An unsolicited 100 (or a 102) before the upstream read the body is not an early answer:
  // the body keeps flowing (as with Go's transport) and the final response follows.
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& c) {
    if (!c.read_until([](std::string_view got) { return got.find("\r\n\r\n") != got.npos; })) {
      return;
    }
    if (!c.send("HTTP/1.1 102 Processing\r\n\r\n")) return;
    // Now the whole request (head already buffered, body still arriving).
    RecordedRequest req;
    if (!c.read_request(req, 10s)) return;
    c.send(response(200, {}, "got " + std::to_string(req.body.size())));
  });
  ProxyHarness h(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h.port(), client));
  constexpr std::size_t kBody = 4u << 20;
  std::thread sender([&] {
    client->send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(kBody) +
                     "\r\n\r\n" + std::string(kBody, 'b'),
                 10s);
  });
  ParsedResponse res;
  const bool got = client->read_response(res, 10s);
  sender.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "got " + std::to_string(kBody));
  EXPECT_EQ(res.informational, std::vector<int>{102});
}

}  // namespace
}  // namespace sluice::test
