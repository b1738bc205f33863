// BalancingTransport (src/transport/balancing_transport.hpp) behind a real Server and
// ReverseProxy: how requests spread over an upstream pool (round robin, least_conn, hash),
// that streams count as active until they end, what happens when no server is available, which
// failures are retried (and which never are), passive ejection, max_requests, the retry budget,
// and that the logs name the server that answered.
//
// The pools are built the way the fleet builds them (app/fleet_runtime.cpp): servers and their
// transports come from one ServerRegistry, so two BalancingTransports over the same URLs share
// their UpstreamServer objects, as a reload does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/metrics.hpp"
#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "sluice/transport.hpp"
#include "sluice/url.hpp"
#include "support/fake_upstream.hpp"
#include "support/json_check.hpp"
#include "support/prometheus_text.hpp"
#include "support/proxy_harness.hpp"
#include "support/refusing_port.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"
#include "transport/balancing_transport.hpp"
#include "transport/server_health.hpp"
#include "transport/server_registry.hpp"
#include "transport/upstream_server.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- Support --------------------------------------------------------------------------------

// A backend that answers every request with 200 and its name as the body, on keep-alive
// connections, and keeps what it received: the client's response says which server answered.
class NamedBackend {
 public:
  explicit NamedBackend(std::string name) : name_(std::move(name)) {
    upstream_.set_handler([this](UpstreamConn& conn) { serve(conn); });
  }

  const std::string& name() const { return name_; }
  std::string url() const { return upstream_.url(); }
  std::size_t connections() const { return upstream_.accepted_count(); }
  std::vector<RecordedRequest> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t requests() const {
    std::lock_guard lock(mutex_);
    return received_.size();
  }

 private:
  void serve(UpstreamConn& conn) {
    for (;;) {
      RecordedRequest req;
      // Long: a pooled connection waits here for the proxy's next request; the upstream's stop
      // ends the wait at once when the test is over.
      if (!conn.read_request(req, std::chrono::minutes(1))) return;
      {
        std::lock_guard lock(mutex_);
        received_.push_back(std::move(req));
      }
      if (!conn.send(response(200, {}, name_))) return;
    }
  }

  const std::string name_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> received_;
  FakeUpstream upstream_;  // last: destroyed first, joining the handler threads that use the rest
};

// A pool member as the fleet makes it: the registry's server and transport for `url`.
//
// The transport is made first: the process's first HTTP/1 transport loads the system CA bundle,
// which takes a while under the sanitizers. A new server is in slow start
// (UpstreamServer::warmth ramps its weight up from when it was made), so servers made together
// keep their weight ratio while they warm; one made before that load would be older than the
// others and take more than its share for the whole test.
PoolMember member(ServerRegistry& registry, const std::string& url, std::uint32_t weight = 1) {
  PoolMember m;
  m.transport = registry.transport(url, "opts", [] { return make_http1_transport(); });
  m.server = registry.server(url);
  m.url = *Url::parse(url);
  m.weight = weight;
  return m;
}

std::shared_ptr<BalancingTransport> make_pool(BalancePolicy policy, std::vector<PoolMember> members,
                                              std::uint32_t retries = 0, HashKey key = {}) {
  BalancingOptions options;
  options.upstream = "backends";
  options.policy = policy;
  options.hash_key = std::move(key);
  options.retries = retries;
  return std::make_shared<BalancingTransport>(std::move(options), std::move(members));
}

// A proxy whose transport is `pool`. The director's target is one of the pool's servers (the
// fleet takes the first): the balancing transport replaces its scheme, host and port with the
// server it picks.
std::unique_ptr<ProxyHarness> proxy_over(const std::shared_ptr<BalancingTransport>& pool,
                                         const std::string& target, ServerOptions options = {}) {
  return std::make_unique<ProxyHarness>(
      target,
      [pool](ReverseProxy& p) {
        p.transport = pool;
        p.flush_interval = -1ns;  // stream bytes reach the client at once
      },
      std::move(options));
}

std::string get_request(std::string_view target, const Headers& headers = {}) {
  std::string req = "GET " + std::string(target) + " HTTP/1.1\r\nHost: example\r\n";
  for (const auto& [name, value] : headers)
    req += name + ": " + value + "\r\n";
  return req + "\r\n";
}

