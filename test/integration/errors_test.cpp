// SPEC D (30-33), L4, L7 and rows R36/R38/R39 of section K: what the client sees when the
// upstream fails, before and after the response head went out, and the upstream timeouts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/error.hpp"
#include "support/fake_upstream.hpp"
#include "support/fresh_get.hpp"
#include "support/full_listener.hpp"
#include "support/proxy_harness.hpp"
#include "support/refusing_port.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for a response_end with `outcome`.
testing::AssertionResult wait_outcome(EventLog& log, ResponseOutcome outcome) {
  return log.wait_until(
      [outcome](const std::vector<Event>& events) {
        return std::any_of(events.begin(), events.end(), [outcome](const Event& e) {
          return e.kind == Event::end && e.outcome == outcome;
        });
      },
      std::string("response_end outcome=") + to_string(outcome));
}

// The outcomes of every response_end so far, by name (readable in a failure message).
std::vector<std::string> outcomes(const EventLog& log) {
  std::vector<std::string> out;
  for (const auto& e : log.events()) {
    if (e.kind == Event::end) out.emplace_back(to_string(e.outcome));
  }
  return out;
}

// Body bytes that arrived after the head (no framing to strip: Content-Length responses only).
std::size_t bytes_after_head(std::string_view received) {
  const auto end = received.find("\r\n\r\n");
  return end == std::string_view::npos ? 0 : received.size() - (end + 4);
}

// Sends a GET and hands over the upstream connection that received it.
void start_get(FakeUpstream& upstream, TestClient& client, std::shared_ptr<UpstreamConn>& conn,
               std::string_view target = "/") {
  ASSERT_TRUE(client.send("GET " + std::string(target) + " HTTP/1.1\r\nHost: example\r\n\r\n"));
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_EQ(req.target, target);
}

// ---- SPEC 30: default error handler ----------------------------------------------------------

TEST(Errors, Spec30_UpstreamRefusedIs502EmptyBody) {
  RefusingPort closed;
  ProxyHarness proxy(closed.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /refused HTTP/1.1\r\nHost: example\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(res.header("Content-Length"), "0");
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::error_response));
  EXPECT_TRUE(proxy.log_contains("/refused")) << "the error is logged";
}

TEST(Errors, Spec30_UpstreamHangsUpBeforeResponseIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/hangup"));
  conn->close();  // Go's "hangup" case: the backend closes without a byte of response

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  // A fresh connection failed: nothing to retry (SPEC L6), so the upstream saw one connection.
  EXPECT_EQ(upstream.accepted_count(), 1u);
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::error_response));
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

