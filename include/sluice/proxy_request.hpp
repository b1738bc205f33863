#pragma once
// ProxyRequest: what a `rewrite` hook gets (Go 1.20+'s httputil.ProxyRequest). `in` is the request
// as the client sent it and is never modified; `out` is the copy that will be sent upstream,
// already stripped of hop-by-hop and X-Forwarded-* fields; edit or replace it freely.
#include "sluice/message.hpp"
#include "sluice/url.hpp"

namespace sluice {

struct ProxyRequest {
  const Request& in;
  Request& out;

  // SPEC 7, 9, 10, 11 (Go's SetURL): routes `out` to target: scheme/host/port from target, path =
  // target path joined with the inbound path (one slash, escapes preserved), query = target query
  // merged with the inbound query, and the Host header becomes the target's (out.host = "").
  void set_url(const Url& target);

  // SPEC 7 (Go's SetXForwarded): X-Forwarded-For = whatever `out` has plus the client IP,
  // X-Forwarded-Host = the inbound Host, X-Forwarded-Proto = "https" if `in` arrived over TLS, else
  // "http".
  void set_x_forwarded();
};

// The Director of Go's NewSingleHostReverseProxy (SPEC 9-11): routes `out` to target, joining
// paths and merging queries as set_url does, but keeps the inbound Host (out.host unchanged).
void direct_to(const Url& target, Request& out);

}  // namespace sluice