std::string post_request(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: example\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

// One request on the client's keep-alive connection, and its response.
testing::AssertionResult exchange(TestClient& client, const std::string& request,
                                  ParsedResponse& res) {
  if (!client.send(request)) return testing::AssertionFailure() << "the proxy took no request";
  return client.read_response(res);
}

// A GET on the client's connection that must be answered 200 by one of the named backends:
// that backend's name.
testing::AssertionResult served_by(TestClient& client, std::string_view target, std::string& name,
                                   const Headers& headers = {}) {
  ParsedResponse res;
  auto got = exchange(client, get_request(target, headers), res);
  if (!got) return got;
  if (res.status != 200) {
    return testing::AssertionFailure() << "GET " << target << " got " << res.status;
  }
  name = res.body;
  return testing::AssertionSuccess();
}

// A fresh connection's answer to `request`.
testing::AssertionResult answer_on_new_connection(std::uint16_t port, const std::string& request,
                                                  ParsedResponse& res) {
  std::unique_ptr<TestClient> client;
  auto connected = TestClient::connect(port, client);
  if (!connected) return connected;
  return exchange(*client, request, res);
}

// Some values the code under test exposes only as counts (UpstreamServer::active(), an
// upstream's accepted connections), with no event to wait on: polled, bounded by a deadline.
testing::AssertionResult eventually(const std::function<bool()>& pred, std::string_view what,
                                    std::chrono::milliseconds deadline = kDeadline) {
  const auto until = Clock::now() + deadline;
  while (!pred()) {
    if (Clock::now() >= until) {
      return testing::AssertionFailure() << what << ": not within " << deadline.count() << " ms";
    }
    std::this_thread::sleep_for(1ms);
  }
  return testing::AssertionSuccess();
}

// The next connection of whichever scripted upstream gets one first: `which` is 0 or 1.
testing::AssertionResult accept_either(FakeUpstream& a, FakeUpstream& b, std::size_t a_before,
                                       std::size_t b_before, std::shared_ptr<UpstreamConn>& conn,
                                       int& which) {
  auto arrived =
      eventually([&] { return a.accepted_count() > a_before || b.accepted_count() > b_before; },
                 "a connection to either upstream");
  if (!arrived) return arrived;
  which = a.accepted_count() > a_before ? 0 : 1;
  return (which == 0 ? a : b).accept(conn);
}

// The head and first event of an SSE stream that stays open until the test ends it.
constexpr std::string_view kStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
std::string first_event() { return chunk("data: tick\n\n"); }

testing::AssertionResult got_first_event(TestClient& client) {
  return client.read_until([](std::string_view got) { return contains(got, "data: tick"); });
}

// `count` is `expected` ± 10 %.
testing::AssertionResult within_ten_percent(std::size_t count, double expected) {
  if (count >= expected * 0.9 && count <= expected * 1.1) return testing::AssertionSuccess();
  return testing::AssertionFailure() << count << " is not within 10 % of " << expected;
}

// ---- Round robin ------------------------------------------------------------------------------

TEST(Balancing, RoundRobinSpreadsEvenly) {
  NamedBackend a("A"), b("B"), c("C");
  ServerRegistry registry;
  auto pool =
      make_pool(BalancePolicy::round_robin,
                {member(registry, a.url()), member(registry, b.url()), member(registry, c.url())});
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));

  std::map<std::string, std::size_t> served;
  for (int i = 0; i < 300; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/rr/" + std::to_string(i), name));
    ++served[name];
  }
  for (const auto* backend : {&a, &b, &c}) {
    EXPECT_TRUE(within_ten_percent(served[backend->name()], 100)) << backend->name();
    EXPECT_EQ(backend->requests(), served[backend->name()]);
  }
}

TEST(Balancing, RoundRobinFollowsWeights) {
  NamedBackend a("A"), b("B"), c("C");
  ServerRegistry registry;
  auto pool = make_pool(
      BalancePolicy::round_robin,
      {member(registry, a.url(), 2), member(registry, b.url(), 1), member(registry, c.url(), 1)});
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));

  std::map<std::string, std::size_t> served;
  for (int i = 0; i < 300; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/weighted", name));
    ++served[name];
  }
  EXPECT_TRUE(within_ten_percent(served["A"], 150));
  EXPECT_TRUE(within_ten_percent(served["B"], 75));
  EXPECT_TRUE(within_ten_percent(served["C"], 75));
}

// ---- least_conn and the active count ---------------------------------------------------------

