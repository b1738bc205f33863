#pragma once
// TLS on both sides of the proxy, on OpenSSL 3 (docs/architecture.md, "TLS").
//
// ServerTls: the certificates of a TLS listener (ServerOptions::tls). The first pair is the
// default; the others are chosen by the client's SNI name, matched against each certificate's
// DNS names (subjectAltName, exact or "*.example.com"). reload() re-reads the files: new
// handshakes use the new certificates, established connections keep theirs, and session
// tickets issued before the reload still resume after it (the ticket keys are kept).
//
// UpstreamTls: how the transport speaks TLS to an https:// upstream (TransportOptions::tls):
// verified against the system CA bundle plus `ca_file`, SNI and the name check against the URL's
// host (or `server_name`), sessions resumed across pooled connections.
//
// Both are loaded once, off the event loop: every file is read by load() and reload(), never
// while a request is served. Both are safe to share between the server's worker threads.
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice {

// A certificate chain (PEM, leaf first) and its private key (PEM).
struct CertificateFiles {
  std::string cert;
  std::string key;
};

// A file that cannot be used. what() names the file and OpenSSL's reason, e.g.
// "certificate a.pem: no start line (PEM routines)".
class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ServerTlsOptions {
  // Offered by ALPN, most preferred first; a client that offers none of them still connects
  // (without ALPN, as HTTP/1.1). "h2" serves HTTP/2 (ServerOptions::h2_*).
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  // A session ticket key encrypts new tickets for this long, then decrypts (and is replaced in
  // the client's next ticket) for as long again: a ticket resumes for at most twice this.
  std::chrono::seconds ticket_key_lifetime = std::chrono::hours(6);
  // Hand the record layer to the kernel (kTLS) when both OpenSSL and the kernel can.
  bool kernel_tls = true;
};

class ServerTls {
 public:
  // Reads and checks every pair (chain parses, key parses, key matches). Throws TlsConfigError.
  static std::shared_ptr<ServerTls> load(std::vector<CertificateFiles> pairs,
                                         ServerTlsOptions options = {});
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // Re-reads every file of load(). On success new handshakes use them; on failure nothing
  // changes and the reason is returned (the message a TlsConfigError would carry).
  std::optional<std::string> reload();
  // How the listener moves its bytes, for the start-up log line: "kernel TLS" or
  // "user-space TLS (kernel TLS: <why not>)".
  std::string data_path() const;
  // How many times reload() succeeded.
  std::uint64_t generation() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit ServerTls(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct UpstreamTlsOptions {
  // A PEM bundle trusted in addition to the system's CA bundle (SSL_CERT_FILE, else OpenSSL's
  // default file). Must hold at least one certificate.
  std::string ca_file;
  // Trust the system CA bundle. Off: only ca_file.
  bool system_ca = true;
  // The name sent as SNI and checked against the certificate; "" = the upstream URL's host.
  std::string server_name;
  // No verification at all (tls.insecure). Only when asked; the binary warns at start.
  bool insecure = false;
};

class UpstreamTls {
 public:
  // Reads the CA bundles. Throws TlsConfigError (ca_file unreadable or holding no certificate).
  static std::shared_ptr<UpstreamTls> load(UpstreamTlsOptions options = {});
  ~UpstreamTls();
  UpstreamTls(const UpstreamTls&) = delete;
  UpstreamTls& operator=(const UpstreamTls&) = delete;

  const UpstreamTlsOptions& options() const;
  // Handshakes that resumed a cached session so far.
  std::uint64_t resumed_handshakes() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit UpstreamTls(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with the connections that may still cache a session
};

}  // namespace sluice