TEST(Errors, Spec30_MalformedResponseIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /garbage HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send("SURPRISE this is not HTTP\r\nat all\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  ASSERT_TRUE(client->wait_closed());  // the client asked for close
  EXPECT_EQ(client->received(), "") << "bytes after the 502";
  // The bad upstream connection is closed, never pooled.
  EXPECT_TRUE(conn->wait_closed());
  ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
}

// ---- SPEC 31 ---------------------------------------------------------------------------------

TEST(Errors, Spec31_CustomErrorHandler) {
  RefusingPort closed;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::error_code>> calls;  // (inbound path, error)
  ProxyHarness proxy(closed.url(), [&](ReverseProxy& p) {
    p.error_handler = [&](const Request& in, std::error_code ec) {
      {
        std::lock_guard lock(mutex);
        calls.emplace_back(in.url.raw_path, ec);
      }
      SimpleResponse res;
      res.status = 503;
      res.header.set("X-Error-Handler", "custom");
      res.header.set("Content-Type", "text/plain");
      res.body = "custom error page";
      return res;
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /custom HTTP/1.1\r\nHost: example\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.header("X-Error-Handler"), "custom");
  EXPECT_EQ(res.header("Content-Type"), "text/plain");
  EXPECT_EQ(res.header("Content-Length"), "17");
  EXPECT_EQ(res.body, "custom error page");
  std::lock_guard lock(mutex);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, "/custom");
  EXPECT_EQ(calls[0].second, make_error_code(errc::upstream_connect_failed))
      << calls[0].second.message();
}

// A handler that breaks its "must not throw" contract still leaves the client with an answer.
TEST(Errors, Spec31_ThrowingErrorHandlerFallsBackTo502) {
  RefusingPort closed;
  ProxyHarness proxy(closed.url(), [](ReverseProxy& p) {
    p.error_handler = [](const Request&, std::error_code) -> SimpleResponse {
      throw std::runtime_error("handler bug");
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  ASSERT_TRUE(client->send("GET /handler-throws HTTP/1.1\r\nHost: example\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_TRUE(proxy.log_contains("error_handler")) << "the broken hook is not logged";
}

// ---- SPEC 32 ---------------------------------------------------------------------------------

TEST(Errors, Spec32_ModifyResponseChangesStatusAndHeaders) {
  FakeUpstream upstream;
  std::atomic<int> calls{0};
  std::atomic<bool> saw_hop_field{false};
  ProxyHarness proxy(upstream.url(), [&](ReverseProxy& p) {
    p.modify_response = [&](Response& res) {
      ++calls;
      // Runs after the hop-by-hop fields were removed (SPEC 18 before 32).
      if (res.header.count("Keep-Alive") != 0 || res.header.count("X-Hop") != 0) {
        saw_hop_field = true;
      }
      EXPECT_EQ(res.status, 200u);
      res.status = 202;
      res.header.set("X-Modified", "yes");
      res.header.erase("X-Remove-Me");
      return std::error_code{};
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/modify"));
  ASSERT_TRUE(conn->send(response(200,
                                  {{"X-Remove-Me", "1"},
                                   {"X-Kept", "2"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"Connection", "X-Hop"},
                                   {"X-Hop", "h"}},
                                  "payload")));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 202);
  EXPECT_EQ(res.header("X-Modified"), "yes");
  EXPECT_EQ(res.count("X-Remove-Me"), 0u);
  EXPECT_EQ(res.header("X-Kept"), "2");
  EXPECT_EQ(res.body, "payload");
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(saw_hop_field.load()) << "modify_response saw hop-by-hop fields";
}

TEST(Errors, Spec32_ModifyResponseErrorRunsErrorHandlerAndClosesUpstream) {
  FakeUpstream upstream;
  const std::error_code hook_error = std::make_error_code(std::errc::operation_not_permitted);
  std::mutex mutex;
  std::vector<std::error_code> handled;
  ProxyHarness proxy(upstream.url(), [&](ReverseProxy& p) {
    p.modify_response = [&](Response&) { return hook_error; };
    p.error_handler = [&](const Request&, std::error_code ec) {
      {
        std::lock_guard lock(mutex);
        handled.push_back(ec);
      }
      SimpleResponse res;  // 502 by default
      res.header.set("X-Handled", "modify-response");
      return res;
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/modify-fails"));
  // A long body still being sent: closing "the body" can only mean closing the connection.
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Upstream: 1\r\n\r\n" +
                         std::string(10, 'b')));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.header("X-Handled"), "modify-response");
  EXPECT_EQ(res.count("X-Upstream"), 0u);
  EXPECT_EQ(res.body, "");
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(handled.size(), 1u);
    EXPECT_EQ(handled[0], hook_error) << handled[0].message();
  }
  // Go's TestModifyResponseClosesBody: the upstream sees its connection closed.
  EXPECT_TRUE(conn->wait_closed());
}

// SPEC 32: a hook that throws counts as a hook that failed.
TEST(Errors, Spec32_ModifyResponseThrowRunsErrorHandler) {
  FakeUpstream upstream;
  std::mutex mutex;
  std::vector<std::error_code> handled;
  ProxyHarness proxy(upstream.url(), [&](ReverseProxy& p) {
    p.modify_response = [](Response&) -> std::error_code {
      throw std::runtime_error("modify_response bug");
    };
    p.error_handler = [&](const Request&, std::error_code ec) {
      std::lock_guard lock(mutex);
      handled.push_back(ec);
      return SimpleResponse{};
    };
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/modify-throws"));
  ASSERT_TRUE(conn->send(response(200, {{"X-Upstream", "1"}}, "never relayed")));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.count("X-Upstream"), 0u);
  EXPECT_EQ(res.body, "");
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(handled.size(), 1u);
    EXPECT_EQ(handled[0], make_error_code(errc::modify_response_failed)) << handled[0].message();
  }
  EXPECT_TRUE(conn->wait_closed());
}

// ---- SPEC 33 / L4 / R36: failures after the head was sent ------------------------------------

TEST(Errors, Spec33_MidBodyErrorTruncatesContentLength) {
  for (const bool rst : {true, false}) {
    SCOPED_TRACE(rst ? "upstream resets mid-body" : "upstream closes mid-body");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.flush_interval = -1ns; });
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/cut-length"));
    ASSERT_TRUE(
        conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'x')));
    // The head and the 1000 bytes reached the client before the upstream fails.
    ASSERT_TRUE(
        client->read_until([](std::string_view got) { return bytes_after_head(got) >= 1000; }));
    if (rst) {
      conn->reset();  // R36
    } else {
      conn->close();  // short body vs Content-Length
    }

    ASSERT_TRUE(client->wait_closed());
    const ParsedResponse res = parse_response_prefix(client->received());
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("Content-Length"), "100000");
    EXPECT_FALSE(res.complete) << "a cut response must not look complete";
    EXPECT_EQ(res.body, std::string(1000, 'x'));  // no padding, no error text in the body
    ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::truncated));
    EXPECT_TRUE(proxy.log_contains("truncated"));
    ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
  }
}

TEST(Errors, Spec33_MidBodyErrorTruncatesChunked) {
  for (const bool rst : {false, true}) {
    SCOPED_TRACE(rst ? "upstream resets mid-chunked" : "upstream closes mid-chunked");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/cut-chunked"));
    const std::string part(1000, 'y');
    ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(part)));
    ASSERT_TRUE(client->read_until(
        [&part](std::string_view got) { return got.find(part) != std::string_view::npos; }));
    if (rst) {
      conn->reset();
    } else {
      conn->close();  // R37: FIN without the last chunk
    }

    ASSERT_TRUE(client->wait_closed());
    const ParsedResponse res = parse_response_prefix(client->received());
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 200);
    EXPECT_TRUE(res.chunked);
    EXPECT_FALSE(res.complete) << "the final 0 chunk was sent";
    EXPECT_EQ(res.body, part);
    EXPECT_EQ(client->received().find("\r\n0\r\n"), std::string::npos);
    ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::truncated));
    ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
  }
}

