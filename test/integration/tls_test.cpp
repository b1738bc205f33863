// TLS on both sides of the proxy (include/sluice/tls.hpp, docs/architecture.md "TLS"): HTTPS
// listeners (handshake, ALPN, SNI, versions, the handshake's deadline, plain HTTP on the TLS
// port, close_notify or not at the end, certificate reload) and https:// upstreams
// (verification, pooling, session resumption).
//
// The PKI is made at test time (support/test_certs.hpp); the client (support/tls_client.hpp)
// and the HTTPS backend (support/tls_upstream.hpp) are OpenSSL driven directly, sharing no code
// with the proxy's TLS. Every wait has a deadline and ends on the event; nothing sleeps.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/proxy_request.hpp"
#include "sluice/tls.hpp"
#include "sluice/transport.hpp"
#include "sluice/url.hpp"
#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_certs.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"
#include "support/tls_client.hpp"
#include "support/tls_upstream.hpp"

namespace sluice {
// Readable failure messages; found by ADL.
[[maybe_unused]] static void PrintTo(FlushStopReason reason, std::ostream* os) {
  *os << to_string(reason);
}
[[maybe_unused]] static void PrintTo(ResponseOutcome outcome, std::ostream* os) {
  *os << to_string(outcome);
}
}  // namespace sluice

namespace sluice::test {

[[maybe_unused]] static void PrintTo(TlsIo io, std::ostream* os) { *os << to_string(io); }

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) +
         "\r\n";
}

// Answers every request on the connection with 200 and a body naming what the upstream saw.
void echo(UpstreamConn& conn) {
  RecordedRequest req;
  while (conn.read_request(req)) {
    const std::string body =
        "target=" + req.target + " proto=" + req.header("X-Forwarded-Proto").value_or("-");
    if (!conn.send(response(200, {{"Content-Type", "text/plain"}}, body))) return;
  }
}

// Rewrite mode with X-Forwarded-* (set_x_forwarded), so that X-Forwarded-Proto shows whether
// the request arrived over TLS (Request::tls).
ProxyHarness::Configure rewrite_with_forwarded(const std::string& upstream_url) {
  const auto target = *Url::parse(upstream_url);
  return [target](ReverseProxy& p) {
    p.director = nullptr;
    p.rewrite = [target](ProxyRequest& pr) {
      pr.set_url(target);
      pr.set_x_forwarded();
    };
  };
}

// A TLS listener in front of `upstream_url`: the certificate is a leaf for localhost and
// 127.0.0.1 from a fresh test CA, written as server.crt / server.key (which reload() re-reads).
struct TlsProxy {
  TestPki pki;
  IssuedCert leaf;
  std::shared_ptr<ServerTls> tls;
  std::unique_ptr<ProxyHarness> harness;

  explicit TlsProxy(const std::string& upstream_url, ProxyHarness::Configure configure = {},
                    ServerOptions options = {},
                    std::vector<std::string> names = {"localhost", "127.0.0.1"}) {
    leaf = pki.issue(names, "server");
    tls = ServerTls::load({{leaf.cert_path, leaf.key_path}});
    options.tls = tls;
    harness = std::make_unique<ProxyHarness>(upstream_url, std::move(configure), options);
  }

  std::uint16_t port() const { return harness->port(); }

  // SNI localhost, verified against the test CA and the name localhost.
  TlsClientOptions verified() const {
    TlsClientOptions o;
    o.sni = "localhost";
    o.ca_file = pki.ca_path();
    o.verify_name = "localhost";
    return o;
  }

  testing::AssertionResult connect(std::unique_ptr<TlsClient>& out) {
    return TlsClient::connect(port(), verified(), out);
  }
};

// One GET on `client`, expecting 200 and `body`.
void expect_get(TlsClient& client, std::string_view target, std::string_view body) {
  ASSERT_TRUE(client.send(get(target)));
  ParsedResponse res;
  ASSERT_TRUE(client.read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, body);
}

// A fresh TLS connection with `options`, one GET served by an echo upstream.
void expect_served(std::uint16_t port, TlsClientOptions options, std::string_view target = "/") {
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(TlsClient::connect(port, std::move(options), client));
  ASSERT_NO_FATAL_FAILURE(
      expect_get(*client, target, "target=" + std::string(target) + " proto=-"));
}

// The certificate a fresh handshake with `sni` gets (not verified: SNI tests look at names).
testing::AssertionResult certificate_for(std::uint16_t port, std::string sni,
                                         CertificateNames& out) {
  TlsClientOptions o;
  o.sni = std::move(sni);
  std::unique_ptr<TlsClient> client;
  if (auto r = TlsClient::connect(port, o, client); !r) return r;
  out = client->peer_certificate();
  return testing::AssertionSuccess();
}

std::string names_of(const CertificateNames& names) {
  std::string out = "CN=" + names.common_name + " DNS:";
  for (const auto& n : names.dns)
    out += " " + n;
  return out;
}

// ================================================================================================
// HTTPS listener

TEST(TlsServer, GetKeepAliveOverTlsSendsForwardedProtoHttps) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url(), rewrite_with_forwarded(upstream.url()));
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  EXPECT_EQ(client->verify_result(), X509_V_OK);

  // Two requests on the one TLS connection: keep-alive works over TLS.
  for (const std::string target : {"/one", "/two?x=1"}) {
    ASSERT_TRUE(client->send(get(target)));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "target=" + target + " proto=https");
    EXPECT_NE(res.header("Connection"), "close");
  }
  EXPECT_EQ(client->peer_end(), TlsIo::ok) << "the keep-alive connection was ended";
  client->close_notify();
  EXPECT_TRUE(proxy.harness->server().wait_for_no_sessions(kDeadline));
}