// 20 streams held open on A through one transport (a route whose pool is only A) make A the
// busiest server for another transport over A, B and C that shares A's UpstreamServer (what a
// reload or a second route does): least_conn sends new requests to B and C only. A stream
// counts as active until its body ends, not until its head arrived.
TEST(Balancing, LeastConnAvoidsServerBusyWithStreams) {
  FakeUpstream a;
  NamedBackend b("B"), c("C");
  ServerRegistry registry;
  auto only_a = make_pool(BalancePolicy::round_robin, {member(registry, a.url())});
  auto all =
      make_pool(BalancePolicy::least_conn,
                {member(registry, a.url()), member(registry, b.url()), member(registry, c.url())});
  const std::shared_ptr<UpstreamServer> server_a = registry.server(a.url());
  auto streams_proxy = proxy_over(only_a, a.url());
  auto proxy = proxy_over(all, a.url());

  constexpr std::size_t kStreams = 20;
  std::vector<std::unique_ptr<TestClient>> clients(kStreams);
  std::vector<std::shared_ptr<UpstreamConn>> conns(kStreams);
  for (std::size_t i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(TestClient::connect(streams_proxy->port(), clients[i]));
    ASSERT_TRUE(clients[i]->send(get_request("/stream/" + std::to_string(i))));
    ASSERT_TRUE(a.accept(conns[i]));
    RecordedRequest req;
    ASSERT_TRUE(conns[i]->read_request(req));
    ASSERT_TRUE(conns[i]->send(std::string(kStreamHead) + first_event()));
    ASSERT_TRUE(got_first_event(*clients[i]));
  }
  EXPECT_EQ(server_a->active(), kStreams) << "open streams are not counted as active on A";

  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));
  std::map<std::string, std::size_t> served;
  for (int i = 0; i < 30; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/short", name));
    ++served[name];
  }
  EXPECT_EQ(served["B"] + served["C"], 30u);
  EXPECT_GT(served["B"], 0u) << "least_conn's ties should take turns";
  EXPECT_GT(served["C"], 0u) << "least_conn's ties should take turns";
  EXPECT_EQ(a.accepted_count(), kStreams) << "a short request went to the busy server A";
  EXPECT_EQ(server_a->active(), kStreams);

  // The streams end: A's count goes back to 0.
  for (std::size_t i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(conns[i]->send(std::string(kLastChunk)));
    ParsedResponse res;
    ASSERT_TRUE(clients[i]->read_response(res));
    EXPECT_TRUE(res.complete);
  }
  EXPECT_TRUE(eventually([&] { return server_a->active() == 0; }, "A's active count back to 0"))
      << "A still counts " << server_a->active() << " active requests";
}

// ---- Hash -------------------------------------------------------------------------------------

// Which backend answers each key of `keys`, sent as X-User.
testing::AssertionResult route_keys(ProxyHarness& proxy, const std::vector<std::string>& keys,
                                    std::map<std::string, std::string>& server_of) {
  std::unique_ptr<TestClient> client;
  auto connected = TestClient::connect(proxy.port(), client);
  if (!connected) return connected;
  for (const auto& key : keys) {
    std::string name;
    auto got = served_by(*client, "/user", name, {{"X-User", key}});
    if (!got) return got << " (key " << key << ")";
    server_of[key] = name;
  }
  return testing::AssertionSuccess();
}

TEST(Balancing, HashOnHeaderIsStickyAndRemovingAServerMovesOnlyItsKeys) {
  NamedBackend a("A"), b("B"), c("C"), d("D");
  ServerRegistry registry;
  const HashKey by_user{HashKey::Kind::header, "X-User"};
  auto four = make_pool(BalancePolicy::hash,
                        {member(registry, a.url()), member(registry, b.url()),
                         member(registry, c.url()), member(registry, d.url())},
                        0, by_user);
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i)
    keys.push_back("user-" + std::to_string(i));

  std::map<std::string, std::string> first, again, after;
  {
    auto proxy = proxy_over(four, a.url());
    ASSERT_TRUE(route_keys(*proxy, keys, first));
    ASSERT_TRUE(route_keys(*proxy, keys, again));
  }
  EXPECT_EQ(first, again) << "a key changed server while every server was available";

  // B leaves the pool (a reload without it); the others are the same registry objects. A server
  // from the middle, so that the ones after it change places in the list: a key must follow
  // its server, not a position.
  auto three =
      make_pool(BalancePolicy::hash,
                {member(registry, a.url()), member(registry, c.url()), member(registry, d.url())},
                0, by_user);
  {
    auto proxy = proxy_over(three, a.url());
    ASSERT_TRUE(route_keys(*proxy, keys, after));
  }
  std::size_t on_b = 0;
  for (const auto& key : keys) {
    if (first[key] == "B") {
      ++on_b;
      EXPECT_NE(after[key], "B");
    } else {
      EXPECT_EQ(after[key], first[key]) << key << " moved although its server stayed";
    }
  }
  // About 1/4 of the keys were B's, and only those moved (50 expected; the bounds are 5
  // standard deviations wide: the server ids hash the ephemeral ports, so they differ per run).
  EXPECT_GE(on_b, 20u);
  EXPECT_LE(on_b, 80u);
}

