// The sluice binary with TLS: certificate, key and CA files that cannot be used exit 2 with a
// message naming the file; an HTTPS listener serves and re-reads its certificates on SIGHUP
// (and keeps the old ones when the new files are bad); --upstream-ca makes an https:// upstream
// with a test CA verifiable.
//
// The process helpers are binary_test.cpp's (spawn with pipes, bounded waits, SIGKILL and reap
// in the destructor), with SIGHUP reset to its default in the child too. The binary is found
// from this test's own path (build/<dir>/test/tls_binary_test -> build/<dir>/app/sluice); build
// the sluice_bin target with this test.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/deadline.hpp"
#include "support/fake_upstream.hpp"
#include "support/sluice_process.hpp"
#include "support/test_certs.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"
#include "support/tls_client.hpp"
#include "support/tls_upstream.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- Files that cannot be used: exit 2, naming the file ------------------------------------

// This binary knows the TLS flags (a stale build of app/sluice would fail every test below
// with "unknown flag").
testing::AssertionResult binary_has_tls() {
  RunResult r;
  if (auto ran = run({"--help"}, r); !ran) return ran;
  if (contains(r.out, "--tls-cert") && contains(r.out, "--upstream-ca")) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << sluice_path()
                                     << " has no --tls-cert/--upstream-ca: rebuild the sluice_bin "
                                        "target; --help says:\n"
                                     << r.out;
}

TEST(TlsBinaryCli, MissingCertificateFileExits2NamingIt) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"});
  const std::string missing = pki.path("missing.crt");
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--tls-cert",
                   missing, "--tls-key", leaf.key_path},
                  r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, missing)) << r.err;
  EXPECT_FALSE(contains(r.err, "listening")) << r.err;
}

TEST(TlsBinaryCli, MissingKeyFileExits2NamingIt) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"});
  const std::string missing = pki.path("missing.key");
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--tls-cert",
                   leaf.cert_path, "--tls-key", missing},
                  r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, missing)) << r.err;
}

TEST(TlsBinaryCli, GarbageCertificateExits2NamingIt) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"});
  const std::string garbage = pki.write_file("garbage.crt", "not a certificate\n");
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--tls-cert",
                   garbage, "--tls-key", leaf.key_path},
                  r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, garbage)) << r.err;
}

TEST(TlsBinaryCli, KeyThatDoesNotMatchExits2) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert a = pki.issue({"a.test"});
  const IssuedCert b = pki.issue({"b.test"});
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--tls-cert",
                   a.cert_path, "--tls-key", b.key_path},
                  r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, b.key_path)) << r.err;
  EXPECT_TRUE(contains(r.err, "mismatch") || contains(r.err, "does not match")) << r.err;
}

TEST(TlsBinaryCli, CertificateWithoutKeyExits2) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"});
  RunResult r;
  ASSERT_TRUE(run({"--upstream", "http://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--tls-cert",
                   leaf.cert_path},
                  r));
  ASSERT_TRUE(exited_with(r, 2));
  EXPECT_TRUE(contains(r.err, "--tls-key")) << r.err;
}

TEST(TlsBinaryCli, BadUpstreamCaExits2NamingIt) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const std::string garbage = pki.write_file("garbage-ca.pem", "no certificate in here\n");
  const std::string missing = pki.path("missing-ca.pem");
  for (const auto& ca : {garbage, missing}) {
    SCOPED_TRACE(ca);
    RunResult r;
    ASSERT_TRUE(run(
        {"--upstream", "https://127.0.0.1:9/", "--listen", "127.0.0.1:0", "--upstream-ca", ca}, r));
    ASSERT_TRUE(exited_with(r, 2));
    EXPECT_TRUE(contains(r.err, "--upstream-ca")) << r.err;
    EXPECT_TRUE(contains(r.err, ca)) << r.err;
  }
}

// ---- Real runs ---------------------------------------------------------------------------------

FakeUpstream::Handler echo() {
  return [](UpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {}, "upstream saw " + req.target))) return;
    }
  };
}

// A handshake with the running sluice: the certificate it presents, verified by `pki`'s CA.
testing::AssertionResult served_certificate(std::uint16_t port, const TestPki& pki,
                                            CertificateNames& names) {
  TlsClientOptions options;
  options.sni = "localhost";
  options.ca_file = pki.ca_path();
  options.verify_name = "localhost";
  std::unique_ptr<TlsClient> client;
  if (auto r = TlsClient::connect(port, options, client); !r) return r;
  names = client->peer_certificate();
  if (!client->send("GET /cert HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")) {
    return testing::AssertionFailure() << "send failed";
  }
  ParsedResponse res;
  if (auto r = client->read_response(res); !r) return r;
  if (res.status != 200 || res.body != "upstream saw /cert") {
    return testing::AssertionFailure() << "status " << res.status << " body " << res.body;
  }
  return testing::AssertionSuccess();
}