TEST(TlsServer, ForwardedProtoIsHttpOnCleartextListener) {
  // The contrast: the same rewrite on a cleartext listener says http.
  FakeUpstream upstream;
  upstream.set_handler(echo);
  ProxyHarness proxy(upstream.url(), rewrite_with_forwarded(upstream.url()));
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/plain", res));
  EXPECT_EQ(res.body, "target=/plain proto=http");
}

TEST(TlsServer, ChunkedStreamingResponseArrivesPieceByPiece) {
  FakeUpstream upstream;
  TlsProxy proxy(upstream.url());
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  ASSERT_TRUE(client->send(get("/stream")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));

  ASSERT_TRUE(conn->send(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunk("first;")));
  // An unknown length flushes every write: each piece arrives before the next is sent.
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "first;"); }));
  ASSERT_TRUE(conn->send(chunk("second;")));
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "second;"); }));
  ASSERT_TRUE(conn->send(chunk("third;") + std::string(kLastChunk)));

  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.chunked);
  EXPECT_EQ(res.body, "first;second;third;");
  ASSERT_TRUE(proxy.harness->events().wait_for_ends(1));
  const auto events = proxy.harness->events().events();
  EXPECT_EQ(events.back().kind, Event::end);
  EXPECT_EQ(events.back().outcome, ResponseOutcome::complete);
}

TEST(TlsServer, AlpnChoosesHttp11WhenOfferedWithAnUnknownProtocol) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  auto options = proxy.verified();
  options.alpn = {"spdy/3.1", "http/1.1"};
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(TlsClient::connect(proxy.port(), options, client));
  EXPECT_EQ(client->alpn(), "http/1.1");
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/alpn", "target=/alpn proto=-"));
}

TEST(TlsServer, AlpnWithoutCommonProtocolConnectsWithoutAlpn) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  auto options = proxy.verified();
  options.alpn = {"spdy/3.1"};
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(TlsClient::connect(proxy.port(), options, client))
      << "a client offering only unknown protocols must still connect (no ALPN), not get an alert";
  EXPECT_EQ(client->alpn(), "");
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/no-alpn", "target=/no-alpn proto=-"));
}

// Two certificates: the default for default.test, the second for api.test and *.wild.test.
struct SniProxy {
  TestPki pki;
  IssuedCert first;
  IssuedCert second;
  FakeUpstream upstream;
  std::unique_ptr<ProxyHarness> harness;

  SniProxy() {
    first = pki.issue({"default.test"}, "default");
    second = pki.issue({"api.test", "*.wild.test"}, "second");
    upstream.set_handler(echo);
    ServerOptions options;
    options.tls =
        ServerTls::load({{first.cert_path, first.key_path}, {second.cert_path, second.key_path}});
    harness = std::make_unique<ProxyHarness>(upstream.url(), ProxyHarness::Configure{}, options);
  }
  std::uint16_t port() const { return harness->port(); }
};

TEST(TlsServer, SniExactNamePicksItsCertificate) {
  SniProxy proxy;
  CertificateNames names;
  ASSERT_TRUE(certificate_for(proxy.port(), "api.test", names));
  EXPECT_TRUE(names.has_dns("api.test")) << names_of(names);
  ASSERT_TRUE(certificate_for(proxy.port(), "API.Test", names));
  EXPECT_TRUE(names.has_dns("api.test")) << "SNI matching is case-insensitive: " << names_of(names);
  ASSERT_TRUE(certificate_for(proxy.port(), "default.test", names));
  EXPECT_TRUE(names.has_dns("default.test")) << names_of(names);

  // Verified end to end with the chosen certificate, and served.
  TlsClientOptions o;
  o.sni = "api.test";
  o.ca_file = proxy.pki.ca_path();
  o.verify_name = "api.test";
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), o, "/api"));
}

TEST(TlsServer, SniUnknownNameOrNoSniGetsTheDefault) {
  SniProxy proxy;
  CertificateNames names;
  ASSERT_TRUE(certificate_for(proxy.port(), "unknown.test", names));
  EXPECT_TRUE(names.has_dns("default.test")) << names_of(names);
  ASSERT_TRUE(certificate_for(proxy.port(), "", names));
  EXPECT_TRUE(names.has_dns("default.test")) << "no SNI: " << names_of(names);
  TlsClientOptions o;
  o.sni = "unknown.test";
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), o, "/unknown"));
}

TEST(TlsServer, SniWildcardMatchesExactlyOneLabel) {
  SniProxy proxy;
  CertificateNames names;
  ASSERT_TRUE(certificate_for(proxy.port(), "x.wild.test", names));
  EXPECT_TRUE(names.has_dns("*.wild.test")) << names_of(names);
  ASSERT_TRUE(certificate_for(proxy.port(), "a.b.wild.test", names));
  EXPECT_TRUE(names.has_dns("default.test")) << "two labels: " << names_of(names);
  ASSERT_TRUE(certificate_for(proxy.port(), "wild.test", names));
  EXPECT_TRUE(names.has_dns("default.test")) << "no label: " << names_of(names);

  TlsClientOptions o;
  o.sni = "x.wild.test";
  o.ca_file = proxy.pki.ca_path();
  o.verify_name = "x.wild.test";
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), o, "/wild"));
}