// The proxy appends the client's address to X-Forwarded-For; the hash must use that last entry,
// not one a client wrote: whatever a client claims, its requests stay on one server.
TEST(Balancing, HashOnClientIpUsesTheAddressTheProxyAppended) {
  NamedBackend a("A"), b("B"), c("C"), d("D");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::hash,
                        {member(registry, a.url()), member(registry, b.url()),
                         member(registry, c.url()), member(registry, d.url())},
                        0, HashKey{HashKey::Kind::client_ip, ""});
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));
  std::map<std::string, std::size_t> served;
  for (int i = 0; i < 20; ++i) {
    std::string name;
    ASSERT_TRUE(
        served_by(*client, "/ip", name, {{"X-Forwarded-For", "10.0.0." + std::to_string(i)}}));
    ++served[name];
  }
  EXPECT_EQ(served.size(), 1u) << "client-written X-Forwarded-For entries moved the requests";
  for (const auto* backend : {&a, &b, &c, &d}) {
    for (const auto& req : backend->received()) {
      const auto xff = req.header("X-Forwarded-For");
      ASSERT_TRUE(xff.has_value());
      EXPECT_TRUE(xff->ends_with(", 127.0.0.1")) << *xff;
    }
  }
}

Request with_fields(const Headers& fields) {
  Request r;
  r.method = "GET";
  for (const auto& [name, value] : fields)
    r.header.insert(name, value);
  return r;
}

std::optional<std::uint64_t> header_key(std::string_view value) {
  return request_hash_key(HashKey{HashKey::Kind::header, "X-Key"},
                          with_fields({{"X-Key", std::string(value)}}));
}

TEST(Balancing, HashKeyOfCookie) {
  const HashKey session{HashKey::Kind::cookie, "session"};
  const auto key = request_hash_key(session, with_fields({{"Cookie", "a=1; session=abc; b=2"}}));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key, header_key("abc")) << "the cookie's value is what is hashed";
  // The same value wherever the cookie sits, in one Cookie field or another.
  EXPECT_EQ(request_hash_key(session, with_fields({{"Cookie", "session=abc"}})), key);
  EXPECT_EQ(request_hash_key(session, with_fields({{"Cookie", "x=1"}, {"Cookie", "session=abc"}})),
            key);
  EXPECT_NE(request_hash_key(session, with_fields({{"Cookie", "session=abd"}})), key);
  // Another cookie whose name ends or starts like it is not it.
  EXPECT_EQ(request_hash_key(session, with_fields({{"Cookie", "xsession=abc; sessions=abc"}})),
            std::nullopt);
  EXPECT_EQ(request_hash_key(session, with_fields({})), std::nullopt);
}

TEST(Balancing, HashKeyOfClientIpIsTheLastForwardedEntry) {
  const HashKey ip{HashKey::Kind::client_ip, ""};
  EXPECT_EQ(request_hash_key(ip, with_fields({{"X-Forwarded-For", "9.9.9.9, 127.0.0.1"}})),
            header_key("127.0.0.1"));
  // Several fields: the last entry of the last one (the proxy's own append).
  EXPECT_EQ(request_hash_key(ip, with_fields({{"X-Forwarded-For", "1.1.1.1, 2.2.2.2"},
                                              {"X-Forwarded-For", "3.3.3.3,10.1.2.3"}})),
            header_key("10.1.2.3"));
  EXPECT_EQ(request_hash_key(ip, with_fields({{"X-Forwarded-For", "10.1.2.3"}})),
            header_key("10.1.2.3"));
  EXPECT_EQ(request_hash_key(ip, with_fields({})), std::nullopt);
}

// ---- No server available ----------------------------------------------------------------------

void mark_down(UpstreamServer& server) {
  server.configure(ServerHealth::Options{.unhealthy_after = 1}, /*active_checks=*/true, 0);
  server.check_failed();
}

