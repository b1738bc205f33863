#pragma once
// What ServerTls and UpstreamTls (sluice/tls.hpp) hold, and how a connection gets its
// TlsStream from them.
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/ticket_keys.hpp"
#include "net/tls_stream.hpp"
#include "sluice/tls.hpp"

namespace sluice {

// One generation of a listener's certificates: a context per pair, each with the names its
// certificate answers to. The client-hello callback of the default context picks the context
// for the SNI name. Immutable once built; reload builds another.
struct CertificateSet {
  struct Entry {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;
  };
  std::vector<Entry> entries;  // [0] is the default
  CertificateSet() = default;
  ~CertificateSet();
  CertificateSet(const CertificateSet&) = delete;
  CertificateSet& operator=(const CertificateSet&) = delete;
  // Exact names first, then wildcards; the default when nothing matches.
  SSL_CTX* pick(std::string_view host) const;
};

struct ServerTls::Impl {
  std::vector<CertificateFiles> files;
  ServerTlsOptions options;
  std::string alpn_wire;                     // ALPN protocol list in wire format (length-prefixed)
  std::optional<std::string> no_kernel_tls;  // why kTLS is not used; nullopt: it is
  TicketKeyRing tickets;
  mutable std::mutex mu;
  std::shared_ptr<const CertificateSet> current;
  std::atomic<std::uint64_t> generation{0};

  Impl(std::vector<CertificateFiles> f, ServerTlsOptions o);
  // Builds a set from `files`; throws TlsConfigError.
  std::shared_ptr<const CertificateSet> build() const;
  // The stream of an accepted connection, before its handshake (TlsStream::async_handshake).
  std::unique_ptr<TlsStream> accept(boost::asio::ip::tcp::socket socket) const;
};

struct UpstreamTls::Impl : std::enable_shared_from_this<UpstreamTls::Impl> {
  UpstreamTlsOptions options;
  SSL_CTX* ctx = nullptr;
  std::mutex mu;  // the session cache is shared by every worker's connections
  std::unordered_map<std::string, SSL_SESSION*> sessions;
  std::atomic<std::uint64_t> resumed{0};

  ~Impl();
  // The stream of a connected socket to `host` (SNI and the name check, unless server_name
  // overrides it), resuming the session last cached under `session_key`; before its handshake.
  std::unique_ptr<TlsStream> connect(boost::asio::ip::tcp::socket socket, const std::string& host,
                                     const std::string& session_key);
  void store_session(const std::string& key, SSL_SESSION* session);
};

}  // namespace sluice