void serves_with_version(int version) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  auto options = proxy.verified();
  options.max_version = version;
  options.min_version = version;
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(TlsClient::connect(proxy.port(), options, client));
  EXPECT_EQ(client->version_number(), version) << client->version();
  EXPECT_EQ(client->version(), tls_version_name(version));
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/v", "target=/v proto=-"));
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/v2", "target=/v2 proto=-"));
}

TEST(TlsServer, Tls12Serves) { serves_with_version(TLS1_2_VERSION); }

TEST(TlsServer, Tls13Serves) { serves_with_version(TLS1_3_VERSION); }

TEST(TlsServer, Tls11IsRefused) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  TlsClientOptions options;
  options.max_version = TLS1_1_VERSION;
  std::unique_ptr<TlsClient> client;
  // (This client's OpenSSL may refuse TLS 1.1 itself at its security level: either way there is
  // no TLS 1.1 session.)
  EXPECT_FALSE(TlsClient::connect(proxy.port(), options, client));
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), proxy.verified(), "/after"));
}

// A client that stalls its handshake is closed once header_timeout passes, and others are served
// meanwhile. `stall` sends what the stalled client sends (maybe nothing).
void stalled_handshake_is_closed(std::string_view stall) {
  constexpr auto kHeaderTimeout = 300ms;
  FakeUpstream upstream;
  upstream.set_handler(echo);
  ServerOptions options;
  options.header_timeout = kHeaderTimeout;
  TlsProxy proxy(upstream.url(), {}, options);

  std::unique_ptr<TestClient> stalled;
  ASSERT_TRUE(TestClient::connect(proxy.port(), stalled));
  const auto connected_at = Clock::now();
  if (!stall.empty()) {
    ASSERT_TRUE(stalled->send(stall));
  }

  // Served while the stalled one waits (the same worker thread: options.threads is 1).
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), proxy.verified(), "/meanwhile"));

  ASSERT_TRUE(stalled->wait_closed()) << "a stalled handshake was never closed";
  const auto took = Clock::now() - connected_at;
  // The server's clock starts at its accept, a moment after the client's connect returned.
  EXPECT_GE(took, kHeaderTimeout - 50ms) << "closed before header_timeout";
  EXPECT_TRUE(stalled->received().empty())
      << "the server answered a stalled handshake with: " << printable(stalled->received());
  EXPECT_EQ(upstream.accepted_count(), 1u);
  stalled.reset();
  EXPECT_TRUE(proxy.harness->server().wait_for_no_sessions(kDeadline))
      << proxy.harness->server().live_sessions() << " sessions still live";
}

TEST(TlsServer, SilentClientIsClosedAfterHeaderTimeoutWhileOthersAreServed) {
  ASSERT_NO_FATAL_FAILURE(stalled_handshake_is_closed(""));
}

TEST(TlsServer, PartialClientHelloIsClosedAfterHeaderTimeoutWhileOthersAreServed) {
  TlsClientOptions hello_options;
  hello_options.sni = "localhost";
  const std::string hello = TlsClient::client_hello(hello_options);
  ASSERT_GT(hello.size(), 100u);
  ASSERT_EQ(static_cast<unsigned char>(hello[0]), 0x16) << "not a handshake record";
  // The record header and part of the ClientHello: the server must wait for the rest, and give up.
  ASSERT_NO_FATAL_FAILURE(stalled_handshake_is_closed(std::string_view(hello).substr(0, 60)));
}

TEST(TlsServer, PlainHttpToTlsPortGetsClearText400AndListenerKeepsServing) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<TestClient> plain;
    ASSERT_TRUE(TestClient::connect(proxy.port(), plain));
    ASSERT_TRUE(plain->send("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    ParsedResponse res;
    ASSERT_TRUE(plain->read_response(res)) << "round " << round;
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(res.version, "HTTP/1.1");
    EXPECT_TRUE(contains(res.body, "HTTPS")) << res.body;
    ASSERT_TRUE(plain->wait_closed());
  }
  EXPECT_EQ(upstream.accepted_count(), 0u) << "a plain request reached the upstream";
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), proxy.verified(), "/tls"));
  EXPECT_TRUE(proxy.harness->server().wait_for_no_sessions(kDeadline));
}

TEST(TlsServer, GarbageOnTlsPortIsClosedWithoutAnswer) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  std::unique_ptr<TestClient> garbage;
  ASSERT_TRUE(TestClient::connect(proxy.port(), garbage));
  ASSERT_TRUE(garbage->send(std::string("\x01\x02\x03\x04 not tls\r\n\r\n", 16)));
  ASSERT_TRUE(garbage->wait_closed());
  ASSERT_NO_FATAL_FAILURE(expect_served(proxy.port(), proxy.verified(), "/tls"));
}

