// ServerTls: certificate loading, SNI selection, ALPN, session tickets, kTLS detection.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/certificate_names.hpp"
#include "net/tls_contexts.hpp"
#include "net/tls_error.hpp"

namespace sluice {

namespace {

int ticket_ring_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int on_ticket_key(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int enc) {
  auto* ring =
      static_cast<TicketKeyRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_ring_index()));
  if (ring == nullptr) return enc ? -1 : 0;
  if (enc) return ring->encrypt(name, iv, cipher, mac);
  const int found = ring->decrypt(name, iv, cipher, mac);
  // A TLS 1.3 client uses each ticket once: without "renew" OpenSSL sends no new ticket after
  // a resumption, and the client's next connection pays a full handshake.
  return found == 1 && SSL_version(ssl) == TLS1_3_VERSION ? 2 : found;
}

int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours->data()),
                            static_cast<unsigned>(ours->size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// Chooses the certificate for the client's SNI name. Runs before anything else of the
// handshake, on the default context; the context it switches to has its own ALPN and ticket
// callbacks (a switch drops the first context's).
int on_client_hello(SSL* ssl, int*, void* arg) {
  const auto* set = static_cast<const CertificateSet*>(arg);
  if (set->entries.size() < 2) return SSL_CLIENT_HELLO_SUCCESS;
  const unsigned char* ext = nullptr;
  std::size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) != 1) {
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  const auto name = parse_server_name_extension(ext, len);
  if (!name) return SSL_CLIENT_HELLO_SUCCESS;
  SSL_CTX* ctx = set->pick(*name);
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_CLIENT_HELLO_SUCCESS;
}

// Whether the kernel takes TLS records (the "tls" upper layer protocol): tried on a real
// loopback connection, once, when the listener's certificates are first loaded.
std::optional<std::string> kernel_tls_unavailable() {
#ifdef OPENSSL_NO_KTLS
  return std::string("OpenSSL was built without it");
#else
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::optional<std::string> why;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t addr_len = sizeof addr;
  if (listener < 0 || client < 0 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0 ||
      ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    why = std::string("probe failed: ") + std::strerror(errno);
  } else if (::setsockopt(client, SOL_TCP, TCP_ULP, "tls", 3) != 0) {
    why = std::string("the kernel has no TLS module (") + std::strerror(errno) + ")";
  }
  if (client >= 0) ::close(client);
  if (listener >= 0) ::close(listener);
  return why;
#endif
}

std::string make_alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) continue;
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

}  // namespace

CertificateSet::~CertificateSet() {
  for (auto& e : entries)
    SSL_CTX_free(e.ctx);
}

SSL_CTX* CertificateSet::pick(std::string_view host) const {
  for (const auto& e : entries) {
    for (const auto& n : e.names) {
      if (!n.starts_with("*.") && name_matches(n, host)) return e.ctx;
    }
  }
  for (const auto& e : entries) {
    for (const auto& n : e.names) {
      if (n.starts_with("*.") && name_matches(n, host)) return e.ctx;
    }
  }
  return entries.front().ctx;
}

ServerTls::Impl::Impl(std::vector<CertificateFiles> f, ServerTlsOptions o)
    : files(std::move(f)),
      options(std::move(o)),
      alpn_wire(make_alpn_wire(options.alpn)),
      no_kernel_tls(options.kernel_tls ? kernel_tls_unavailable()
                                       : std::optional<std::string>("turned off")),
      tickets(options.ticket_key_lifetime) {}

std::shared_ptr<const CertificateSet> ServerTls::Impl::build() const {
  if (files.empty()) throw TlsConfigError("TLS listener: no certificate");
  auto set = std::make_shared<CertificateSet>();
  for (const auto& pair : files) {
    clear_tls_errors();
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) throw TlsConfigError(describe_tls_failure("TLS context"));
    set->entries.push_back({ctx, {}});
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // TLS 1.2: AEAD suites with forward secrecy only (TLS 1.3's are all AEAD).
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL");
    std::uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_ENABLE_KTLS
    if (!no_kernel_tls) opts |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);  // one read a socketful, not two a record (tls_stream.hpp)
    // Resumption by tickets only: no per-session state kept in the server.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, pair.cert.c_str()) != 1) {
      throw TlsConfigError(describe_tls_failure("certificate " + pair.cert));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, pair.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      const unsigned long e = ERR_peek_error();
      const bool mismatch =
          ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
      throw TlsConfigError(describe_tls_failure(
          "key " + pair.key + (mismatch ? " does not match certificate " + pair.cert : "")));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      throw TlsConfigError(
          describe_tls_failure("key " + pair.key + " does not match certificate " + pair.cert));
    }
    set->entries.back().names = certificate_dns_names(SSL_CTX_get0_certificate(ctx));
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, const_cast<std::string*>(&alpn_wire));
    SSL_CTX_set_ex_data(ctx, ticket_ring_index(), const_cast<TicketKeyRing*>(&tickets));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, set.get());
  }
  return set;
}

std::unique_ptr<TlsStream> ServerTls::Impl::accept(boost::asio::ip::tcp::socket socket) const {
  std::shared_ptr<const CertificateSet> set;
  {
    std::lock_guard lock(mu);
    set = current;
  }
  SSL* ssl = SSL_new(set->entries.front().ctx);
  if (ssl == nullptr) return nullptr;
  SSL_set_accept_state(ssl);
  // The stream keeps its generation alive: the client-hello callback reads it.
  return std::make_unique<TlsStream>(std::move(socket), ssl, std::move(set));
}

ServerTls::ServerTls(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerTls::~ServerTls() = default;

std::shared_ptr<ServerTls> ServerTls::load(std::vector<CertificateFiles> pairs,
                                           ServerTlsOptions options) {
  auto impl = std::make_unique<Impl>(std::move(pairs), std::move(options));
  impl->current = impl->build();
  return std::shared_ptr<ServerTls>(new ServerTls(std::move(impl)));
}

std::optional<std::string> ServerTls::reload() {
  try {
    auto fresh = impl_->build();
    std::lock_guard lock(impl_->mu);
    impl_->current = std::move(fresh);
    impl_->generation.fetch_add(1);
    return std::nullopt;
  } catch (const TlsConfigError& e) {
    return std::string(e.what());
  }
}

std::string ServerTls::data_path() const {
  if (!impl_->no_kernel_tls) return "kernel TLS";
  return "user-space TLS (kernel TLS: " + *impl_->no_kernel_tls + ")";
}

std::uint64_t ServerTls::generation() const { return impl_->generation.load(); }

}  // namespace sluice
