// Observability end to end: a real Server + ReverseProxy sharing one Metrics (made from
// single_route_layout, as the binary makes it), scraped through Metrics::expose() and read by
// the strict Prometheus reader of the test support, and the access and error lines captured by
// the harness. The counts must be exact, the gauges must come back to zero however a response
// ends (complete, client gone, upstream reset, upstream idle timeout, server stop), and every
// refused request must be both counted and logged with its reason.
//
// Counters are recorded after the response went out (the access line and request_done follow
// the last write), so a test polls a scrape or the log until it shows what it waits for, bounded
// by the deadline, and then checks exact values. No wait is a guess at how long something takes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "sluice/metrics.hpp"
#include "support/fake_upstream.hpp"
#include "support/prometheus_text.hpp"
#include "support/proxy_harness.hpp"
#include "support/refusing_port.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using prometheus::Family;
using prometheus::histogram_count;
using prometheus::Labels;
using prometheus::value;
using Scrape = std::vector<Family>;

const Labels kRoute{{"route", "default"}, {"upstream", "default"}};
const Labels kNoRoute{{"route", ""}, {"upstream", ""}};

Labels with(Labels labels, const std::string& name, const std::string& v) {
  labels[name] = v;
  return labels;
}

// A proxy to `upstream_url` whose Server and ReverseProxy record into `metrics`.
std::unique_ptr<ProxyHarness> make_proxy(const std::string& upstream_url,
                                         const std::shared_ptr<Metrics>& metrics,
                                         ServerOptions options = {},
                                         ProxyHarness::Configure configure = {}) {
  options.metrics = metrics;
  return std::make_unique<ProxyHarness>(
      upstream_url,
      [metrics, configure](ReverseProxy& p) {
        p.metrics = metrics;
        if (configure) configure(p);
      },
      options);
}

std::shared_ptr<Metrics> metrics_for(const std::string& upstream_url) {
  return std::make_shared<Metrics>(single_route_layout(upstream_url, 1));
}

// The sluice_* samples of a scrape (no buckets), for failure messages.
std::string summary(const Scrape& scrape) {
  std::string out;
  for (const auto& f : scrape) {
    if (f.name.rfind("sluice_", 0) != 0) continue;
    for (const auto& s : f.samples) {
      if (s.name.ends_with("_bucket")) continue;
      out += "  " + s.name + "{";
      for (const auto& [k, v] : s.labels)
        out += k + "=\"" + v + "\",";
      out += "} " + std::to_string(s.value) + "\n";
    }
  }
  return out;
}

// Scrapes until `pred` holds, each scrape parsed strictly (a scrape that does not parse fails
// at once). The last scrape goes to *last.
testing::AssertionResult scrape_until(const Metrics& metrics,
                                      const std::function<bool(const Scrape&)>& pred,
                                      std::string_view what, Scrape* last = nullptr) {
  const auto until = Clock::now() + kDeadline;
  for (;;) {
    Scrape scrape;
    if (auto parsed = prometheus::parses_strictly(metrics.expose(), &scrape); !parsed) {
      return parsed;
    }
    const bool done = pred(scrape);
    if (last) *last = scrape;
    if (done) return testing::AssertionSuccess();
    if (Clock::now() >= until) {
      return testing::AssertionFailure()
             << "no scrape showed " << what << " within " << kDeadline.count() << " s; the last:\n"
             << summary(scrape);
    }
    std::this_thread::sleep_for(1ms);
  }
}

// One scrape, parsed strictly.
testing::AssertionResult scrape(const Metrics& metrics, Scrape& out) {
  return scrape_until(
      metrics, [](const Scrape&) { return true; }, "anything", &out);
}

double sum_of(const Scrape& scrape, std::string_view family) {
  double total = 0;
  if (const Family* f = prometheus::find_family(scrape, family)) {
    for (const auto& s : f->samples)
      total += s.value;
  }
  return total;
}

std::function<bool(const Scrape&)> requests_total_is(double n) {
  return [n](const Scrape& s) { return sum_of(s, "sluice_requests_total") == n; };
}

