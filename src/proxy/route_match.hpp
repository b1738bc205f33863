#pragma once
// How a route of the fleet configuration matches a request, as pure functions over the request's
// Host and escaped path (the route table applies them in order; the first match wins).
//
//   host "api.example.com"   that name exactly, without regard to case or a port in Host
//   host "*.example.com"     any name ending in ".example.com" (one or more labels before it),
//                            not "example.com" itself
//   path_prefix "/v1"        segment-aware: "/v1", "/v1/", "/v1/x"; not "/v10" or "/v1%2Fx"
//   path_prefix "/v1/"       the same as "/v1": a trailing slash does not change the segment
//
// Paths are compared as the client wrote them (escaped, case-sensitive): "%2F" is not a segment
// boundary, so an escaped slash can never step into or out of a prefix.
#include <string>
#include <string_view>

namespace sluice {

// `host` is the request's Host (or absolute-form authority), possibly with ":port". An empty
// pattern matches every request.
bool route_host_matches(std::string_view pattern, std::string_view host);

// An empty prefix (or "/") matches every path.
bool route_path_matches(std::string_view prefix, std::string_view path);

// "Example.COM:8080" -> "Example.COM"; "[::1]:8080" -> "[::1]"; a trailing dot is dropped.
// Case is left alone: route_host_matches() compares without it.
std::string_view route_bare_host(std::string_view host);

// The path with a matching prefix removed, for strip_prefix: "/v1/x" -> "/x", "/v1" -> "/",
// "/v1/" -> "/". Call only when route_path_matches(prefix, path).
std::string strip_route_prefix(std::string_view prefix, std::string_view path);

}  // namespace sluice