TEST(TlsBinaryRun, ServesHttpsAndReloadsCertificatesOnSighup) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert old_leaf = pki.issue({"old.test", "localhost"}, "server");
  FakeUpstream upstream;
  upstream.set_handler(echo());
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;
  std::string startup;
  ASSERT_TRUE(start_sluice({"--upstream", upstream.url(), "--tls-cert", old_leaf.cert_path,
                            "--tls-key", old_leaf.key_path, "--access-log", "off"},
                           child, port, startup, "https"));
  EXPECT_TRUE(contains(startup, "TLS")) << "the startup line names the data path: " << startup;

  CertificateNames names;
  ASSERT_TRUE(served_certificate(port, pki, names));
  EXPECT_TRUE(names.has_dns("old.test"));

  // New files at the same paths, SIGHUP: new handshakes get them.
  pki.issue({"new.test", "localhost"}, "server");
  child->send_signal(SIGHUP);
  ASSERT_TRUE(child->wait_stderr(
      [](std::string_view err) { return contains(err, "sluice: SIGHUP: certificates reloaded"); }));
  ASSERT_TRUE(served_certificate(port, pki, names));
  EXPECT_TRUE(names.has_dns("new.test"));

  // A bad file: the reload fails, says why, and the certificate loaded before keeps serving.
  pki.write_file("server.crt", "garbage\n");
  child->send_signal(SIGHUP);
  ASSERT_TRUE(child->wait_stderr([](std::string_view err) {
    return contains(err, "sluice: SIGHUP: certificates not reloaded, the old ones keep serving: ");
  }));
  const auto at = child->err().find("certificates not reloaded");
  const std::string line = child->err().substr(at, child->err().find('\n', at) - at);
  EXPECT_TRUE(contains(line, old_leaf.cert_path)) << "the line does not name the file: " << line;
  ASSERT_TRUE(served_certificate(port, pki, names));
  EXPECT_TRUE(names.has_dns("new.test"));

  // Plain HTTP to the HTTPS port.
  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/plain", res));
  EXPECT_EQ(res.status, 400);

  ASSERT_TRUE(stop_cleanly(*child));
}

TEST(TlsBinaryRun, SighupWithoutTlsSaysNothingToReload) {
  ASSERT_TRUE(binary_has_tls());
  FakeUpstream upstream;
  upstream.set_handler(echo());
  std::unique_ptr<Child> child;
  std::uint16_t port = 0;
  std::string startup;
  ASSERT_TRUE(start_sluice({"--upstream", upstream.url(), "--access-log", "off"}, child, port,
                           startup, "http"));
  child->send_signal(SIGHUP);
  ASSERT_TRUE(child->wait_stderr(
      [](std::string_view err) { return contains(err, "sluice: SIGHUP: nothing to reload"); }));
  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/still", res));
  EXPECT_EQ(res.body, "upstream saw /still");
  ASSERT_TRUE(stop_cleanly(*child));
}

TEST(TlsBinaryRun, HttpsUpstreamVerifiedWithUpstreamCa) {
  ASSERT_TRUE(binary_has_tls());
  TestPki pki;
  const IssuedCert leaf = pki.issue({"127.0.0.1"});
  TlsUpstream upstream(leaf.cert_path, leaf.key_path, [](TlsUpstreamConn& conn) {
    RecordedRequest req;
    while (conn.read_request(req)) {
      if (!conn.send(response(200, {}, "tls upstream saw " + req.target))) return;
    }
  });

  {
    std::unique_ptr<Child> child;
    std::uint16_t port = 0;
    std::string startup;
    ASSERT_TRUE(start_sluice({"--upstream", upstream.url("/base"), "--upstream-ca", pki.ca_path(),
                              "--access-log", "off"},
                             child, port, startup, "http"));
    ParsedResponse res;
    ASSERT_TRUE(http_get(port, "/x", res));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "tls upstream saw /base/x");
    ASSERT_TRUE(stop_cleanly(*child));
  }
  {
    // Without it the test CA is unknown (the system bundle does not hold it): 502, logged.
    std::unique_ptr<Child> child;
    std::uint16_t port = 0;
    std::string startup;
    ASSERT_TRUE(start_sluice({"--upstream", upstream.url("/base"), "--access-log", "off"}, child,
                             port, startup, "http"));
    ParsedResponse res;
    ASSERT_TRUE(http_get(port, "/x", res));
    EXPECT_EQ(res.status, 502);
    EXPECT_TRUE(child->wait_stderr(
        [](std::string_view err) { return contains(err, "certificate verify failed"); }));
    ASSERT_TRUE(stop_cleanly(*child));
  }
}

}  // namespace
}  // namespace sluice::test