std::function<bool(const Scrape&)> gauges_are(double n) {
  return [n](const Scrape& s) {
    return value(s, "sluice_active_requests") == n && value(s, "sluice_flush_timers_active") == n;
  };
}

// Waits until a captured log line satisfies `pred`; the line goes to *found.
testing::AssertionResult wait_for_line(const ProxyHarness& h,
                                       const std::function<bool(std::string_view)>& pred,
                                       std::string_view what, std::string* found = nullptr) {
  const auto until = Clock::now() + kDeadline;
  for (;;) {
    const auto lines = h.log_lines();
    for (const auto& line : lines) {
      if (pred(line)) {
        if (found) *found = line;
        return testing::AssertionSuccess();
      }
    }
    if (Clock::now() >= until) {
      auto failure = testing::AssertionFailure() << "no log line " << what << "; the lines:\n";
      for (const auto& line : lines)
        failure << "  " << line << "\n";
      return failure;
    }
    std::this_thread::sleep_for(1ms);
  }
}

// A client of `h` whose GET `target` the upstream has accepted and read: the test answers on
// `conn`.
testing::AssertionResult open_request(ProxyHarness& h, FakeUpstream& upstream,
                                      std::string_view target, std::unique_ptr<TestClient>& client,
                                      std::shared_ptr<UpstreamConn>& conn) {
  if (!TestClient::connect(h.port(), client)) return testing::AssertionFailure() << "connect";
  if (!client->send("GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n")) {
    return testing::AssertionFailure() << "send";
  }
  if (!upstream.accept(conn)) return testing::AssertionFailure() << "upstream accept";
  RecordedRequest req;
  if (!conn->read_request(req)) return testing::AssertionFailure() << "upstream read";
  return testing::AssertionSuccess();
}

constexpr std::string_view kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

// ---- The exposition itself --------------------------------------------------------------------

// Before any traffic every family is there, typed, and at zero: a dashboard can be built
// against a proxy that has not served yet.
TEST(Metrics, FreshScrapeParsesStrictlyWithEveryFamilyAtZero) {
  const auto metrics = metrics_for("http://127.0.0.1:9");
  Scrape s;
  ASSERT_TRUE(scrape(*metrics, s));
  const std::pair<const char*, const char*> families[] = {
      {"sluice_requests_total", "counter"},
      {"sluice_request_duration_seconds", "histogram"},
      {"sluice_active_requests", "gauge"},
      {"sluice_flush_timers_active", "gauge"},
      {"sluice_added_latency_seconds", "histogram"},
      {"sluice_upstream_first_byte_seconds", "histogram"},
      {"sluice_upstream_connect_seconds", "histogram"},
      {"sluice_upstream_requests_total", "counter"},
      {"sluice_responses_total", "counter"},
      {"sluice_client_received_bytes_total", "counter"},
      {"sluice_client_sent_bytes_total", "counter"},
  };
  for (const auto& [name, type] : families) {
    const Family* f = prometheus::find_family(s, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->type, type) << name;
  }
  EXPECT_EQ(sum_of(s, "sluice_requests_total"), 0);
  EXPECT_EQ(value(s, "sluice_active_requests"), 0);
  EXPECT_EQ(value(s, "sluice_flush_timers_active"), 0);
  EXPECT_EQ(histogram_count(s, "sluice_request_duration_seconds", kRoute), 0);
  EXPECT_EQ(histogram_count(s, "sluice_request_duration_seconds", kNoRoute), 0);
  EXPECT_EQ(histogram_count(s, "sluice_added_latency_seconds"), 0);
  EXPECT_EQ(value(s, "sluice_upstream_requests_total",
                  {{"upstream", "default"}, {"server", "http://127.0.0.1:9"}}),
            0);
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", "complete")), 0);
}

// ---- Exact counts -----------------------------------------------------------------------------