// L4 / R36: the same failure while the head is still in the proxy's buffer (flush_interval 0,
// known length, a few bytes): nothing was sent yet, so the client gets a proper 502 instead.
TEST(Errors, L4_UpstreamFailureBeforeHeadSentIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) { p.flush_interval = 0ns; });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/early-cut"));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Upstream: 1\r\n\r\n" +
                         std::string(10, 'z')));
  conn->close();

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.body, "");
  EXPECT_EQ(res.count("X-Upstream"), 0u) << "fields of the failed response leaked into the 502";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::error_response));
  EXPECT_EQ(outcomes(proxy.events()), std::vector<std::string>{"error_response"});
}

// L4: a client that leaves mid-body is a client abort in the log, never a 502.
TEST(Errors, L4_ClientAbortLoggedNotAs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/client-leaves"));
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("first-part")));
  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return got.find("first-part") != std::string_view::npos; }));
  client->reset();

  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::client_gone));
  EXPECT_TRUE(conn->wait_closed()) << "the upstream request was not cancelled";
  EXPECT_TRUE(proxy.log_contains("client aborted"));
  for (const auto& line : proxy.log_lines()) {
    EXPECT_EQ(line.find("upstream error"), std::string::npos) << line;
    EXPECT_EQ(line.find(" 502 "), std::string::npos) << line;
  }
}

