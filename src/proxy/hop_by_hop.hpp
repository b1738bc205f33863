#pragma once
// Hop-by-hop fields (RFC 9110 §7.6.1; SPEC 1-4, 18): they describe one connection and never cross
// the proxy. Used on the outbound request and on the upstream response.
#include <string>
#include <string_view>

#include "sluice/message.hpp"

namespace sluice {

// True when any field line named `name` holds `token` in its comma-separated list
// (case-insensitive, optional whitespace trimmed, empty elements ignored).
bool has_token(const Fields& fields, std::string_view name, std::string_view token);

// SPEC 2/18: deletes every field named by a token of any Connection line (empty tokens ignored),
// then SPEC 1: the fixed list Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade.
void remove_hop_by_hop(Fields& fields);

// SPEC 4: the value of Upgrade when Connection holds the token "upgrade", else "".
std::string upgrade_type(const Fields& fields);

// SPEC 3: true when any TE field line holds the token "trailers".
bool te_has_trailers(const Fields& fields);

}  // namespace sluice