// 3 requests answered 200, 2 answered 404, one refused 431 and one refused 400: every family
// that counts requests says exactly that, and nothing else.
TEST(Metrics, ScriptedTrafficGivesExactCounts) {
  FakeUpstream upstream;
  upstream.set_handler([](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      const bool missing = req.target.rfind("/missing", 0) == 0;
      if (!c.send(response(missing ? 404 : 200, {}, missing ? "nope" : "found"))) return;
    }
  });
  const auto metrics = metrics_for(upstream.url());
  ServerOptions options;
  options.max_request_header_bytes = 1024;
  const auto h = make_proxy(upstream.url(), metrics, options);

  for (const char* target : {"/ok/1", "/missing/1", "/ok/2", "/missing/2", "/ok/3"}) {
    ParsedResponse res;
    ASSERT_TRUE(http_get(h->port(), target, res));
    EXPECT_EQ(res.status, std::string_view(target).starts_with("/ok") ? 200 : 404) << target;
  }
  for (const auto& [status, request] : std::vector<std::pair<int, std::string>>{
           {431, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n"},
           {400, "GARBAGE\r\n\r\n"},
       }) {
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h->port(), client));
    ASSERT_TRUE(client->send(request));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, status);
  }

  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(7), "7 requests", &s));
  const Family* requests = prometheus::find_family(s, "sluice_requests_total");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->samples.size(), 4u) << "only the four (route, code) pairs seen:\n"
                                          << summary(s);
  EXPECT_EQ(value(s, "sluice_requests_total", with(kRoute, "code", "200")), 3);
  EXPECT_EQ(value(s, "sluice_requests_total", with(kRoute, "code", "404")), 2);
  EXPECT_EQ(value(s, "sluice_requests_total", with(kNoRoute, "code", "431")), 1);
  EXPECT_EQ(value(s, "sluice_requests_total", with(kNoRoute, "code", "400")), 1);
  EXPECT_EQ(histogram_count(s, "sluice_request_duration_seconds", kRoute), 5);
  EXPECT_EQ(histogram_count(s, "sluice_request_duration_seconds", kNoRoute), 2);
  EXPECT_EQ(histogram_count(s, "sluice_upstream_first_byte_seconds", kRoute), 5);
  EXPECT_EQ(value(s, "sluice_upstream_requests_total",
                  {{"upstream", "default"}, {"server", upstream.url()}}),
            5);
  // Every new upstream connection timed once; reused ones not at all.
  EXPECT_EQ(histogram_count(s, "sluice_upstream_connect_seconds", {{"upstream", "default"}}),
            static_cast<double>(upstream.accepted_count()));
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", "complete")), 5);
  EXPECT_EQ(sum_of(s, "sluice_responses_total"), 5) << summary(s);
  EXPECT_EQ(value(s, "sluice_client_sent_bytes_total"), 3 * 5 + 2 * 4)
      << "the body bytes of the 200s and 404s; a refusal's own text is not a response body";
  EXPECT_EQ(value(s, "sluice_client_received_bytes_total"), 0);
  EXPECT_TRUE(scrape_until(*metrics, gauges_are(0), "both gauges at 0", &s));
}

// Body bytes each way, exactly: an upload, and a large known-length download (which the proxy
// relays with splice(2) once its head is through, so the bytes never pass a write() of its own).
TEST(Metrics, BodyBytesEachWayAreCountedExactlySplicedOnesToo) {
  constexpr std::size_t kUp = 100'000;
  constexpr std::size_t kDown = 2 * 1024 * 1024;
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  const auto h = make_proxy(upstream.url(), metrics);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h->port(), client));
  ASSERT_TRUE(client->send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(kUp) + "\r\n\r\n" + std::string(kUp, 'u')));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.body.size(), kUp);
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kDown) + "\r\n\r\n"));
  ASSERT_TRUE(conn->send(std::string(kDown, 'd')));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body.size(), kDown);

  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the request counted", &s));
  EXPECT_EQ(value(s, "sluice_client_received_bytes_total"), static_cast<double>(kUp));
  EXPECT_EQ(value(s, "sluice_client_sent_bytes_total"), static_cast<double>(kDown));
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", "complete")), 1);
}

// ---- Gauges come back to zero, whatever ends the response -------------------------------------

enum class Ending { complete, client_resets, upstream_resets, upstream_idle, server_stops };

