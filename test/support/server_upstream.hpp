#pragma once
// Upstreams that are sluice Servers running a scripted handler: they speak HTTP/1.1, and HTTP/2
// to a client that starts with the preface or, over TLS, chooses it by ALPN. For the upstream
// transport tests (http2_upstream_test, auto_transport_test); the gRPC test uses an independent
// gRPC server.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "sluice/tls.hpp"
#include "sluice/transport.hpp"
#include "support/test_certs.hpp"

namespace sluice::test {

// A sluice Server on 127.0.0.1:0 running `handler` for every request.
class H2Upstream {
 public:
  explicit H2Upstream(Handler handler, ServerOptions options = {}) {
    options.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
    options.access_log = AccessLog::off;
    options.log = [](std::string_view) {};
    server_ = std::make_unique<Server>(options, std::move(handler));
    server_->start();
  }
  ~H2Upstream() { server_->stop(std::chrono::seconds(0)); }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port());
  }
  Server& server() { return *server_; }

 private:
  std::unique_ptr<Server> server_;
};

// The same over TLS, with a certificate from a test CA, offering `alpn` (empty: no ALPN).
struct TlsServerUpstream {
  TestPki pki;
  IssuedCert leaf = pki.issue({"localhost", "127.0.0.1"}, "upstream");
  std::unique_ptr<H2Upstream> upstream;
  TlsServerUpstream(Handler handler, std::vector<std::string> alpn) {
    ServerOptions options;
    ServerTlsOptions tls;
    tls.alpn = std::move(alpn);
    options.tls = ServerTls::load({{leaf.cert_path, leaf.key_path}}, tls);
    upstream = std::make_unique<H2Upstream>(std::move(handler), options);
  }
  std::string url() const { return "https" + upstream->url().substr(4); }
  // What a transport needs to trust this upstream.
  std::shared_ptr<UpstreamTls> upstream_tls() const {
    UpstreamTlsOptions o;
    o.ca_file = pki.ca_path();
    o.system_ca = false;
    return UpstreamTls::load(o);
  }
};

// A proxy configuration whose transport, made by `make` with `options` (max idle connections,
// timeouts...), trusts `upstream`'s test CA.
template <typename Make>
auto with_transport_trusting(const TlsServerUpstream& upstream, Make make,
                             TransportOptions options = {}) {
  options.tls = upstream.upstream_tls();
  return [make, options](ReverseProxy& p) { p.transport = make(options); };
}

// Answers 200 with what arrived: "METHOD target host=H v=VERSION[ x-a=V]".
inline boost::asio::awaitable<void> echo_head(Exchange& ex) {
  const Request& r = ex.request();
  std::string body = r.method + " " + r.url.request_target() + " host=" + r.host +
                     " v=" + std::to_string(r.version);
  if (auto it = r.header.find("x-a"); it != r.header.end())
    body += " x-a=" + std::string(it->value());
  SimpleResponse res{200, {}, std::move(body)};
  co_await ex.respond(std::move(res));
}

}  // namespace sluice::test
