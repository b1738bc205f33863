// End-to-end smoke: one GET through the proxy to a scripted upstream.
#include <gtest/gtest.h>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

TEST(Smoke, GetThroughProxy) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /hello?x=1 HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/hello?x=1");
  EXPECT_EQ(req.header("Host"), "example");
  ASSERT_TRUE(conn->send(response(200, {{"Content-Type", "text/plain"}}, "hi there")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hi there");
  EXPECT_EQ(res.header("Content-Length"), "8");
}

}  // namespace
}  // namespace sluice::test
