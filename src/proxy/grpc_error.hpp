#pragma once
// The errors sluice itself answers a gRPC request with (no upstream, timeout, a failed
// connect): gRPC-shaped, as a gRPC client understands them, instead of a bare 502/504 that
// gRPC libraries report as "unknown" or "internal"
// (https://grpc.github.io/grpc/core/md_doc_http-grpc-status-mapping.html). HTTP 200 with
// `content-type: application/grpc`, `grpc-status` and `grpc-message` in the head and no body: over
// HTTP/2 that is one HEADERS frame with END_STREAM, the Trailers-Only form.
#include <system_error>

#include "sluice/message.hpp"

namespace sluice::detail {

// A gRPC request: content-type application/grpc, alone or with a +suffix or parameters.
bool is_grpc_request(const Request& req);

// 4 DEADLINE_EXCEEDED for the upstream timeouts (where HTTP would say 504), else
// 14 UNAVAILABLE; grpc-message is the error's text, percent-encoded as gRPC requires.
SimpleResponse grpc_error_response(std::error_code ec);

}  // namespace sluice::detail