std::string ending_name(Ending e) {
  switch (e) {
    case Ending::complete: return "Complete";
    case Ending::client_resets: return "ClientResets";
    case Ending::upstream_resets: return "UpstreamResets";
    case Ending::upstream_idle: return "UpstreamIdleTimeout";
    case Ending::server_stops: return "ServerStops";
  }
  return "?";
}

class StreamGauges : public testing::TestWithParam<Ending> {};

// An SSE stream (flushed at every write, so its flush timer is armed) holds both gauges at 1
// while it is open, and they return to 0 when it ends, with the ending counted.
TEST_P(StreamGauges, OneWhileTheStreamIsOpenZeroAfter) {
  const Ending ending = GetParam();
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  const auto h = make_proxy(upstream.url(), metrics, {}, [ending](ReverseProxy& p) {
    if (ending == Ending::upstream_idle) {
      set_transport_option(p, &TransportOptions::idle_read_timeout, 200ms);
    }
  });
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(open_request(*h, upstream, "/events", client, conn));
  ASSERT_TRUE(conn->send(std::string(kSseHead) + chunk("data: one\n\n")));
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "data: one"); }));

  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, gauges_are(1), "both gauges at 1 while streaming", &s));

  std::string outcome;
  switch (ending) {
    case Ending::complete: {
      outcome = "complete";
      ASSERT_TRUE(conn->send(kLastChunk));
      ParsedResponse res;
      ASSERT_TRUE(client->read_response(res));
      EXPECT_TRUE(res.complete);
      break;
    }
    case Ending::client_resets:
      outcome = "client_gone";
      client->reset();
      break;
    case Ending::upstream_resets:
      outcome = "truncated";
      conn->reset();
      ASSERT_TRUE(client->wait_closed());
      break;
    case Ending::upstream_idle:
      outcome = "truncated";  // the upstream sends nothing more, the connection left open
      ASSERT_TRUE(client->wait_closed());
      break;
    case Ending::server_stops:
      outcome = "shutdown";  // the grace runs out with the stream still open
      h->stop(100ms);
      ASSERT_TRUE(client->wait_closed());
      break;
  }
  ASSERT_TRUE(scrape_until(*metrics, gauges_are(0), "both gauges back at 0", &s));
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the request counted", &s));
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", outcome)), 1) << summary(s);
  EXPECT_EQ(sum_of(s, "sluice_responses_total"), 1) << summary(s);
}

INSTANTIATE_TEST_SUITE_P(Endings, StreamGauges,
                         testing::Values(Ending::complete, Ending::client_resets,
                                         Ending::upstream_resets, Ending::upstream_idle,
                                         Ending::server_stops),
                         [](const testing::TestParamInfo<Ending>& param) {
                           return ending_name(param.param);
                         });

// ---- Added latency: one sample per forwarded chunk --------------------------------------------

// The upstream sends k events one at a time, each read by the client before the next is sent:
// sluice_added_latency_seconds counts exactly one more sample per event, none for the head or
// the last chunk, and none for responses without a body.
TEST(Metrics, AddedLatencyCountsEachForwardedChunkOnce) {
  constexpr int kChunks = 5;
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  const auto h = make_proxy(upstream.url(), metrics);
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(open_request(*h, upstream, "/events", client, conn));
  ASSERT_TRUE(conn->send(kSseHead));
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "\r\n\r\n"); }));

  const auto latency_count_is = [](int n) {
    return [n](const Scrape& s) {
      return histogram_count(s, "sluice_added_latency_seconds") == static_cast<double>(n);
    };
  };
  Scrape s;
  ASSERT_TRUE(scrape(*metrics, s));
  EXPECT_EQ(histogram_count(s, "sluice_added_latency_seconds"), 0) << "the head is no chunk";
  for (int i = 1; i <= kChunks; ++i) {
    const std::string event = "data: " + std::to_string(i) + "\n\n";
    ASSERT_TRUE(conn->send(chunk(event)));
    ASSERT_TRUE(
        client->read_until([&event](std::string_view got) { return contains(got, event); }));
    ASSERT_TRUE(scrape_until(*metrics, latency_count_is(i), std::to_string(i) + " samples", &s));
  }
  ASSERT_TRUE(conn->send(kLastChunk));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  ASSERT_TRUE(res.complete);
  // The response is over (its request counted after the flush writer stopped): final counts.
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the stream counted", &s));
  EXPECT_EQ(histogram_count(s, "sluice_added_latency_seconds"), kChunks);

  // Responses without a body, on the same connections: no sample.
  for (const std::string& answer :
       {std::string("HTTP/1.1 204 No Content\r\n\r\n"), response(200, {}, "")}) {
    ASSERT_TRUE(client->send("GET /empty HTTP/1.1\r\nHost: t\r\n\r\n"));
    RecordedRequest again;
    ASSERT_TRUE(conn->read_request(again));
    ASSERT_TRUE(conn->send(answer));
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, "");
  }
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(3), "the empty ones counted", &s));
  EXPECT_EQ(histogram_count(s, "sluice_added_latency_seconds"), kChunks) << summary(s);
}

