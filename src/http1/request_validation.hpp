#pragma once
// Strict request framing (SPEC H, R1-R25): what Boost.Beast 1.81's request parser lets through and
// sluice must refuse. Beast already rejects most malformed heads (space before the colon, bad
// names, NUL / bare CR in values, bad Content-Length syntax, CL+TE chunked, bad versions); these
// checks close the rest. Pure functions: no I/O, no state.
//
//  - validate_request_head: over the parsed head, once Beast reports the header done.
//    Transfer-Encoding other than exactly `chunked` (R5, R6, R13), TE with Content-Length in any
//    form (R1: `xchunked` + CL is framed by CL in Beast), duplicate Content-Length (R2, R3),
//    Host missing or repeated (R15), and the syntax Beast is meant to enforce (defence in depth).
//  - check_raw_head: over the head bytes not yet consumed by the parser, before each put(). For
//    what Beast normalises away or waits on: obs-fold (R8, Beast joins the lines), a bare LF
//    ending a head line (R12, `\r\n\n` makes Beast wait for a `\r\n\r\n` that never comes),
//    and a well-formed but unsupported HTTP version (R16: 505 rather than Beast's generic 400).
//  - stalled_chunk_line_invalid: for the request-body reader, see below.
#include <boost/beast/http/message.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::detail {

struct Rejection {
  unsigned status = 400;
  std::string reason;
};

// nullopt: acceptable.
using Verdict = std::optional<Rejection>;

Verdict validate_request_head(const boost::beast::http::request_header<>& head);

// `unconsumed`: the buffered bytes of the current request head that the parser has not consumed
// yet. Beast consumes whole lines only (and looks one byte past a field's CRLF before it consumes
// that field), so these bytes always start at the beginning of a line. The scan stops at the empty
// line that ends the head; body bytes after it are never looked at. Incomplete input is not
// rejected unless what is there already is invalid.
Verdict check_raw_head(std::string_view unconsumed);

// For the chunked request-body reader: the parser reported need_more with these bytes buffered and
// unconsumed, i.e. it is waiting for the end of a chunk-size line (or of the last chunk and its
// trailer section). Beast only ever looks for CRLF there, so a bare LF makes it wait forever (R18).
// True when the bytes already contain an LF that is not preceded by CR: the body is malformed and
// the reader should fail with bad_chunk instead of reading more.
bool stalled_chunk_line_invalid(std::string_view unconsumed);

}  // namespace sluice::detail