// An upstream failure in the middle of a chunked body: the client's TLS connection ends
// WITHOUT close_notify, so the truncation is visible (a close_notify would make a cut
// close-delimited body look complete).
void cut_stream_has_no_close_notify(bool upstream_resets) {
  FakeUpstream upstream;
  TlsProxy proxy(upstream.url());
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  ASSERT_TRUE(client->send(get("/cut")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(
      conn->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("partial")));
  ASSERT_TRUE(client->read_until([](std::string_view got) { return contains(got, "partial"); }));
  if (upstream_resets) {
    conn->reset();
  } else {
    conn->close();
  }

  ASSERT_TRUE(client->wait_closed());
  EXPECT_NE(client->peer_end(), TlsIo::close_notify)
      << "a cut response ended with close_notify, as if it were complete";
  EXPECT_TRUE(client->peer_end() == TlsIo::eof || client->peer_end() == TlsIo::reset)
      << to_string(client->peer_end()) << " " << client->last_error();
  const ParsedResponse res = parse_response_prefix(client->received());
  EXPECT_EQ(res.status, 200);
  EXPECT_FALSE(res.complete) << "the cut response parsed as complete";
  EXPECT_EQ(res.body, "partial");
  ASSERT_TRUE(proxy.harness->events().wait_for_ends(1));
  EXPECT_EQ(proxy.harness->events().events().back().outcome, ResponseOutcome::truncated);
}

TEST(TlsServer, CutStreamByUpstreamResetEndsWithoutCloseNotify) {
  ASSERT_NO_FATAL_FAILURE(cut_stream_has_no_close_notify(true));
}

TEST(TlsServer, CutStreamByUpstreamCloseEndsWithoutCloseNotify) {
  ASSERT_NO_FATAL_FAILURE(cut_stream_has_no_close_notify(false));
}

TEST(TlsServer, CompleteResponseOnClosingConnectionEndsWithCloseNotify) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  ASSERT_TRUE(client->send(get("/last", "Connection: close\r\n")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Connection"), "close");
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->peer_end(), TlsIo::close_notify) << client->last_error();
  EXPECT_TRUE(client->received().empty()) << printable(client->received());
}

TEST(TlsServer, Http10ResponseEndsWithCloseNotify) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  ASSERT_TRUE(client->send("GET /old HTTP/1.0\r\nHost: localhost\r\n\r\n"));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "target=/old proto=-");
  ASSERT_TRUE(client->wait_closed());
  EXPECT_EQ(client->peer_end(), TlsIo::close_notify) << client->last_error();
}

TEST(TlsServer, ReloadUnderOpenSseStreamKeepsStreamAndNewHandshakesGetNewCertificate) {
  FakeUpstream upstream;
  TlsProxy proxy(upstream.url(), {}, {}, {"old.test", "localhost"});
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  EXPECT_TRUE(client->peer_certificate().has_dns("old.test"));
  ASSERT_TRUE(client->send(get("/events", "Accept: text/event-stream\r\n")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunk("data: 1\n\n")));
  ASSERT_TRUE(
      client->read_until([](std::string_view got) { return contains(got, "data: 1\n\n"); }));

  // New files at the same paths, then reload.
  const IssuedCert fresh = proxy.pki.issue({"new.test", "localhost"}, "server");
  ASSERT_EQ(fresh.cert_path, proxy.leaf.cert_path);
  EXPECT_EQ(proxy.tls->generation(), 0u);
  const auto failed = proxy.tls->reload();
  ASSERT_FALSE(failed.has_value()) << *failed;
  EXPECT_EQ(proxy.tls->generation(), 1u);

  // The stream goes on, on its old session.
  ASSERT_TRUE(conn->send(chunk("data: 2\n\n")));
  ASSERT_TRUE(
      client->read_until([](std::string_view got) { return contains(got, "data: 2\n\n"); }));

  // A new handshake gets the new certificate (verified by the same CA).
  std::unique_ptr<TlsClient> second;
  ASSERT_TRUE(proxy.connect(second));
  const auto names = second->peer_certificate();
  EXPECT_TRUE(names.has_dns("new.test")) << names_of(names);
  EXPECT_FALSE(names.has_dns("old.test")) << names_of(names);

  ASSERT_TRUE(conn->send(chunk("data: 3\n\n") + std::string(kLastChunk)));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
  EXPECT_TRUE(client->peer_certificate().has_dns("old.test"));
  EXPECT_EQ(client->peer_end(), TlsIo::ok);
}