// L4 / R46: the same while the client is still uploading its body: the upstream never gets a
// complete request, the exchange is a client abort (not an upstream error, not a 502).
TEST(Errors, L4_ClientAbortMidUploadLoggedNotAs502) {
  for (const bool rst : {true, false}) {
    SCOPED_TRACE(rst ? "client resets mid-upload" : "client closes mid-upload");
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    std::unique_ptr<TestClient> client;
    ASSERT_TRUE(TestClient::connect(proxy.port(), client));
    ASSERT_TRUE(
        client->send("POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 1000000\r\n\r\n" +
                     std::string(1000, 'u')));
    std::shared_ptr<UpstreamConn> conn;
    ASSERT_TRUE(upstream.accept(conn));  // the proxy is forwarding
    if (rst) {
      client->reset();
    } else {
      client->close();
    }

    RecordedRequest req;
    EXPECT_FALSE(conn->read_request(req)) << "the upstream got a complete request";
    ASSERT_TRUE(proxy.events().wait_for_ends(1));
    EXPECT_EQ(outcomes(proxy.events()), std::vector<std::string>{"client_gone"});
    EXPECT_TRUE(proxy.log_contains("client aborted"));
    for (const auto& line : proxy.log_lines()) {
      EXPECT_EQ(line.find("upstream error"), std::string::npos) << line;
      EXPECT_EQ(line.find(" 502 "), std::string::npos) << line;
    }
    ASSERT_NO_FATAL_FAILURE(expect_serves_fresh_get(upstream, proxy));
  }
}

// ---- L7 / R38 / R39: upstream timeouts -------------------------------------------------------

TEST(Errors, L7_ResponseHeaderTimeoutIs504) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::response_header_timeout, 300ms);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  const auto sent = Clock::now();
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/never"));
  // The upstream holds the request and never answers.

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  const auto elapsed = Clock::now() - sent;
  EXPECT_EQ(res.status, 504);
  EXPECT_EQ(res.body, "");
  EXPECT_GE(elapsed, 300ms) << "answered before the response header timeout";
  EXPECT_TRUE(conn->wait_closed()) << "the upstream connection was left open";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::error_response));
}

TEST(Errors, L7_UpstreamIdleTimeoutTruncates) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::idle_read_timeout, 300ms);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_NO_FATAL_FAILURE(start_get(upstream, *client, conn, "/stall"));
  ASSERT_TRUE(conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         chunk("before-the-stall")));
  ASSERT_TRUE(client->read_until(
      [](std::string_view got) { return got.find("before-the-stall") != std::string_view::npos; }));
  const auto stalled = Clock::now();
  // R39: the upstream now sends nothing more and keeps the connection open.

  ASSERT_TRUE(client->wait_closed());
  EXPECT_GE(Clock::now() - stalled, 250ms) << "cut long before the idle timeout";
  const ParsedResponse res = parse_response_prefix(client->received());
  EXPECT_EQ(res.error, "");
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_FALSE(res.complete) << "an idle-timed-out response must look truncated";
  EXPECT_EQ(res.body, "before-the-stall");
  EXPECT_TRUE(conn->wait_closed()) << "the stalled upstream connection was left open";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::truncated));
  EXPECT_TRUE(proxy.events().wait_until(
      [](const std::vector<Event>& events) {
        return std::any_of(events.begin(), events.end(), [](const Event& e) {
          return e.kind == Event::stopped && e.reason == FlushStopReason::upstream_timeout;
        });
      },
      "flush_timer_stopped reason=upstream_timeout"));
}

TEST(Errors, L7_ConnectTimeoutIs504) {
  FullListener listener;
  if (!listener.queue_full()) {
    GTEST_SKIP() << "cannot make a loopback connect hang here (accept queue not reported full)";
  }
  ProxyHarness proxy(listener.url(), [](ReverseProxy& p) {
    set_transport_option(p, &TransportOptions::connect_timeout, 300ms);
  });
  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(proxy.port(), client));
  const auto sent = Clock::now();
  ASSERT_TRUE(client->send("GET /unreachable HTTP/1.1\r\nHost: example\r\n\r\n"));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 504);
  EXPECT_EQ(res.body, "");
  EXPECT_GE(Clock::now() - sent, 300ms) << "answered before the connect timeout";
  ASSERT_TRUE(wait_outcome(proxy.events(), ResponseOutcome::error_response));
}

}  // namespace
}  // namespace sluice::test