TEST(Balancing, AllServersDownIs502AtOnce) {
  NamedBackend a("A"), b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url()), member(registry, b.url())}, 1);
  for (const auto& url : {a.url(), b.url()}) {
    mark_down(*registry.server(url));
    ASSERT_FALSE(registry.server(url)->up());
  }
  auto proxy = proxy_over(pool, a.url());

  const auto sent = Clock::now();
  ParsedResponse res;
  ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request("/down"), res));
  const auto took = Clock::now() - sent;
  EXPECT_EQ(res.status, 502);
  EXPECT_LT(took, 1s) << "no server available must be answered at once, not waited out";
  EXPECT_EQ(pool->pool_counters().unavailable.load(), 1u);
  EXPECT_EQ(pool->pool_counters().retries.load(), 0u);
  EXPECT_TRUE(proxy->log_contains("upstream backends: no server is available"));

  // A comes back: its first connection is this request's, so the 502 opened none.
  registry.server(a.url())->configure(ServerHealth::Options{}, /*active_checks=*/false, 0);
  std::string name;
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));
  ASSERT_TRUE(served_by(*client, "/up-again", name));
  EXPECT_EQ(name, "A");
  EXPECT_EQ(a.connections(), 1u);
  EXPECT_EQ(b.connections(), 0u);
  EXPECT_EQ(pool->pool_counters().unavailable.load(), 1u);
}

// sluice_upstream_requests_total counts "round trips to each upstream server"
// (docs/observability.md). A request no server was available for made none, so it must not
// count for any server. (Until c2d0978 the no_upstream_available answer left
// UpstreamResponse::server at 0, which counted it for the pool's first server.)
TEST(Balancing, NoServerAvailableCountsNoRoundTripToAnyServer) {
  NamedBackend a("A"), b("B");
  ServerRegistry registry;
  std::vector<PoolMember> members{member(registry, a.url()), member(registry, b.url())};
  members[0].metrics_server = 0;
  members[1].metrics_server = 1;
  auto pool = make_pool(BalancePolicy::round_robin, std::move(members));
  MetricsLayout layout;
  layout.upstreams = {MetricsLayout::Upstream{"backends", {a.url(), b.url()}}};
  layout.routes = {MetricsLayout::Route{"r", 0}};
  auto metrics = std::make_shared<Metrics>(layout);
  ServerOptions options;
  options.metrics = metrics;
  ProxyHarness proxy(
      a.url(),
      [&](ReverseProxy& p) {
        p.transport = pool;
        p.metrics = metrics;
        p.metrics_route = 0;
      },
      options);
  const auto round_trips = [&](const std::string& url) {
    std::vector<prometheus::Family> scrape;
    EXPECT_TRUE(prometheus::parses_strictly(metrics->expose(), &scrape));
    return prometheus::value(scrape, "sluice_upstream_requests_total",
                             {{"upstream", "backends"}, {"server", url}})
        .value_or(-1);
  };

  // The control: a request a server answered counts once, for that server.
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::string name;
  ASSERT_TRUE(served_by(*client, "/counted", name));
  const std::string answered = name == "A" ? a.url() : b.url();
  const std::string other = name == "A" ? b.url() : a.url();
  ASSERT_TRUE(
      eventually([&] { return round_trips(answered) == 1; }, "the answered round trip counted"));

  mark_down(*registry.server(a.url()));
  mark_down(*registry.server(b.url()));
  ParsedResponse res;
  ASSERT_TRUE(exchange(*client, get_request("/none"), res));
  ASSERT_EQ(res.status, 502);
  ASSERT_EQ(pool->pool_counters().unavailable.load(), 1u);
  // The server counts the request after its response; by then the round trip was noted.
  ASSERT_TRUE(
      eventually([&] { return metrics->active_requests() == 0 && proxy.log_contains("GET /none"); },
                 "the 502's request finished"));
  EXPECT_EQ(round_trips(answered), 1) << "the 502 counted as a round trip to " << answered;
  EXPECT_EQ(round_trips(other), 0) << "the 502 counted as a round trip to " << other;
}

// ---- Retries ----------------------------------------------------------------------------------

// A's weight makes it every request's first choice (smooth round robin picks it ~500 times in a
// row against B's 1), so each request below fails on A first.
constexpr std::uint32_t kFirstChoice = 1000;

