// SPEC 29: copy buffers come from the optional BufferPool, one get and one put per response,
// however the copy ends.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

class CountingPool : public BufferPool {
 public:
  std::span<char> get() override {
    ++gets;
    return {new char[4096], 4096};
  }
  void put(std::span<char> buffer) override {
    ++puts;
    delete[] buffer.data();
  }
  std::atomic<int> gets{0};
  std::atomic<int> puts{0};
};

TEST(BufferPool, Spec29_OneGetAndOnePutPerResponse) {
  CountingPool pool;
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& c) {
    for (int i = 0; i < 10; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (req.target == "/cut") {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n" + std::string(100, 'x'));
        c.reset();
        return;
      }
      // Larger than the pool's 4 KiB buffer: the copy takes several rounds with one buffer.
      if (!c.send(response(200, {}, std::string(20000, 'p')))) return;
    }
  });
  {
    ProxyHarness h(upstream.url(), [&](ReverseProxy& p) { p.buffer_pool = &pool; });
    ParsedResponse res;
    ASSERT_TRUE(http_get(h.port(), "/a", res));
    EXPECT_EQ(res.body, std::string(20000, 'p'));
    ASSERT_TRUE(http_get(h.port(), "/b", res));
    EXPECT_EQ(res.body, std::string(20000, 'p'));
    http_get(h.port(), "/cut", res);  // truncated or 502: either way one get, one put
    ASSERT_TRUE(h.events().wait_for_ends(3));
  }
  EXPECT_EQ(pool.gets.load(), 3);
  EXPECT_EQ(pool.puts.load(), 3);
}

}  // namespace
}  // namespace sluice::test
