#pragma once
// Whether one response is compressed, with which coding, and how its head changes (issue 14).
// Pure functions of the request and response heads: the body is encoded by BodyEncoder.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sluice/content_coding.hpp"
#include "sluice/message.hpp"

namespace sluice {

// The coding the client prefers among `offered` (RFC 9110 §12.5.3), or nullopt for identity:
// * every Accept-Encoding line of the request counts, as one list; no Accept-Encoding at all, or
//   an empty one, means identity (the RFC allows any coding then, but a client that says nothing
//   is usually a script that would not decode it);
// * a coding's q-value is its own element's ("x-gzip" is gzip; names are case-insensitive), else
//   that of "*", else it is not acceptable; q=0 refuses it; named twice, the lower q counts;
// * the highest q wins, ties go to the earlier coding in `offered`; identity wins only when the
//   client gives it (named, or through "*") a q strictly higher than the best coding's;
// * an element that does not parse (a name that is not a token, a parameter other than q, a
//   q-value outside RFC 9110 §12.4.2's grammar such as q=2 or q=abc) is ignored.
// One pass over the field values, no allocation: linear in their length whatever they hold.
std::optional<ContentCoding> negotiate_coding(const Fields& request_header,
                                              std::span<const ContentCoding> offered);

// Whether the media type of a Content-Type value (parameters ignored, case-insensitive) is one of
// `types`: "type/*", an exact "type/subtype", or a structured syntax suffix "+json" that matches
// any subtype ending in it. A value without a valid type/subtype is never compressible.
bool compressible_type(std::string_view content_type_value, std::span<const std::string> types);

// The coding to compress `res` with, or nullopt to send it as it is. Every rule must allow it:
// * options.codings is not empty;
// * the request is not HEAD (the response has no body to encode);
// * the status is 2xx other than 204 and 206: 1xx, 204 and 304 have no body, 206 carries a byte
//   range of the uncompressed representation; 3xx, 4xx and 5xx bodies are short messages
//   nobody's code depends on reading compressed, and are left as they are (nginx compresses only
//   200, 403 and 404, for the same reason);
// * the response has no Content-Encoding field at all (any value, even "identity": the upstream
//   chose the coding, and sluice never encodes twice);
// * no Cache-Control line holds the no-transform directive (RFC 9111 §5.2.2.6);
// * the first Content-Type line names a type in options.types;
// * the body is not known to be empty or shorter than options.min_bytes (an unknown length
//   always qualifies: streams are what gains most);
// * the client accepts one of options.codings (negotiate_coding).
std::optional<ContentCoding> choose_compression(const Request& in, const Response& res,
                                                const CompressOptions& options);

// Rewrites the head of a response whose body is sent encoded with `coding`:
// * Content-Encoding: <coding>;
// * no Content-Length, and res.content_length = kUnknownLength (the encoded length is known only
//   at the end: the body goes chunked);
// * "Accept-Encoding" added to Vary (RFC 9110 §12.5.5) unless Vary names it already or is "*";
//   several Vary lines become one list on one line;
// * a strong ETag becomes weak (W/"x"): the encoded bytes differ from the upstream's, so a strong
//   validator would promise a byte-for-byte equality that does not hold (RFC 9110 §8.8.1); a weak
//   one, or a value that is not an entity-tag, is left;
// * no Accept-Ranges: a range request is served uncompressed (206 is never encoded), so ranges
//   of this encoded body cannot be asked for;
// * no Content-Digest, Repr-Digest (RFC 9530) or Content-MD5: they digest the bytes the upstream
//   sent, which the client no longer gets.
void apply_compression_head(Response& res, ContentCoding coding);

}  // namespace sluice