TEST(Balancing, ConnectFailureIsRetriedOnAnotherServer) {
  RefusingPort a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));

  // Nothing was sent to A: a GET and a POST with a body are both safe to send again.
  for (int i = 0; i < 5; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/get/" + std::to_string(i), name));
    EXPECT_EQ(name, "B");
    ParsedResponse res;
    const std::string body = "payload " + std::to_string(i);
    ASSERT_TRUE(exchange(*client, post_request("/post/" + std::to_string(i), body), res));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "B");
  }
  EXPECT_EQ(pool->pool_counters().retries.load(), 10u);
  const auto received = b.received();
  ASSERT_EQ(received.size(), 10u);
  for (int i = 0; i < 5; ++i) {
    const auto& post = received[static_cast<std::size_t>(2 * i + 1)];
    EXPECT_EQ(post.method, "POST");
    EXPECT_EQ(post.body, "payload " + std::to_string(i)) << "the replayed body differs";
  }
}

TEST(Balancing, NoRetriesConfiguredRefusedIs502) {
  RefusingPort a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 0);
  auto proxy = proxy_over(pool, a.url());
  ParsedResponse res;
  ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request("/no-retry"), res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(pool->pool_counters().retries.load(), 0u);
  EXPECT_EQ(b.connections(), 0u);
}

// A backend that reads a request (all of it, or the head and `body_bytes` of the body) and then
// resets the connection without answering.
class ResettingBackend {
 public:
  explicit ResettingBackend(std::optional<std::size_t> body_bytes = std::nullopt) {
    upstream_.set_handler([this, body_bytes](UpstreamConn& conn) {
      if (body_bytes) {
        const std::size_t want = *body_bytes;
        const bool got = conn.read_until([want](std::string_view in) {
          const auto end = in.find("\r\n\r\n");
          return end != std::string_view::npos && in.size() - (end + 4) >= want;
        });
        if (got) ++requests_;
      } else {
        RecordedRequest req;
        if (conn.read_request(req)) ++requests_;
      }
      conn.reset();
    });
  }
  std::string url() const { return upstream_.url(); }
  std::size_t requests() const { return requests_.load(); }
  std::size_t connections() const { return upstream_.accepted_count(); }

 private:
  std::atomic<std::size_t> requests_{0};
  FakeUpstream upstream_;  // last: destroyed first
};

TEST(Balancing, PostWhoseBodyWasSentIsNeverReplayed) {
  ResettingBackend a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());

  ParsedResponse res;
  ASSERT_TRUE(
      answer_on_new_connection(proxy->port(), post_request("/order", std::string(4096, 'o')), res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(a.requests(), 1u) << "A did not get the whole POST before it reset";
  EXPECT_EQ(b.connections(), 0u) << "a POST whose body reached A was sent to B again";
  EXPECT_EQ(pool->pool_counters().retries.load(), 0u);
}

TEST(Balancing, PostWhoseBodyStartedFlowingIsNeverReplayed) {
  ResettingBackend a(/*body_bytes=*/1024);
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());

  ParsedResponse res;
  ASSERT_TRUE(
      answer_on_new_connection(proxy->port(), post_request("/order", std::string(8192, 'o')), res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(a.requests(), 1u);
  EXPECT_EQ(b.connections(), 0u) << "a POST whose body started flowing was sent to B again";
  EXPECT_EQ(pool->pool_counters().retries.load(), 0u);
}

// The same failure for a GET without a body: nothing is lost by sending it again.
TEST(Balancing, GetResetBeforeAnswerIsRetried) {
  ResettingBackend a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());

  ParsedResponse res;
  ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request("/idempotent"), res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "B");
  EXPECT_EQ(a.requests(), 1u);
  EXPECT_EQ(b.requests(), 1u);
  EXPECT_EQ(pool->pool_counters().retries.load(), 1u);
}

// A 1xx the client already got is part of the answer it is reading: a failure after it is not
// retried, even for a GET.
TEST(Balancing, NoRetryAfterAnInformationalResponseReachedTheClient) {
  FakeUpstream a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));
  ASSERT_TRUE(client->send(get_request("/hints")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(a.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"));
  // Reset only once the 103 reached the client: the failure is then after it, for sure.
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, " 103 "); }));
  conn->reset();

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.informational, std::vector<int>{103});
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(b.connections(), 0u) << "retried after a 1xx had reached the client";
  EXPECT_EQ(pool->pool_counters().retries.load(), 0u);
}

