#pragma once
// Helpers shared by the libFuzzer targets: an invariant check that aborts (so libFuzzer records
// the input as a crash) and prints which invariant failed, and Beast feeding loops.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdio>
#include <string_view>

namespace sluice_fuzz {

[[noreturn]] inline void violated(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\nINVARIANT VIOLATED at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  __builtin_trap();
}

#define FUZZ_CHECK(cond)                                             \
  do {                                                               \
    if (!(cond)) ::sluice_fuzz::violated(#cond, __FILE__, __LINE__); \
  } while (0)

// Feeds `input` to a Beast parser until its header is done, an error occurs, or the input is
// used up (need_more). Mirrors what the server and the transport do with a flat buffer: unused
// bytes are presented again together with the following ones. `slice` > 0 makes the bytes arrive
// that many at a time (the socket delivering them in pieces). Returns the bytes consumed.
template <typename Parser>
std::size_t feed_head(Parser& parser, std::string_view input, std::size_t slice,
                      boost::beast::error_code& ec) {
  std::size_t consumed = 0;
  std::size_t available = slice == 0 ? input.size() : std::min(slice, input.size());
  // Each round consumes bytes or makes more available; bounded by 2 * size + 2.
  for (std::size_t round = 0; round <= 2 * input.size() + 2; ++round) {
    ec = {};
    if (consumed == available) {  // all buffered bytes used: "read" more, or it is incomplete
      if (available == input.size()) {
        ec = boost::beast::http::error::need_more;
        return consumed;
      }
      available = slice == 0 ? input.size() : std::min(available + slice, input.size());
    }
    const std::size_t used =
        parser.put(boost::asio::const_buffer(input.data() + consumed, available - consumed), ec);
    FUZZ_CHECK(used <= available - consumed);
    consumed += used;
    if (parser.is_header_done()) return consumed;
    if (ec == boost::beast::http::error::need_more) {
      if (available == input.size()) return consumed;  // incomplete: the peer would be waited on
      available = slice == 0 ? input.size() : std::min(available + slice, input.size());
      continue;
    }
    if (ec) return consumed;
    if (used == 0)
      ::sluice_fuzz::violated("parser made no progress without an error", __FILE__, __LINE__);
  }
  ::sluice_fuzz::violated("head feeding did not terminate", __FILE__, __LINE__);
}

inline bool has_ctl_crlf_nul(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

}  // namespace sluice_fuzz
