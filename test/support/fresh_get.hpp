#pragma once
// After a fault, the proxy must still serve a fresh GET on a fresh client connection through a
// fresh upstream connection (SPEC K: nothing poisoned, no bad connection left in the pool).
#include <gtest/gtest.h>

#include <memory>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {

// Use with ASSERT_NO_FATAL_FAILURE. `upstream` must be in scripted mode (accept()).
inline void expect_serves_fresh_get(FakeUpstream& upstream, ProxyHarness& proxy) {
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /alive HTTP/1.1\r\nHost: example\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.target, "/alive");
  ASSERT_TRUE(conn->send(response(200, {}, "alive")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "alive");
  EXPECT_TRUE(res.informational.empty());
}

}  // namespace sluice::test