// Envoy's retry budget: at most max(3, 20 % of the requests in flight) retries at once. Three
// retries held open on B use it up; a fourth failure is not retried and gets A's error.
TEST(Balancing, RetryBudgetBoundsRetriesInFlight) {
  RefusingPort a;
  FakeUpstream b;
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url(), kFirstChoice), member(registry, b.url())}, 1);
  auto proxy = proxy_over(pool, a.url());

  std::vector<std::unique_ptr<TestClient>> clients(3);
  std::vector<std::shared_ptr<UpstreamConn>> held(3);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(TestClient::connect(proxy->port(), clients[i]));
    ASSERT_TRUE(clients[i]->send(get_request("/held/" + std::to_string(i))));
    ASSERT_TRUE(b.accept(held[i]));
    RecordedRequest req;
    ASSERT_TRUE(held[i]->read_request(req));
  }
  EXPECT_EQ(pool->pool_counters().retries.load(), 3u);

  ParsedResponse refused;
  ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request("/over-budget"), refused));
  EXPECT_EQ(refused.status, 502);
  EXPECT_EQ(pool->pool_counters().retries_refused.load(), 1u);
  EXPECT_EQ(pool->pool_counters().retries.load(), 3u);
  EXPECT_EQ(b.accepted_count(), 3u);

  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(held[i]->send(response(200, {}, "late")));
    ParsedResponse res;
    ASSERT_TRUE(clients[i]->read_response(res));
    EXPECT_EQ(res.status, 200);
  }
}

// ---- Passive ejection -------------------------------------------------------------------------

TEST(Balancing, PassiveEjectionStopsTryingAFailingServer) {
  ResettingBackend a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url()), member(registry, b.url())}, 1);
  for (const auto& url : {a.url(), b.url()})
    registry.server(url)->configure(ServerHealth::Options{.max_fails = 2, .fail_timeout = 10s},
                                    false, 0);
  auto proxy = proxy_over(pool, a.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy->port(), client));

  // Round robin offers A every other request until its second failure ejects it; each failure
  // is retried on B, so every request succeeds.
  for (int i = 0; i < 6; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/passive", name));
    EXPECT_EQ(name, "B");
  }
  EXPECT_EQ(a.connections(), 2u);
  EXPECT_FALSE(registry.server(a.url())->healthy(Clock::now()));
  for (int i = 0; i < 20; ++i) {
    std::string name;
    ASSERT_TRUE(served_by(*client, "/passive", name));
    EXPECT_EQ(name, "B");
  }
  EXPECT_EQ(a.connections(), 2u) << "an ejected server was tried again";
  EXPECT_EQ(b.requests(), 26u);
}

// ---- max_requests ------------------------------------------------------------------------------

TEST(Balancing, MaxRequestsSendsTheNextRequestElsewhereThen502) {
  FakeUpstream a, b;
  ServerRegistry registry;
  auto pool =
      make_pool(BalancePolicy::round_robin, {member(registry, a.url()), member(registry, b.url())});
  const std::vector<std::shared_ptr<UpstreamServer>> servers{registry.server(a.url()),
                                                             registry.server(b.url())};
  for (const auto& server : servers)
    server->configure(ServerHealth::Options{}, false, /*max_requests=*/1);
  auto proxy = proxy_over(pool, a.url());

  // One stream open on whichever server the first request went to.
  std::unique_ptr<TestClient> first, second;
  std::shared_ptr<UpstreamConn> first_conn, second_conn;
  int first_server = -1, second_server = -1;
  ASSERT_TRUE(TestClient::connect(proxy->port(), first));
  ASSERT_TRUE(first->send(get_request("/first")));
  ASSERT_TRUE(accept_either(a, b, 0, 0, first_conn, first_server));
  RecordedRequest req;
  ASSERT_TRUE(first_conn->read_request(req));
  ASSERT_TRUE(first_conn->send(std::string(kStreamHead) + first_event()));
  ASSERT_TRUE(got_first_event(*first));

  // That server is at its limit: the next request goes to the other one.
  ASSERT_TRUE(TestClient::connect(proxy->port(), second));
  ASSERT_TRUE(second->send(get_request("/second")));
  ASSERT_TRUE(
      accept_either(a, b, a.accepted_count(), b.accepted_count(), second_conn, second_server));
  EXPECT_NE(second_server, first_server) << "a server at max_requests got another request";
  RecordedRequest second_req;
  ASSERT_TRUE(second_conn->read_request(second_req));
  ASSERT_TRUE(second_conn->send(std::string(kStreamHead) + first_event()));
  ASSERT_TRUE(got_first_event(*second));

  // Both busy: no server is available, and neither upstream is asked.
  ParsedResponse res;
  ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request("/third"), res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(pool->pool_counters().unavailable.load(), 1u);
  EXPECT_EQ(a.accepted_count() + b.accepted_count(), 2u);

  // The first client leaves: its stream ends and frees its server's slot.
  first->close();
  ASSERT_TRUE(first_conn->wait_closed());
  const auto& freed = servers[static_cast<std::size_t>(first_server)];
  ASSERT_TRUE(eventually([&] { return freed->active() == 0; }, "the freed server's count at 0"));
  std::unique_ptr<TestClient> fourth;
  std::shared_ptr<UpstreamConn> fourth_conn;
  int fourth_server = -1;
  ASSERT_TRUE(TestClient::connect(proxy->port(), fourth));
  ASSERT_TRUE(fourth->send(get_request("/fourth")));
  ASSERT_TRUE(
      accept_either(a, b, a.accepted_count(), b.accepted_count(), fourth_conn, fourth_server));
  EXPECT_EQ(fourth_server, first_server);
  RecordedRequest fourth_req;
  ASSERT_TRUE(fourth_conn->read_request(fourth_req));
  ASSERT_TRUE(fourth_conn->send(response(200, {}, "ok")));
  ParsedResponse fourth_res;
  ASSERT_TRUE(fourth->read_response(fourth_res));
  EXPECT_EQ(fourth_res.status, 200);
}

