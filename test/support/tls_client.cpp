#include "support/tls_client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "support/read_until.hpp"

namespace sluice::test {

using detail::Clock;
using detail::format_ms;
using detail::MessageParser;

namespace {

void copy_message(detail::ParsedMessage&& msg, ParsedResponse& out) {
  out.status = msg.status;
  out.reason = std::move(msg.reason);
  out.version = std::move(msg.version);
  out.headers = std::move(msg.headers);
  out.body = std::move(msg.body);
  out.chunked = msg.chunked;
  out.trailers = std::move(msg.trailers);
}

bool is_ip(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// The context and connection object for `options`; throws std::runtime_error.
std::pair<SSL_CTX*, SSL*> make_ssl(const TlsClientOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) throw std::runtime_error("SSL_CTX_new: " + take_openssl_errors());
  auto fail = [ctx](const std::string& what) {
    SSL_CTX_free(ctx);
    throw std::runtime_error(what + ": " + take_openssl_errors());
  };
  if (options.min_version != 0 && SSL_CTX_set_min_proto_version(ctx, options.min_version) != 1) {
    fail("min version");
  }
  if (options.max_version != 0 && SSL_CTX_set_max_proto_version(ctx, options.max_version) != 1) {
    fail("max version");
  }
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_file(ctx, options.ca_file.c_str()) != 1) {
      fail("CA file " + options.ca_file);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) fail("SSL_new");
  auto fail_ssl = [ctx, ssl](const std::string& what) {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    throw std::runtime_error(what + ": " + take_openssl_errors());
  };
  SSL_set_connect_state(ssl);
  if (!options.sni.empty() && SSL_set_tlsext_host_name(ssl, options.sni.c_str()) != 1) {
    fail_ssl("SNI " + options.sni);
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const auto& p : options.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    // 0 is success here (unlike the rest of OpenSSL).
    if (SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size())) != 0) {
      fail_ssl("ALPN");
    }
  }
  if (!options.ca_file.empty() && !options.verify_name.empty()) {
    const bool ok =
        is_ip(options.verify_name)
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), options.verify_name.c_str()) == 1
            : SSL_set1_host(ssl, options.verify_name.c_str()) == 1;
    if (!ok) fail_ssl("verify name " + options.verify_name);
  }
  if (options.session && SSL_set_session(ssl, options.session.get()) != 1) {
    fail_ssl("SSL_set_session");
  }
  return {ctx, ssl};
}

}  // namespace

TlsClient::TlsClient(int fd, SSL_CTX* ctx, SSL* ssl) : ctx_(ctx), socket_(fd, ssl, nullptr) {}

TlsClient::~TlsClient() {
  socket_.close();
  // socket_ frees its SSL (which holds a reference to ctx_) in its own destructor, after this
  // body: drop our reference now, the SSL's keeps the context alive until then.
  SSL_CTX_free(ctx_);
}

testing::AssertionResult TlsClient::connect_tcp(std::uint16_t port, TlsClientOptions options,
                                                std::unique_ptr<TlsClient>& out,
                                                std::chrono::milliseconds deadline) {
  std::pair<SSL_CTX*, SSL*> made{};
  try {
    made = make_ssl(options);
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "TlsClient: " << e.what();
  }
  std::string error;
  const int fd = detail::connect_loopback(port, Clock::now() + deadline, error);
  if (fd < 0) {
    SSL_free(made.second);
    SSL_CTX_free(made.first);
    return testing::AssertionFailure() << "TlsClient: " << error;
  }
  out.reset(new TlsClient(fd, made.first, made.second));
  return testing::AssertionSuccess();
}

testing::AssertionResult TlsClient::connect(std::uint16_t port, TlsClientOptions options,
                                            std::unique_ptr<TlsClient>& out,
                                            std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  std::unique_ptr<TlsClient> client;
  if (auto r = connect_tcp(port, std::move(options), client, deadline); !r) return r;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  if (auto r = client->handshake(std::max(left, std::chrono::milliseconds(0))); !r) return r;
  out = std::move(client);
  return testing::AssertionSuccess();
}

std::string TlsClient::client_hello(const TlsClientOptions& options) {
  auto [ctx, ssl] = make_ssl(options);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // the SSL owns both now
  SSL_do_handshake(ssl);      // writes the ClientHello, then wants the server's answer
  ERR_clear_error();
  char* data = nullptr;
  const long len = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<std::size_t>(len > 0 ? len : 0));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

testing::AssertionResult TlsClient::handshake(std::chrono::milliseconds deadline) {
  const TlsIo io = socket_.handshake(Clock::now() + deadline);
  if (io == TlsIo::ok) return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure() << "TLS handshake: " << socket_.describe(io);
  if (io == TlsIo::timeout) failure << " after " << format_ms(deadline);
  if (const long v = SSL_get_verify_result(socket_.ssl()); v != X509_V_OK) {
    failure << " [verify: " << X509_verify_cert_error_string(v) << "]";
  }
  return failure;
}

