// ServerOptions::max_connections (the fleet's listeners[].max_connections): a full listener
// stops accepting, so the next client waits in the kernel's accept backlog, and is accepted
// and served as soon as a connection closes. Nothing is refused and nothing crashes.
#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "sluice/server.hpp"
#include "support/deadline.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls a counter with a deadline (the server has no event for an accept).
template <typename F>
testing::AssertionResult eventually(F&& done, const char* what) {
  const auto until = Clock::now() + kDeadline;
  while (Clock::now() < until) {
    if (done()) return testing::AssertionSuccess();
    std::this_thread::sleep_for(2ms);
  }
  return testing::AssertionFailure() << what << " did not happen within the deadline";
}

// A named response, not a temporary in the co_await: GCC 12 destroys such temporaries twice
// (docs/architecture.md, "Coroutine conventions").
boost::asio::awaitable<void> answer_ok(Exchange& ex) {
  SimpleResponse ok{200, {}, "ok"};
  co_await ex.respond(std::move(ok));
}

// A server that answers "ok", with `threads` workers and at most `max` connections.
std::unique_ptr<Server> start_server(unsigned threads, std::uint32_t max) {
  ServerOptions options;
  options.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
  options.threads = threads;
  options.max_connections = max;
  options.access_log = AccessLog::off;
  auto server = std::make_unique<Server>(options, answer_ok);
  server->start();
  return server;
}

const std::string kRequest = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(MaxConnections, AFullListenerAcceptsTheNextClientOnlyWhenOneCloses) {
  const auto started = start_server(1, 2);
  Server& server = *started;
  const std::uint16_t port = server.local_endpoint().port();

  std::unique_ptr<TestClient> first, second, third;
  ASSERT_TRUE(TestClient::connect(port, first));
  ASSERT_TRUE(TestClient::connect(port, second));
  ParsedResponse res;
  ASSERT_TRUE(first->send(kRequest));
  ASSERT_TRUE(first->read_response(res));
  ASSERT_TRUE(second->send(kRequest));
  ASSERT_TRUE(second->read_response(res));
  EXPECT_EQ(server.accepted_connections(), 2u);

  // The kernel completes the third handshake (backlog); sluice does not accept it.
  ASSERT_TRUE(TestClient::connect(port, third));
  ASSERT_TRUE(third->send(kRequest));
  EXPECT_FALSE(third->read_response(res, 300ms)) << "served past max_connections";
  EXPECT_EQ(server.accepted_connections(), 2u);
  EXPECT_EQ(server.live_sessions(), 2);

  first->close();
  ASSERT_TRUE(third->read_response(res)) << "the waiting client is served once a place is free";
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(server.accepted_connections(), 3u);
  EXPECT_TRUE(eventually([&] { return server.live_sessions() == 2; }, "two sessions left"));
  server.stop(1s);
}

TEST(MaxConnections, AStopEndsAnAcceptLoopThatWaitsForAPlace) {
  const auto started_server = start_server(2, 1);
  Server& server = *started_server;
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(server.local_endpoint().port(), client));
  ASSERT_TRUE(eventually([&] { return server.live_sessions() == 1; }, "the session"));
  const auto started = Clock::now();
  server.stop(0s);  // both workers' accept loops are parked on the full listener
  EXPECT_LT(Clock::now() - started, kDeadline);
}

}  // namespace
}  // namespace sluice::test
