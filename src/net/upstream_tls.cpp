// UpstreamTls: the client context for https:// upstreams (CA bundles, verification, SNI,
// session resumption across pooled connections).
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <cstdlib>

#include "net/tls_contexts.hpp"
#include "net/tls_error.hpp"

namespace sluice {

namespace {

// What a client connection's callbacks need: the cache to store a new session in, and the
// key to store it under. Owned by the connection's TlsStream, so it outlives every callback.
struct SessionSlot {
  std::shared_ptr<UpstreamTls::Impl> tls;
  std::string key;
};

int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL hands over every new session (for TLS 1.3, each ticket, which may arrive after the
// handshake, on any read): the newest is what the next connection under the same key resumes.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_ex_data(ssl, slot_index()));
  if (slot == nullptr) return 0;
  slot->tls->store_session(slot->key, session);
  return 1;  // the cache owns the reference now
}

// The system's CA bundle: SSL_CERT_FILE, else OpenSSL's default file (on Debian
// /usr/lib/ssl/cert.pem -> /etc/ssl/certs/ca-certificates.crt). Loaded whole now: OpenSSL's
// hashed-directory lookup would read files during handshakes, on the event loop.
void load_system_bundle(X509_STORE* store) {
  const char* env = std::getenv(X509_get_default_cert_file_env());
  const char* file = env != nullptr && *env != '\0' ? env : X509_get_default_cert_file();
  clear_tls_errors();
  X509_STORE_load_file(store, file);  // a machine without a bundle verifies against ca_file only
  clear_tls_errors();
}

// Every certificate of a PEM bundle; throws TlsConfigError when it cannot be read or has none.
void load_ca_file(X509_STORE* store, const std::string& path) {
  clear_tls_errors();
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) throw TlsConfigError(describe_tls_failure("CA file " + path));
  int added = 0;
  // Bounded by the file: each round consumes one PEM block or ends.
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  const unsigned long e = ERR_peek_last_error();
  BIO_free(bio);
  // The loop ends with "no start line" at the end of the file; anything else is a bad block.
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    throw TlsConfigError(describe_tls_failure("CA file " + path));
  }
  clear_tls_errors();
  if (added == 0) throw TlsConfigError("CA file " + path + ": holds no PEM certificate");
}

}  // namespace

UpstreamTls::Impl::~Impl() {
  for (auto& [key, session] : sessions)
    SSL_SESSION_free(session);
  SSL_CTX_free(ctx);
}

void UpstreamTls::Impl::store_session(const std::string& key, SSL_SESSION* session) {
  std::lock_guard lock(mu);
  auto [it, inserted] = sessions.try_emplace(key, session);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = session;
  }
}

std::unique_ptr<TlsStream> UpstreamTls::Impl::connect(boost::asio::ip::tcp::socket socket,
                                                      const std::string& host,
                                                      const std::string& session_key) {
  clear_tls_errors();
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  std::string name = options.server_name.empty() ? host : options.server_name;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(name, not_ip);
  bool checked = true;
  if (!not_ip) {
    // An IP address: no SNI (RFC 6066 §3), checked against the certificate's IP SANs.
    if (!options.insecure) {
      checked = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
    }
  } else {
    checked = !name.empty() && SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 &&
              (options.insecure || SSL_set1_host(ssl, name.c_str()) == 1);
  }
  if (!checked) {
    // A name OpenSSL cannot check (an empty one, an address with a zone): never connect
    // without the check.
    SSL_free(ssl);
    clear_tls_errors();
    return nullptr;
  }
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
  {
    std::lock_guard lock(mu);
    if (auto it = sessions.find(session_key);
        it != sessions.end() && SSL_SESSION_is_resumable(it->second) == 1) {
      // A copy per connection: OpenSSL writes to a session it resumes (and marks it bad when
      // the connection fails), and connections on other workers use the cached one too.
      if (SSL_SESSION* copy = SSL_SESSION_dup(it->second)) {
        SSL_set_session(ssl, copy);
        SSL_SESSION_free(copy);
      }
    }
  }
  auto slot = std::make_shared<SessionSlot>(SessionSlot{shared_from_this(), session_key});
  SSL_set_ex_data(ssl, slot_index(), slot.get());
  return std::make_unique<TlsStream>(std::move(socket), ssl, std::move(slot));
}

UpstreamTls::UpstreamTls(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
UpstreamTls::~UpstreamTls() = default;

std::shared_ptr<UpstreamTls> UpstreamTls::load(UpstreamTlsOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  clear_tls_errors();
  impl->ctx = SSL_CTX_new(TLS_client_method());
  if (impl->ctx == nullptr) throw TlsConfigError(describe_tls_failure("TLS context"));
  SSL_CTX* ctx = impl->ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);  // one read a socketful, not two a record (tls_stream.hpp)
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (impl->options.system_ca) load_system_bundle(store);
  if (!impl->options.ca_file.empty()) load_ca_file(store, impl->options.ca_file);
  SSL_CTX_set_verify(ctx, impl->options.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  return std::shared_ptr<UpstreamTls>(new UpstreamTls(std::move(impl)));
}

const UpstreamTlsOptions& UpstreamTls::options() const { return impl_->options; }

std::uint64_t UpstreamTls::resumed_handshakes() const { return impl_->resumed.load(); }

}  // namespace sluice
