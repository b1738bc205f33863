#pragma once
// The names a server certificate answers to, and SNI matching against them (RFC 6125 §6.4:
// exact, case-insensitive; a wildcard "*." stands for exactly one leftmost label).
#include <openssl/x509.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// The DNS names of subjectAltName, lower-cased; the subject's CN when there are none.
std::vector<std::string> certificate_dns_names(X509* cert);

bool name_matches(std::string_view pattern, std::string_view host);

// The host_name of a client hello's server_name extension body (RFC 6066 §3); nullopt when it
// is malformed or has none.
std::optional<std::string> parse_server_name_extension(const unsigned char* data, std::size_t len);

}  // namespace sluice
