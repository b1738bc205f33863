#pragma once
// HeaderList: the fields of one HEADERS frame sluice sends, as nghttp2 takes them (nghttp2_nv),
// over storage of its own so that it outlives the Fields it came from. Names are lowercased
// (RFC 9113 §8.2.1) and connection-specific fields are never sent (§8.2.2): Connection,
// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE. nghttp2 copies the list when
// the frame is submitted (NGHTTP2_NV_FLAG_NONE), so a HeaderList may die right after.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/message.hpp"

namespace sluice::http2 {

class HeaderList {
 public:
  // A response head: ":status", then `fields`; "content-length" when `content_length` >= 0.
  static HeaderList response(unsigned status, const Fields& fields, std::int64_t content_length);
  // A trailer section: `fields` without the framing ones (they mean nothing after the body).
  static HeaderList trailers(const Fields& fields);
  // A request to an upstream: the pseudo-headers from `out` (":authority" is out.host, or the
  // URL's authority), then its fields but Host and the connection-specific ones ("te: trailers"
  // stays: gRPC needs it), and "content-length" when the length is known and not zero.
  static HeaderList request(const Request& out, std::string_view scheme);

  void add(std::string_view name, std::string_view value);
  // Valid until the next add().
  const nghttp2_nv* data();
  std::size_t size() const { return spans_.size(); }
  bool empty() const { return spans_.empty(); }

 private:
  struct Span {
    std::size_t name, name_len, value, value_len;
  };
  std::string arena_;
  std::vector<Span> spans_;
  std::vector<nghttp2_nv> nv_;
};

// A field HTTP/2 must never carry (§8.2.2), or one an HTTP/1 framing alone gives meaning to.
bool is_connection_specific(std::string_view name);

}  // namespace sluice::http2
