#pragma once
// An HTTP/2 request's header block (RFC 9113 §8.3), collected field by field as nghttp2 decodes
// it and turned into the Request a handler sees. nghttp2 has already checked what the RFC makes
// a stream error (pseudo-header order and set, uppercase and invalid names, connection-specific
// fields, TE other than "trailers"); this adds the server's limits (SPEC J) and the mapping:
// :authority becomes the Host, cookie crumbs are joined again (§8.2.3), :path is split.
//
// Memory is bounded by the limits, not by what the client sends: past a limit nothing more is
// held (an HPACK bomb that expands into megabytes of fields keeps only the first bytes).
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "sluice/message.hpp"

namespace sluice::http2 {

struct HeadLimits {
  std::uint32_t max_bytes =
      64 * 1024;                   // name + value + 32 per field, as SETTINGS_MAX_HEADER_LIST_SIZE
  std::uint32_t max_fields = 100;  // regular fields (pseudo-headers not counted)
  std::uint32_t max_uri_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 0;  // a larger content-length gets 413; 0: no limit
};

// The answer a stream gets instead of reaching a handler (431, 414, 400, 501).
struct HeadRefusal {
  unsigned status = 400;
  std::string reason;
};

class RequestHead {
 public:
  explicit RequestHead(HeadLimits limits) : limits_(limits) {}

  // One decoded field, pseudo-header or regular.
  void add(std::string_view name, std::string_view value);
  // The header block ended; `end_stream`: it came with END_STREAM, so there is no body.
  std::variant<Request, HeadRefusal> finish(bool end_stream,
                                            const boost::asio::ip::tcp::endpoint& remote, bool tls);

  // Bytes held, for the connection's memory bound.
  std::size_t held_bytes() const;

 private:
  HeadLimits limits_;
  std::size_t list_bytes_ = 0;  // as counted for the limit, including what was dropped
  std::uint32_t fields_ = 0;
  bool too_large_ = false;
  bool too_many_ = false;
  bool invalid_ = false;
  std::string method_;
  std::string scheme_;
  std::string authority_;
  std::string path_;
  std::string cookie_;
  std::string host_;
  std::string content_length_;
  Fields header_;
};

}  // namespace sluice::http2