// ---- Logs -------------------------------------------------------------------------------------

// Waits until a captured log line satisfies `pred` (the access line is written after the
// response, so the client may read it first); the line goes to *found.
testing::AssertionResult wait_for_line(const ProxyHarness& proxy,
                                       const std::function<bool(std::string_view)>& pred,
                                       std::string_view what, std::string* found) {
  std::string line;
  auto seen = eventually(
      [&] {
        for (const auto& l : proxy.log_lines()) {
          if (pred(l)) {
            line = l;
            return true;
          }
        }
        return false;
      },
      std::string("a log line ") + std::string(what));
  if (!seen) {
    for (const auto& l : proxy.log_lines())
      seen << "\n  " << l;
    return seen;
  }
  *found = line;
  return seen;
}

// The access log names the server that answered, and the error line the server that failed,
// not the director's target (which is A for every request here).
TEST(Balancing, LogsNameTheServerThatAnswered) {
  RefusingPort a;
  NamedBackend b("B");
  ServerRegistry registry;
  auto pool = make_pool(BalancePolicy::round_robin,
                        {member(registry, a.url()), member(registry, b.url())}, 0);
  ServerOptions options;
  options.access_log = AccessLog::json;
  auto proxy = proxy_over(pool, a.url(), options);

  std::map<int, std::string> target_of;  // by status
  for (int i = 0; i < 2; ++i) {
    ParsedResponse res;
    const std::string target = "/named/" + std::to_string(i);
    ASSERT_TRUE(answer_on_new_connection(proxy->port(), get_request(target), res));
    target_of[res.status] = target;
  }
  ASSERT_EQ(target_of.size(), 2u) << "round robin over two servers should give one 200, one 502";
  ASSERT_TRUE(target_of.count(200) == 1 && target_of.count(502) == 1);

  const auto access_line = [&](const std::string& target) {
    std::string line;
    EXPECT_TRUE(wait_for_line(
        *proxy, [&](std::string_view l) { return contains(l, "\"target\":\"" + target + "\""); },
        "for " + target, &line));
    JsonObject json;
    EXPECT_TRUE(parse_json_object(line, json));
    return json;
  };
  const JsonObject ok = access_line(target_of[200]);
  EXPECT_EQ(json_string(ok, "server"), b.url());
  const JsonObject failed = access_line(target_of[502]);
  EXPECT_EQ(json_string(failed, "server"), a.url());

  std::string error_line;
  ASSERT_TRUE(wait_for_line(
      *proxy, [](std::string_view l) { return contains(l, "upstream error: "); },
      "with the upstream error", &error_line));
  EXPECT_TRUE(contains(error_line, target_of[502])) << error_line;
  EXPECT_TRUE(contains(error_line, "127.0.0.1:" + std::to_string(a.port()))) << error_line;
}

}  // namespace
}  // namespace sluice::test