bool TlsClient::send(std::string_view bytes, std::chrono::milliseconds deadline) {
  return socket_.write_all(bytes, Clock::now() + deadline) == TlsIo::ok;
}

bool TlsClient::send_raw(std::string_view bytes, std::chrono::milliseconds deadline) {
  return socket_.write_raw(bytes, Clock::now() + deadline) == TlsIo::ok;
}

testing::AssertionResult TlsClient::read_until(std::function<bool(std::string_view)> pred,
                                               std::chrono::milliseconds deadline) {
  return detail::read_until_on(socket_, pred, deadline, "TlsClient read_until");
}

testing::AssertionResult TlsClient::read_response(ParsedResponse& out,
                                                  std::chrono::milliseconds deadline,
                                                  bool head_request) {
  out = ParsedResponse{};
  const auto until = Clock::now() + deadline;
  auto& buffer = socket_.buffer();
  while (true) {  // one round per message: the 1xx ones, then the final one
    MessageParser parser(MessageParser::Kind::response, head_request);
    while (true) {
      const bool ended = socket_.peer_end() != TlsIo::ok;
      const auto status = parser.advance(buffer, ended);
      if (status == MessageParser::Status::complete) break;
      if (status == MessageParser::Status::error) {
        copy_message(std::move(parser.message()), out);
        return testing::AssertionFailure()
               << "malformed response: " << parser.error() << "\nbytes received:\n"
               << printable(buffer);
      }
      const TlsIo io = ended ? socket_.peer_end() : socket_.fill(until);
      if (io == TlsIo::ok) continue;
      // A close-delimited body ends at the peer's end (properly only with close_notify, but
      // the parser decides the framing; the test checks peer_end()).
      if (io != TlsIo::timeout && io != TlsIo::stopped && io != TlsIo::closed &&
          parser.advance(buffer, true) == MessageParser::Status::complete) {
        break;
      }
      copy_message(std::move(parser.message()), out);
      auto failure = testing::AssertionFailure() << "TlsClient read_response: ";
      if (io == TlsIo::timeout) {
        failure << "no complete response within " << format_ms(deadline);
      } else {
        failure << (parser.head_done() ? "body" : "head")
                << " incomplete: " << socket_.describe(io);
      }
      return failure << "; " << buffer.size() << " bytes received:\n" << printable(buffer);
    }
    const int status = parser.message().status;
    if (status / 100 == 1 && status != 101) {
      out.informational.push_back(status);
      buffer.erase(0, parser.consumed());
      continue;
    }
    copy_message(std::move(parser.message()), out);
    out.complete = true;
    buffer.erase(0, parser.consumed());
    return testing::AssertionSuccess();
  }
}

testing::AssertionResult TlsClient::wait_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (true) {
    const TlsIo io = socket_.fill(until);
    if (io == TlsIo::close_notify || io == TlsIo::eof || io == TlsIo::reset || io == TlsIo::error) {
      return testing::AssertionSuccess();
    }
    if (io != TlsIo::ok) {
      return testing::AssertionFailure()
             << "TlsClient wait_closed: peer did not close within " << format_ms(deadline) << " ("
             << socket_.describe(io) << "); " << socket_.buffer().size() << " bytes received:\n"
             << printable(socket_.buffer());
    }
  }
}

void TlsClient::close_notify() { socket_.close_notify(Clock::now() + kDeadline); }

void TlsClient::close() { socket_.close(); }

void TlsClient::reset() { socket_.reset(); }

std::string TlsClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(socket_.ssl(), &p, &len);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string TlsClient::version() const { return SSL_get_version(socket_.ssl()); }

int TlsClient::version_number() const { return SSL_version(socket_.ssl()); }

bool TlsClient::session_reused() const { return SSL_session_reused(socket_.ssl()) == 1; }

CertificateNames TlsClient::peer_certificate() const {
  X509* cert = SSL_get1_peer_certificate(socket_.ssl());
  CertificateNames names = certificate_names(cert);
  X509_free(cert);
  return names;
}

long TlsClient::verify_result() const { return SSL_get_verify_result(socket_.ssl()); }

TlsSession TlsClient::session() const {
  SSL_SESSION* s = SSL_get1_session(socket_.ssl());
  if (s == nullptr) return nullptr;
  return TlsSession(s, SSL_SESSION_free);
}

std::string TlsClient::take() {
  std::string out = std::move(socket_.buffer());
  socket_.buffer().clear();
  return out;
}

}  // namespace sluice::test
