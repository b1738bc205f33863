#include "sluice/proxy_request.hpp"

#include "proxy/forwarded.hpp"

namespace sluice {
namespace {

// Go's rewriteRequestURL, shared by SetURL and the single-host Director. Paths are joined on their
// escaped forms (Go's joinURLPath), so "%2F" in either side is preserved, never decoded (SPEC 10).
void rewrite_request_url(Request& out, const Url& target) {
  out.url.scheme = target.scheme;
  out.url.host = target.host;
  out.url.port = target.port;
  out.url.raw_path = single_joining_slash(target.raw_path, out.url.raw_path);
  out.url.raw_query = merge_query(target.raw_query, out.url.raw_query);  // SPEC 11
}

}  // namespace

void ProxyRequest::set_url(const Url& target) {
  rewrite_request_url(out, target);
  out.host = "";  // SPEC 9: Host becomes the target's authority
}

void ProxyRequest::set_x_forwarded() {
  // SPEC 7. Appends to whatever `out` carries: after the Rewrite-mode strip that is nothing, unless
  // the hook copied the inbound X-Forwarded-For on purpose.
  append_x_forwarded_for(out.header, client_ip(in.remote));
  out.header.set("X-Forwarded-Host", in.host);
  out.header.set("X-Forwarded-Proto", in.tls ? "https" : "http");
}

void direct_to(const Url& target, Request& out) {
  rewrite_request_url(out, target);  // SPEC 9: the inbound Host is kept
}

}  // namespace sluice