// Body bytes that were buffered and then discarded, because the upstream failed before the
// head went out and an error response replaced them, are no chunk the client got: no sample,
// even when the error response's body is longer than they were.
TEST(Metrics, ChunksOfADiscardedResponseAreNoSamples) {
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  const auto h = make_proxy(upstream.url(), metrics, {}, [](ReverseProxy& p) {
    p.error_handler = [](const Request&, std::error_code) {
      return SimpleResponse{502, {}, std::string(64, 'e')};
    };
  });
  std::unique_ptr<TestClient> client;
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(open_request(*h, upstream, "/cut", client, conn));
  // Flush interval 0: ten body bytes stay buffered with the head, then the upstream resets.
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"));
  conn->reset();
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(res.body, std::string(64, 'e'));
  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the 502 counted", &s));
  EXPECT_EQ(histogram_count(s, "sluice_added_latency_seconds"), 0) << summary(s);
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", "error_response")), 1);
}

// ---- Log lines --------------------------------------------------------------------------------

// An upstream that refuses the connection: the error line names the address and the OS reason,
// and the request's access line carries the same error text.
TEST(Metrics, RefusedUpstreamConnectNamesAddressAndReasonInErrorAndAccessLine) {
  RefusingPort closed;
  const auto metrics = metrics_for(closed.url());
  const auto h = make_proxy(closed.url(), metrics);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h->port(), client));
  ASSERT_TRUE(client->send("GET /refused HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);

  const std::string address = "127.0.0.1:" + std::to_string(closed.port());
  std::string error_line;
  ASSERT_TRUE(wait_for_line(
      *h, [](std::string_view l) { return contains(l, "GET /refused: upstream error: "); },
      "with the upstream error", &error_line));
  EXPECT_TRUE(contains(error_line, "connect " + address)) << error_line;
  EXPECT_TRUE(contains(error_line, "Connection refused")) << error_line;
  const std::string error =
      error_line.substr(error_line.find("upstream error: ") + std::strlen("upstream error: "));

  std::string access_line;
  ASSERT_TRUE(wait_for_line(
      *h, [](std::string_view l) { return contains(l, "\"GET /refused HTTP/1.1\" 502 "); },
      "for the request", &access_line));
  EXPECT_TRUE(contains(access_line, " ending=error_response")) << access_line;
  EXPECT_TRUE(contains(access_line, " error=\"" + error + "\""))
      << "the access line's error differs from the error line's\n  error line: " << error_line
      << "\n  access line: " << access_line;

  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the 502 counted", &s));
  EXPECT_EQ(value(s, "sluice_requests_total", with(kRoute, "code", "502")), 1);
  EXPECT_EQ(value(s, "sluice_responses_total", with(kRoute, "ending", "error_response")), 1);
  EXPECT_EQ(histogram_count(s, "sluice_upstream_first_byte_seconds", kRoute), 0)
      << "no response head came";
  EXPECT_TRUE(scrape_until(*metrics, gauges_are(0), "both gauges at 0", &s));
}

struct Refusal {
  int status;
  std::string request;
  std::string reason;  // the refused="..." text, whole (or its start, for 400)
};

// Every request the server refuses before any handler gets one access line with its status and
// why, and counts under route="" with its code; the client gets the same reason as the body.
TEST(Metrics, EveryRefusedRequestGetsAnAccessLineWithStatusAndReason) {
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  ServerOptions options;
  options.max_request_header_bytes = 1024;
  options.max_uri_bytes = 64;
  options.header_timeout = 300ms;
  options.max_body_bytes = 100;
  options.access_log = AccessLog::text;
  const auto h = make_proxy(upstream.url(), metrics, options);

  const std::vector<Refusal> refusals = {
      {400, "GARBAGE\r\n\r\n", "malformed request: "},
      {408, "GET /slow HTTP/1.1\r\nHost: t", "request head not received in time"},
      {431, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n",
       "request header fields too large"},
      {414, "GET /" + std::string(100, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n",
       "request target longer than 64 bytes"},
      {505, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP version not supported"},
      {505, "GET / HTTP/1.2\r\nHost: t\r\n\r\n", "HTTP version not supported"},
      {501, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       "Transfer-Encoding other than chunked is not implemented"},
      {413, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
       "request body larger than 100 bytes"},
  };
  std::size_t lines_before = 0;
  for (const Refusal& r : refusals) {
    SCOPED_TRACE(r.request.substr(0, 40));
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(h->port(), client));
    ASSERT_TRUE(client->send(r.request));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, r.status);
    EXPECT_EQ(res.body.rfind(r.reason, 0), 0u) << res.body;
    ASSERT_TRUE(client->wait_closed());
    // The reason as the client got it (its whole text) is the one logged.
    const std::string reason = res.body.substr(0, res.body.size() - 1);
    const std::string status = "\" " + std::to_string(r.status) + " 0 upstream=- ";
    std::string line;
    ASSERT_TRUE(wait_for_line(
        *h,
        [&](std::string_view l) {
          return contains(l, status) && contains(l, " refused=\"" + reason + "\"");
        },
        "with" + status + "refused=\"" + reason + "\"", &line));
    // One line per refusal: nothing else was logged for it.
    EXPECT_EQ(h->log_lines().size(), ++lines_before) << line;
  }

  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(static_cast<double>(refusals.size())),
                           "every refusal counted", &s));
  for (const int code : {400, 408, 413, 414, 431, 501}) {
    EXPECT_EQ(value(s, "sluice_requests_total", with(kNoRoute, "code", std::to_string(code))), 1)
        << code << "\n"
        << summary(s);
  }
  EXPECT_EQ(value(s, "sluice_requests_total", with(kNoRoute, "code", "505")), 2);
  EXPECT_EQ(histogram_count(s, "sluice_request_duration_seconds", kNoRoute), refusals.size());
  EXPECT_EQ(value(s, "sluice_active_requests"), 0) << "a refused request never became active";
  EXPECT_EQ(upstream.accepted_count(), 0u);
}

