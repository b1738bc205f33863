#pragma once
// X-Forwarded-* (SPEC 6, 7).
#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

#include "sluice/message.hpp"

namespace sluice {

// The host part of a peer address, as Go's net.SplitHostPort gives it: "10.0.0.1", "::1" (no
// brackets).
std::string client_ip(const boost::asio::ip::tcp::endpoint& peer);

// SPEC 6: appends `ip` to X-Forwarded-For. No prior value -> "ip"; prior values (any number of
// field lines) are joined with ", " and ", ip" added, leaving exactly one field line.
void append_x_forwarded_for(Fields& fields, std::string_view ip);

// SPEC 7 (Rewrite mode): deletes Forwarded, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto.
void remove_forwarded(Fields& fields);

}  // namespace sluice
