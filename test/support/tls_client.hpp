#pragma once
// A TLS client on loopback, blocking with deadlines, on OpenSSL directly (independent of
// sluice's src/net code): what a browser or curl does to an HTTPS listener, with every knob a
// test needs (SNI, ALPN, protocol versions, the CA to verify against, a session to resume) and
// every observation (ALPN chosen, version, the server's certificate names, resumption, and how
// the server ended the connection: close_notify or not).
//
//   std::unique_ptr<TlsClient> c;
//   ASSERT_TRUE(TlsClient::connect(port, {.sni = "localhost"}, c));
//   ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
//   ParsedResponse res;
//   ASSERT_TRUE(c->read_response(res));
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/deadline.hpp"
#include "support/test_client.hpp"
#include "support/tls_socket.hpp"

namespace sluice::test {

// An SSL_SESSION kept for a later connection (SSL_SESSION_free on release).
using TlsSession = std::shared_ptr<SSL_SESSION>;

struct TlsClientOptions {
  std::string sni{};                // server_name sent; "" = none
  std::vector<std::string> alpn{};  // offered, most preferred first; empty = no ALPN extension
  int min_version = 0;              // TLS1_2_VERSION, TLS1_3_VERSION; 0 = OpenSSL's default
  int max_version = 0;
  // Verify the server's chain against this PEM bundle (only); "" = no verification.
  std::string ca_file{};
  // With ca_file: the name (DNS or IP) the certificate must match; "" = the chain only.
  std::string verify_name{};
  TlsSession session{};  // offered for resumption; null = a full handshake
};

class TlsClient {
 public:
  // Connects to 127.0.0.1:port and completes the handshake, within `deadline`. On failure the
  // message carries OpenSSL's reason (an alert from the server, a verification failure...).
  static testing::AssertionResult connect(std::uint16_t port, TlsClientOptions options,
                                          std::unique_ptr<TlsClient>& out,
                                          std::chrono::milliseconds deadline = kDeadline);
  // The TCP connection only: nothing sent yet (handshake() or send_raw() next).
  static testing::AssertionResult connect_tcp(std::uint16_t port, TlsClientOptions options,
                                              std::unique_ptr<TlsClient>& out,
                                              std::chrono::milliseconds deadline = kDeadline);
  // The ClientHello these options produce, as bytes on the wire (for a test that sends only part
  // of it).
  static std::string client_hello(const TlsClientOptions& options);

  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  testing::AssertionResult handshake(std::chrono::milliseconds deadline = kDeadline);
  // Plaintext through TLS; false when the peer is gone or the deadline passed.
  bool send(std::string_view bytes, std::chrono::milliseconds deadline = kDeadline);
  // Bytes straight onto the TCP socket (before or instead of the handshake).
  bool send_raw(std::string_view bytes, std::chrono::milliseconds deadline = kDeadline);

  // Reads until pred(received()) holds; fails at the deadline or when the peer ends first.
  testing::AssertionResult read_until(std::function<bool(std::string_view received)> pred,
                                      std::chrono::milliseconds deadline = kDeadline);
  // One complete response (1xx recorded in out.informational), its bytes consumed.
  testing::AssertionResult read_response(ParsedResponse& out,
                                         std::chrono::milliseconds deadline = kDeadline,
                                         bool head_request = false);
  // Waits until the peer ends the connection, keeping what arrives in received(). Then
  // peer_end() tells how: close_notify, eof (FIN without close_notify) or reset.
  testing::AssertionResult wait_closed(std::chrono::milliseconds deadline = kDeadline);
  TlsIo peer_end() const { return socket_.peer_end(); }
  // True once the peer's end came with close_notify.
  bool got_close_notify() const { return socket_.peer_end() == TlsIo::close_notify; }

  // close_notify, then FIN; or FIN alone; or RST.
  void close_notify();
  void close();
  void reset();

  // After the handshake.
  std::string alpn() const;     // "" = none negotiated
  std::string version() const;  // "TLSv1.3"
  int version_number() const;   // TLS1_3_VERSION
  bool session_reused() const;
  CertificateNames peer_certificate() const;
  long verify_result() const;  // X509_V_OK when verified (or not verifying)
  // The session to resume later. For TLS 1.3 the server's ticket arrives after the handshake:
  // take it after reading a response. OpenSSL marks a session not resumable when its connection
  // is freed without close_notify (end with close_notify() first), and a TLS 1.3 session once
  // it has been resumed (offer the newest session, as browsers do).
  TlsSession session() const;

  const std::string& received() const { return socket_.buffer(); }
  std::string take();
  const std::string& last_error() const { return socket_.last_error(); }

 private:
  TlsClient(int fd, SSL_CTX* ctx, SSL* ssl);

  SSL_CTX* ctx_;
  detail::TlsSocket socket_;
};

}  // namespace sluice::test