TEST(TlsServer, BadReloadReturnsErrorAndOldCertificateKeepsServing) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url(), {}, {}, {"old.test", "localhost"});
  const std::string cert = proxy.leaf.cert_path;
  const std::string key = proxy.leaf.key_path;
  auto still_old = [&](const std::string& what) {
    SCOPED_TRACE(what);
    std::unique_ptr<TlsClient> client;
    ASSERT_TRUE(proxy.connect(client));
    EXPECT_TRUE(client->peer_certificate().has_dns("old.test"))
        << names_of(client->peer_certificate());
    ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/still", "target=/still proto=-"));
  };

  // The key file removed.
  std::filesystem::remove(key);
  auto failed = proxy.tls->reload();
  ASSERT_TRUE(failed.has_value()) << "reload succeeded without a key file";
  EXPECT_TRUE(contains(*failed, key)) << "the error does not name the key file: " << *failed;
  EXPECT_EQ(proxy.tls->generation(), 0u);
  ASSERT_NO_FATAL_FAILURE(still_old("key removed"));

  // Garbage in the certificate file (the key back).
  proxy.pki.write_file("server.key", proxy.leaf.key_pem);
  proxy.pki.write_file("server.crt", "this is not a certificate\n");
  failed = proxy.tls->reload();
  ASSERT_TRUE(failed.has_value()) << "reload succeeded with a garbage certificate";
  EXPECT_TRUE(contains(*failed, cert)) << "the error does not name the certificate: " << *failed;
  EXPECT_EQ(proxy.tls->generation(), 0u);
  ASSERT_NO_FATAL_FAILURE(still_old("garbage certificate"));

  // A new certificate with the old key: they do not match.
  const IssuedCert other = proxy.pki.issue({"new.test"}, "other");
  proxy.pki.write_file("server.crt", other.cert_pem);
  failed = proxy.tls->reload();
  ASSERT_TRUE(failed.has_value()) << "reload succeeded with a key that does not match";
  EXPECT_TRUE(contains(*failed, key)) << "the error does not name the key file: " << *failed;
  EXPECT_TRUE(contains(*failed, "mismatch") || contains(*failed, "does not match")) << *failed;
  EXPECT_EQ(proxy.tls->generation(), 0u);
  ASSERT_NO_FATAL_FAILURE(still_old("mismatched key"));

  // Repaired: the reload takes.
  proxy.pki.write_file("server.key", other.key_pem);
  failed = proxy.tls->reload();
  ASSERT_FALSE(failed.has_value()) << *failed;
  EXPECT_EQ(proxy.tls->generation(), 1u);
  CertificateNames names;
  ASSERT_TRUE(certificate_for(proxy.port(), "localhost", names));
  EXPECT_TRUE(names.has_dns("new.test")) << names_of(names);
}

// One GET on a fresh connection offering `offered`; `next` is the connection's session after
// the response (a TLS 1.3 ticket arrives after the handshake), `resumed` whether it resumed.
void exchange_with_session(TlsProxy& proxy, int version, TlsSession offered, TlsSession& next,
                           bool& resumed) {
  auto options = proxy.verified();
  options.min_version = version;
  options.max_version = version;
  options.session = std::move(offered);
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(TlsClient::connect(proxy.port(), options, client));
  resumed = client->session_reused();
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/s", "target=/s proto=-"));
  next = client->session();
  ASSERT_TRUE(next);
  // A proper end, so that OpenSSL keeps the session resumable (it marks the session of an SSL
  // freed without close_notify as not resumable).
  client->close_notify();
}

TEST(TlsServer, SessionTicketResumes) {
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(tls_version_name(version));
    FakeUpstream upstream;
    upstream.set_handler(echo);
    TlsProxy proxy(upstream.url());
    TlsSession first;
    bool resumed = true;
    ASSERT_NO_FATAL_FAILURE(exchange_with_session(proxy, version, nullptr, first, resumed));
    EXPECT_FALSE(resumed);
    ASSERT_EQ(SSL_SESSION_is_resumable(first.get()), 1) << "the server issued no ticket";
    TlsSession second;
    ASSERT_NO_FATAL_FAILURE(exchange_with_session(proxy, version, first, second, resumed));
    EXPECT_TRUE(resumed) << "the ticket did not resume";
  }
}

TEST(TlsServer, SessionTicketIssuedBeforeReloadResumesAfterIt) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  TlsSession before;
  bool resumed = true;
  ASSERT_NO_FATAL_FAILURE(exchange_with_session(proxy, TLS1_3_VERSION, nullptr, before, resumed));
  ASSERT_EQ(SSL_SESSION_is_resumable(before.get()), 1) << "the server issued no ticket";

  proxy.pki.issue({"localhost", "127.0.0.1"}, "server");
  const auto failed = proxy.tls->reload();
  ASSERT_FALSE(failed.has_value()) << *failed;
  ASSERT_EQ(proxy.tls->generation(), 1u);
  TlsSession after;
  ASSERT_NO_FATAL_FAILURE(exchange_with_session(proxy, TLS1_3_VERSION, before, after, resumed));
  EXPECT_TRUE(resumed) << "a ticket issued before reload() did not resume after it";
}

// A TLS 1.3 client uses each ticket once (OpenSSL's client marks a session not resumable once
// it resumed), so a server must send a new ticket after a resumption, as stock OpenSSL does.
// The ticket callback asks for one ("renew", as nginx does for TLS 1.3); without it a client
// that always offers its newest session resumes only every other connection.
TEST(TlsServer, ResumedTls13ConnectionGetsAFreshTicket) {
  FakeUpstream upstream;
  upstream.set_handler(echo);
  TlsProxy proxy(upstream.url());
  TlsSession session;
  bool resumed = true;
  ASSERT_NO_FATAL_FAILURE(exchange_with_session(proxy, TLS1_3_VERSION, nullptr, session, resumed));
  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i + 1));
    const TlsSession offered = session;
    ASSERT_NO_FATAL_FAILURE(
        exchange_with_session(proxy, TLS1_3_VERSION, offered, session, resumed));
    EXPECT_TRUE(resumed) << "the newest session did not resume";
    EXPECT_NE(session.get(), offered.get()) << "no new ticket after a resumption";
    EXPECT_EQ(SSL_SESSION_is_resumable(session.get()), 1);
  }
}

// ---- Flush-timer lifecycle: the same over TLS as in clear text --------------------------------

struct Recorded {
  std::vector<Event> events;  // of the one response
  std::string body;
};

