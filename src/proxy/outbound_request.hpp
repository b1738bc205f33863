#pragma once
// The outbound request of one exchange (SPEC 1-8, 13-16, R30), built from a deep copy of the
// inbound one, in Go's order: director, hop-by-hop stripping, TE, Max-Forwards, the upgrade pair,
// then rewrite (after Forwarded/X-Forwarded-* removal and query cleaning) or X-Forwarded-For.
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

#include "sluice/message.hpp"
#include "sluice/reverse_proxy.hpp"

namespace sluice {

// Go's isPrint over the whole value: printable ASCII only.
bool printable_ascii(std::string_view s);

// RFC 9110 §7.6.2 (SPEC R30): Max-Forwards applies to OPTIONS and TRACE only. Its value when
// present and valid (1*DIGIT, capped), else nullopt.
std::optional<std::uint32_t> max_forwards(const Request& in);

// Fills `out` from `in` (never modified, SPEC 16) and the proxy's hooks. An error when no route
// (neither or both of director/rewrite, or no host), an invalid upgrade protocol (SPEC 5), or a
// hook that threw.
std::error_code build_outbound(const ReverseProxy& p, const Request& in, Request& out);

}  // namespace sluice
