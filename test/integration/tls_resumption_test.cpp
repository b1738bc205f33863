// Session resumption on the TLS listener: tickets are encrypted with the listener's key ring,
// which a certificate reload keeps, so a client that resumed before a reload resumes after it.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sluice/tls.hpp"
#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_certs.hpp"
#include "support/tls_client.hpp"

namespace sluice::test {
namespace {

FakeUpstream::Handler answer_ok() {
  return [](UpstreamConn& c) {
    for (int i = 0; i < 100; ++i) {
      RecordedRequest req;
      if (!c.read_request(req)) return;
      if (!c.send(response(200, {}, "ok"))) return;
    }
  };
}

// One request on a new TLS connection offering `session`; returns the connection's session
// (taken after the response, when a TLS 1.3 ticket has arrived) and whether it resumed.
testing::AssertionResult exchange(std::uint16_t port, const TestPki& pki, TlsSession offered,
                                  TlsSession& next, bool& resumed) {
  std::unique_ptr<TlsClient> c;
  TlsClientOptions options;
  options.sni = "localhost";
  options.ca_file = pki.ca_path();
  options.session = std::move(offered);
  auto connected = TlsClient::connect(port, options, c);
  if (!connected) return connected;
  if (!c->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")) {
    return testing::AssertionFailure() << "send failed";
  }
  ParsedResponse res;
  auto read = c->read_response(res);
  if (!read) return read;
  if (res.status != 200) return testing::AssertionFailure() << "status " << res.status;
  resumed = c->session_reused();
  next = c->session();
  if (!next) return testing::AssertionFailure() << "no session to resume";
  // A client freed without close_notify marks its session not resumable (OpenSSL's
  // ssl_clear_bad_session): end it as a browser does.
  c->close_notify();
  return testing::AssertionSuccess();
}

struct Listener {
  TestPki pki;
  IssuedCert leaf = pki.issue({"localhost"}, "server");
  std::shared_ptr<ServerTls> tls = ServerTls::load({{leaf.cert_path, leaf.key_path}});
  FakeUpstream upstream;
  std::unique_ptr<ProxyHarness> proxy;

  Listener() {
    upstream.set_handler(answer_ok());
    ServerOptions options;
    options.tls = tls;
    proxy = std::make_unique<ProxyHarness>(upstream.url(), ProxyHarness::Configure{}, options);
  }
};

TEST(TlsResumption, TicketResumesAndSurvivesACertificateReload) {
  Listener l;
  // Two sessions from two full handshakes: a TLS 1.3 client uses each ticket once.
  TlsSession before, after, unused;
  bool resumed = true;
  ASSERT_TRUE(exchange(l.proxy->port(), l.pki, nullptr, before, resumed));
  EXPECT_FALSE(resumed) << "a first connection has nothing to resume";
  ASSERT_TRUE(exchange(l.proxy->port(), l.pki, nullptr, after, resumed));
  ASSERT_TRUE(exchange(l.proxy->port(), l.pki, before, unused, resumed));
  EXPECT_TRUE(resumed) << "the listener's own ticket was not accepted";

  l.pki.issue({"localhost"}, "server");  // new certificate, same files
  ASSERT_EQ(l.tls->reload(), std::nullopt);
  EXPECT_EQ(l.tls->generation(), 1u);
  ASSERT_TRUE(exchange(l.proxy->port(), l.pki, after, unused, resumed));
  EXPECT_TRUE(resumed) << "a reload lost the ticket keys: every client pays a full handshake";
}

TEST(TlsResumption, ATicketFromAnotherListenerIsNotAccepted) {
  Listener a;
  Listener b;
  TlsSession from_a, from_b;
  bool resumed = true;
  ASSERT_TRUE(exchange(a.proxy->port(), a.pki, nullptr, from_a, resumed));
  // The client verifies b against b's own CA; the session it offers was issued by a.
  ASSERT_TRUE(exchange(b.proxy->port(), b.pki, from_a, from_b, resumed));
  EXPECT_FALSE(resumed) << "a ticket encrypted with another listener's keys resumed";
}

}  // namespace
}  // namespace sluice::test