// One SSE response streamed in four upstream writes (head, two events, the last chunk), each
// waited for at the client before the next one is sent, so that every write is the proxy's
// answer to exactly one upstream send.
void stream_one_response(bool tls, Recorded& out) {
  FakeUpstream upstream;
  std::unique_ptr<TlsProxy> tls_proxy;
  std::unique_ptr<ProxyHarness> plain_proxy;
  ProxyHarness* harness = nullptr;
  if (tls) {
    tls_proxy = std::make_unique<TlsProxy>(upstream.url());
    harness = tls_proxy->harness.get();
  } else {
    plain_proxy = std::make_unique<ProxyHarness>(upstream.url());
    harness = plain_proxy.get();
  }
  std::unique_ptr<TlsClient> tls_client;
  std::unique_ptr<TestClient> plain_client;
  if (tls) {
    ASSERT_TRUE(tls_proxy->connect(tls_client));
  } else {
    ASSERT_TRUE(TestClient::connect(harness->port(), plain_client));
  }
  auto send = [&](const std::string& bytes) {
    return tls ? tls_client->send(bytes) : plain_client->send(bytes);
  };
  auto sees = [&](std::string_view text) {
    auto pred = [text](std::string_view got) { return contains(got, text); };
    return tls ? tls_client->read_until(pred) : plain_client->read_until(pred);
  };

  ASSERT_TRUE(send(get("/sse")));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  ASSERT_TRUE(conn->send(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"));
  ASSERT_TRUE(sees("\r\n\r\n"));
  ASSERT_TRUE(conn->send(chunk("data: a\n\n")));
  ASSERT_TRUE(sees("data: a\n\n"));
  ASSERT_TRUE(conn->send(chunk("data: bb\n\n")));
  ASSERT_TRUE(sees("data: bb\n\n"));
  ASSERT_TRUE(conn->send(std::string(kLastChunk)));
  ParsedResponse res;
  ASSERT_TRUE(tls ? tls_client->read_response(res) : plain_client->read_response(res));
  ASSERT_TRUE(res.complete);
  out.body = res.body;
  ASSERT_TRUE(harness->events().wait_for_ends(1));
  EXPECT_TRUE(harness->events().check_flush_lifecycle());
  out.events = harness->events().events();
}

std::string describe(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    switch (e.kind) {
      case Event::started: out += "started "; break;
      case Event::stopped: out += std::string("stopped(") + to_string(e.reason) + ") "; break;
      case Event::write: out += "write(" + std::to_string(e.bytes) + ") "; break;
      case Event::end: out += std::string("end(") + to_string(e.outcome) + ") "; break;
      case Event::heartbeat: out += "heartbeat "; break;
      case Event::resume: out += std::string("resume(") + to_string(e.result) + ") "; break;
    }
  }
  return out;
}

TEST(TlsServer, FlushTimerLifecycleEventsOverTlsMatchCleartext) {
  Recorded plain;
  ASSERT_NO_FATAL_FAILURE(stream_one_response(false, plain));
  Recorded tls;
  ASSERT_NO_FATAL_FAILURE(stream_one_response(true, tls));
  EXPECT_EQ(tls.body, plain.body);
  EXPECT_EQ(plain.body, "data: a\n\ndata: bb\n\n");
  const std::string expected = describe(plain.events);
  EXPECT_EQ(describe(tls.events), expected);
  ASSERT_FALSE(plain.events.empty());
  EXPECT_EQ(plain.events.front().kind, Event::started) << expected;
  EXPECT_EQ(plain.events.back().kind, Event::end) << expected;
}

// ---- Kernel TLS -----------------------------------------------------------------------------

TEST(TlsServer, KernelTlsCarriesResponsesWhenAvailable) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"});
  const auto probe = ServerTls::load({{leaf.cert_path, leaf.key_path}});
  const std::string path = probe->data_path();
  if (!path.starts_with("kernel TLS")) {
    GTEST_SKIP() << "kernel TLS is not available here; ServerTls::data_path() says: " << path;
  }
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + (i * 13) % 26);
  FakeUpstream upstream;
  upstream.set_handler([&big](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {}, req.target == "/big" ? big : std::string("small")))) return;
    }
  });
  ServerOptions options;
  options.tls = probe;
  ProxyHarness proxy(upstream.url(), {}, options);
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(tls_version_name(version));
    TlsClientOptions o;
    o.sni = "localhost";
    o.ca_file = pki.ca_path();
    o.verify_name = "localhost";
    o.min_version = version;
    o.max_version = version;
    std::unique_ptr<TlsClient> client;
    ASSERT_TRUE(TlsClient::connect(proxy.port(), o, client));
    ASSERT_TRUE(client->send(get("/big")));
    ParsedResponse res;
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body.size(), big.size());
    EXPECT_TRUE(res.body == big) << "the body differs";
    ASSERT_TRUE(client->send(get("/small", "Connection: close\r\n")));
    ASSERT_TRUE(client->read_response(res));
    EXPECT_EQ(res.body, "small");
    ASSERT_TRUE(client->wait_closed());
    EXPECT_EQ(client->peer_end(), TlsIo::close_notify) << client->last_error();
  }
}

// ================================================================================================
// https:// upstreams

ProxyHarness::Configure with_upstream_tls(std::shared_ptr<UpstreamTls> tls) {
  return [tls](ReverseProxy& p) {
    TransportOptions options;
    options.tls = tls;
    p.transport = make_http1_transport(options);
  };
}

std::shared_ptr<UpstreamTls> trusting(const TestPki& pki, std::string server_name = "") {
  UpstreamTlsOptions options;
  options.ca_file = pki.ca_path();
  options.system_ca = false;
  options.server_name = std::move(server_name);
  return UpstreamTls::load(options);
}