// The JSON access line of a refusal: its status as a number and its reason.
TEST(Metrics, RefusedRequestJsonAccessLine) {
  FakeUpstream upstream;
  const auto metrics = metrics_for(upstream.url());
  ServerOptions options;
  options.max_request_header_bytes = 1024;
  options.access_log = AccessLog::json;
  const auto h = make_proxy(upstream.url(), metrics, options);
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(h->port(), client));
  ASSERT_TRUE(client->send("GET /big HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'b') +
                           "\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 431);
  std::string line;
  ASSERT_TRUE(wait_for_line(
      *h, [](std::string_view l) { return contains(l, "\"status\":431"); }, "with status 431",
      &line));
  EXPECT_EQ(line.front(), '{') << line;
  EXPECT_EQ(line.back(), '}') << line;
  EXPECT_TRUE(contains(line, "\"refused\":\"request header fields too large\"")) << line;
  EXPECT_TRUE(contains(line, "\"ending\":\"refused\"")) << line;
  EXPECT_TRUE(contains(line, "\"route\":\"\"")) << line;
  Scrape s;
  ASSERT_TRUE(scrape_until(*metrics, requests_total_is(1), "the 431 counted", &s));
  EXPECT_EQ(value(s, "sluice_requests_total", with(kNoRoute, "code", "431")), 1);
}

}  // namespace
}  // namespace sluice::test