// Answers every request with 200 "upstream-ok <target>", keep-alive; records the SNI it saw.
struct SniRecord {
  std::mutex mutex;
  std::vector<std::string> names;
};

TlsUpstream::Handler tls_echo(SniRecord* record = nullptr) {
  return [record](TlsUpstreamConn& conn) {
    if (record) {
      std::lock_guard lock(record->mutex);
      record->names.push_back(conn.sni());
    }
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {}, "upstream-ok " + req.target))) return;
    }
  };
}

TEST(UpstreamTls, VerifiedAgainstCaFileByIpAddress) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"127.0.0.1"});
  SniRecord sni;
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, tls_echo(&sni));
  ProxyHarness proxy(upstream.url("/base"), with_upstream_tls(trusting(pki)));
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/x", res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "upstream-ok /base/x");
  EXPECT_EQ(upstream.handshakes(), 1u);
  EXPECT_EQ(upstream.failed_handshakes(), 0u);
  std::lock_guard lock(sni.mutex);
  ASSERT_EQ(sni.names.size(), 1u);
  EXPECT_EQ(sni.names[0], "") << "SNI must not carry an IP address (RFC 6066 §3)";
}

TEST(UpstreamTls, ServerNameIsSentAsSniAndVerified) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"upstream.test"});
  SniRecord sni;
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, tls_echo(&sni));
  ProxyHarness proxy(upstream.url(), with_upstream_tls(trusting(pki, "upstream.test")));
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/named", res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "upstream-ok /named");
  std::lock_guard lock(sni.mutex);
  ASSERT_EQ(sni.names.size(), 1u);
  EXPECT_EQ(sni.names[0], "upstream.test");
}

// The proxy refuses the upstream's certificate: 502, and the error log says why.
void expect_verify_failure(const IssuedCert& leaf, std::shared_ptr<UpstreamTls> tls,
                           const std::string& reason) {
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, tls_echo());
  ProxyHarness proxy(upstream.url(), with_upstream_tls(std::move(tls)));
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/refused", res));
  EXPECT_EQ(res.status, 502);
  const std::string expected = "certificate verify failed: " + reason;
  EXPECT_TRUE(proxy.log_contains(expected)) << "no log line with \"" << expected << "\"; log:\n"
                                            << testing::PrintToString(proxy.log_lines());
  EXPECT_EQ(upstream.handshakes(), 0u) << "the upstream served a request on a refused handshake";
  // The refused handshake ends with an alert the upstream sees.
  EXPECT_TRUE(upstream.wait_failed_handshakes(1)) << upstream.last_handshake_error();
}

TEST(UpstreamTls, UnknownCaGets502AndLogsReason) {
  TestPki trusted;
  TestPki unknown;
  const IssuedCert leaf = unknown.issue({"127.0.0.1"});
  ASSERT_NO_FATAL_FAILURE(expect_verify_failure(
      leaf, trusting(trusted),
      X509_verify_cert_error_string(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)));
}

TEST(UpstreamTls, SelfSignedGets502AndLogsReason) {
  TestPki trusted;
  const IssuedCert leaf = trusted.self_signed({"127.0.0.1"});
  ASSERT_NO_FATAL_FAILURE(
      expect_verify_failure(leaf, trusting(trusted),
                            X509_verify_cert_error_string(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)));
}

TEST(UpstreamTls, WrongHostnameGets502AndLogsReason) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"other.test"});
  ASSERT_NO_FATAL_FAILURE(
      expect_verify_failure(leaf, trusting(pki, "upstream.test"),
                            X509_verify_cert_error_string(X509_V_ERR_HOSTNAME_MISMATCH)));
}

TEST(UpstreamTls, WrongIpAddressGets502AndLogsReason) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"other.test", "127.0.0.2"});
  ASSERT_NO_FATAL_FAILURE(expect_verify_failure(
      leaf, trusting(pki), X509_verify_cert_error_string(X509_V_ERR_IP_ADDRESS_MISMATCH)));
}

TEST(UpstreamTls, InsecureSkipsVerification) {
  TestPki pki;
  const IssuedCert leaf = pki.self_signed({"other.test"});
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, tls_echo());
  UpstreamTlsOptions options;
  options.system_ca = false;
  options.insecure = true;
  ProxyHarness proxy(upstream.url(), with_upstream_tls(UpstreamTls::load(options)));
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/insecure", res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "upstream-ok /insecure");
}

TEST(UpstreamTls, BadCaFileIsTlsConfigErrorNamingTheFile) {
  TestPki pki;
  UpstreamTlsOptions options;
  options.ca_file = pki.write_file("garbage.pem", "no certificate here\n");
  try {
    UpstreamTls::load(options);
    ADD_FAILURE() << "a CA file without a certificate loaded";
  } catch (const TlsConfigError& e) {
    EXPECT_TRUE(contains(e.what(), options.ca_file)) << e.what();
  }
  options.ca_file = pki.path("missing.pem");
  try {
    UpstreamTls::load(options);
    ADD_FAILURE() << "a missing CA file loaded";
  } catch (const TlsConfigError& e) {
    EXPECT_TRUE(contains(e.what(), options.ca_file)) << e.what();
  }
}

TEST(UpstreamTls, PooledConnectionIsReused) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"127.0.0.1"});
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, tls_echo());
  ProxyHarness proxy(upstream.url(), with_upstream_tls(trusting(pki)));
  for (int i = 0; i < 3; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(http_get(proxy.port(), "/r" + std::to_string(i), res));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "upstream-ok /r" + std::to_string(i));
    // The exchange is over (its upstream connection back in the pool) before the next request.
    ASSERT_TRUE(proxy.events().wait_for_ends(static_cast<std::size_t>(i) + 1));
  }
  EXPECT_EQ(upstream.accepted_count(), 1u);
  EXPECT_EQ(upstream.handshakes(), 1u);
  EXPECT_EQ(proxy.proxy().counts().upstream_idle, 1);
}

// A one-shot latch with a deadline, between a test and an upstream handler thread.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A second upstream connection opened while the first is still busy resumes the first one's
// session (the ticket the proxy cached when it read the first response's bytes).
TEST(UpstreamTls, ConcurrentSecondConnectionResumesTheSession) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"127.0.0.1"});
  Gate release;
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, [&release](TlsUpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (req.target != "/hold") {
        if (!conn.send(response(200, {}, "quick"))) return;
        continue;
      }
      // Head and a first chunk now (after the TLS 1.3 tickets: the proxy has read those when
      // the client sees this), the end once the test lets go.
      if (!conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("held;"))) {
        return;
      }
      if (!release.wait()) return;
      if (!conn.send(chunk("released") + std::string(kLastChunk))) return;
    }
  });
  const auto tls = trusting(pki);
  ProxyHarness proxy(upstream.url(), with_upstream_tls(tls));
  std::unique_ptr<TestClient> holder;
  ASSERT_TRUE(TestClient::connect(proxy.port(), holder));
  ASSERT_TRUE(holder->send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(holder->read_until([](std::string_view got) { return contains(got, "held;"); }));

  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/quick", res));
  EXPECT_EQ(res.body, "quick");
  release.open();
  ASSERT_TRUE(holder->read_response(res));
  EXPECT_EQ(res.body, "held;released");

  EXPECT_EQ(upstream.accepted_count(), 2u);
  EXPECT_EQ(upstream.handshakes(), 2u);
  EXPECT_EQ(upstream.resumed_handshakes(), 1u) << "the upstream saw no resumption";
  EXPECT_EQ(tls->resumed_handshakes(), 1u);
}

// Once a pooled TLS connection has ended, the next connection to the same upstream resumes its
// session. OpenSSL's SSL_free() of a connection that did not send close_notify marks its
// session not resumable (ssl_clear_bad_session), and that session is the very object the
// new-session callback stored in UpstreamTls's cache: TlsStream::close() marks a connection
// that ended without a TLS error as shut down, so its session stays usable.
void sequential_connection_resumes(std::chrono::nanoseconds pool_idle_timeout) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"127.0.0.1"});
  const bool upstream_closes = pool_idle_timeout == std::chrono::nanoseconds::zero();
  // Upstream closes: one request per connection, then close_notify. Else keep-alive until the
  // proxy's pool drops the idle connection.
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, [upstream_closes](TlsUpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {}, "once " + req.target)) || upstream_closes) return;
    }
  });
  const auto tls = trusting(pki);
  ProxyHarness proxy(upstream.url(), [&](ReverseProxy& p) {
    TransportOptions options;
    options.tls = tls;
    if (!upstream_closes) options.pool_idle_timeout = pool_idle_timeout;
    p.transport = make_http1_transport(options);
  });
  ParsedResponse res;
  ASSERT_TRUE(http_get(proxy.port(), "/first", res));
  EXPECT_EQ(res.body, "once /first");
  ASSERT_TRUE(upstream.wait_finished(1)) << "the first upstream connection did not end";
  EXPECT_EQ(tls->resumed_handshakes(), 0u);

  ASSERT_TRUE(http_get(proxy.port(), "/second", res));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "once /second");
  EXPECT_EQ(upstream.accepted_count(), 2u);
  EXPECT_EQ(upstream.handshakes(), 2u);
  EXPECT_EQ(tls->resumed_handshakes(), 1u) << "the second connection did a full handshake";
  EXPECT_EQ(upstream.resumed_handshakes(), 1u) << "the upstream saw no resumption";
}

TEST(UpstreamTls, NewConnectionAfterUpstreamClosedResumesTheSession) {
  ASSERT_NO_FATAL_FAILURE(sequential_connection_resumes(std::chrono::nanoseconds::zero()));
}

TEST(UpstreamTls, NewConnectionAfterPoolIdleTimeoutResumesTheSession) {
  ASSERT_NO_FATAL_FAILURE(sequential_connection_resumes(200ms));
}

TEST(UpstreamTls, HttpsUpstreamBehindHttpsListener) {
  // Both sides at once: a TLS client, the proxy, a TLS upstream.
  TestPki pki;
  const IssuedCert up_leaf = pki.issue({"127.0.0.1"});
  TlsUpstream upstream(up_leaf.cert_path, up_leaf.key_path, tls_echo());
  TlsProxy proxy(upstream.url(), with_upstream_tls(trusting(pki)));
  std::unique_ptr<TlsClient> client;
  ASSERT_TRUE(proxy.connect(client));
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/both", "upstream-ok /both"));
  ASSERT_NO_FATAL_FAILURE(expect_get(*client, "/again", "upstream-ok /again"));
}

}  // namespace
}  // namespace sluice::test
