// fuzz_chunked_body: a fixed valid chunked POST head + the fuzz bytes as the body, decoded by a
// Beast request_parser<buffer_body> into a small buffer the way Exchange::read_body drives it.
// Invariants:
//   - every round consumes input, yields body bytes, or ends (bounded rounds, no spin);
//   - decoded length <= body input length;
//   - the bytes arriving whole or 7 at a time give the same verdict, body and end offset;
//   - when Beast reports the message done and the strict RFC 9112 §7.1 reference decoder below
//     accepts the input, both decoded the same bytes and ended the message at the same offset
//     (a different end offset is a request-smuggling desync: the rest is the next request).
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"

namespace http = boost::beast::http;
using RequestParser = http::request_parser<http::buffer_body>;

namespace {

constexpr std::string_view kHead =
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

// ---- Reference decoder: RFC 9112 §7.1, strict ----------------------------------------------
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val  = token / quoted-string
//   trailer-section = *( field-line CRLF ),  field-line = field-name ":" OWS field-value OWS

struct Reference {
  bool accepted = false;
  std::string body;
  std::size_t end = 0;  // offset just after the final CRLF
};

bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Reference reference_decode(std::string_view s) {
  Reference ref;
  const std::size_t n = s.size();
  std::size_t p = 0;
  auto crlf = [&] {
    if (p + 1 < n && s[p] == '\r' && s[p + 1] == '\n') {
      p += 2;
      return true;
    }
    return false;
  };
  auto ows = [&] {
    while (p < n && (s[p] == ' ' || s[p] == '\t'))
      ++p;
  };
  auto token = [&] {
    const std::size_t start = p;
    while (p < n && is_tchar(static_cast<unsigned char>(s[p])))
      ++p;
    return p > start;
  };
  auto quoted_string = [&] {
    if (p >= n || s[p] != '"') return false;
    ++p;
    while (p < n) {
      const auto c = static_cast<unsigned char>(s[p]);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c == '\\') {
        if (p + 1 >= n) return false;
        const auto q = static_cast<unsigned char>(s[p + 1]);
        if (!(q == '\t' || q == ' ' || (q >= 0x21 && q <= 0x7e) || q >= 0x80)) return false;
        p += 2;
        continue;
      }
      if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
            (c >= 0x5d && c <= 0x7e) || c >= 0x80)) {
        return false;
      }
      ++p;
    }
    return false;
  };

  for (;;) {
    const std::size_t start = p;
    std::uint64_t size = 0;
    while (p < n && hex_value(s[p]) >= 0) {
      if (size > (std::uint64_t{1} << 40)) return ref;  // larger than any input: never complete
      size = size * 16 + static_cast<std::uint64_t>(hex_value(s[p]));
      ++p;
    }
    if (p == start) return ref;
    for (;;) {  // chunk extensions
      const std::size_t before = p;
      ows();
      if (p >= n || s[p] != ';') {
        p = before;
        break;
      }
      ++p;
      ows();
      if (!token()) return ref;
      const std::size_t after_name = p;
      ows();
      if (p < n && s[p] == '=') {
        ++p;
        ows();
        if (!(token() || quoted_string())) return ref;
      } else {
        p = after_name;
      }
    }
    if (!crlf()) return ref;
    if (size == 0) break;
    if (size > n - p) return ref;
    ref.body.append(s.substr(p, static_cast<std::size_t>(size)));
    p += static_cast<std::size_t>(size);
    if (!crlf()) return ref;
  }
  for (;;) {  // trailer section
    if (crlf()) {
      ref.accepted = true;
      ref.end = p;
      return ref;
    }
    if (!token()) return ref;
    if (p >= n || s[p] != ':') return ref;
    ++p;
    while (p < n) {
      const auto c = static_cast<unsigned char>(s[p]);
      if (c == ' ' || c == '\t' || (c >= 0x21 && c <= 0x7e) || c >= 0x80) {
        ++p;
      } else {
        break;
      }
    }
    if (!crlf()) return ref;
  }
}

// ---- Beast, driven like Exchange::read_body ------------------------------------------------

enum class Verdict { done, error, incomplete };

struct Decoded {
  Verdict verdict = Verdict::incomplete;
  boost::beast::error_code ec;
  std::string body;
  std::size_t consumed = 0;  // bytes of the whole message (head included) the parser used
};

Decoded beast_decode(std::string_view msg, std::size_t slice, std::size_t buffer_size) {
  RequestParser parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(boost::none);
  Decoded out;
  char buf[64];
  FUZZ_CHECK(buffer_size <= sizeof buf);
  const std::size_t n = msg.size();
  std::size_t available = slice == 0 ? n : std::min(slice, n);
  // A round that does nothing else makes more bytes available; one that consumes or decodes
  // does so by at least a byte: so 3n + 8 rounds are always enough.
  const std::size_t max_rounds = 3 * n + 8;
  for (std::size_t round = 0;; ++round) {
    FUZZ_CHECK(round < max_rounds);
    if (out.consumed == available) {
      // Everything buffered is used: Beast answers an empty buffer with 0 and no error; the
      // server would read from the socket here (async_read_some).
      if (available == n) return out;  // incomplete
      available = slice == 0 ? n : std::min(available + slice, n);
    }
    parser.get().body().data = buf;
    parser.get().body().size = buffer_size;
    parser.get().body().more = true;
    boost::beast::error_code ec;
    const std::size_t used = parser.put(
        boost::asio::const_buffer(msg.data() + out.consumed, available - out.consumed), ec);
    FUZZ_CHECK(used <= available - out.consumed);
    out.consumed += used;
    const std::size_t got = buffer_size - parser.get().body().size;
    FUZZ_CHECK(got <= buffer_size);
    out.body.append(buf, got);
    if (ec == http::error::need_buffer) ec = {};
    if (parser.is_done()) {
      FUZZ_CHECK(!ec);
      out.verdict = Verdict::done;
      return out;
    }
    if (ec == http::error::need_more) {
      if (available == n) return out;  // incomplete: the server would wait for more
      available = slice == 0 ? n : std::min(available + slice, n);
      continue;
    }
    if (ec) {
      out.verdict = Verdict::error;
      out.ec = ec;
      return out;
    }
    if (used == 0 && got == 0) {
      // No error, no input used, nothing decoded: Exchange::read_body would spin on this.
      sluice_fuzz::violated("chunked parser made no progress without asking for input", __FILE__,
                            __LINE__);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string msg(kHead);
  msg.append(body);

  const Decoded whole = beast_decode(msg, 0, 16);
  const Decoded sliced = beast_decode(msg, 7, 3);

  for (const Decoded* d : {&whole, &sliced}) {
    FUZZ_CHECK(d->consumed <= msg.size());
    FUZZ_CHECK(d->body.size() <= body.size());
  }
  // Segmentation must not change the framing: a different verdict or end offset depending on how
  // the bytes arrive is a desync.
  FUZZ_CHECK((whole.verdict == Verdict::done) == (sliced.verdict == Verdict::done));
  if (whole.verdict == Verdict::done) {
    FUZZ_CHECK(whole.consumed == sliced.consumed);
    FUZZ_CHECK(whole.body == sliced.body);
  }

  const Reference ref = reference_decode(body);
  if (ref.accepted) {
    FUZZ_CHECK(ref.body.size() <= body.size() && ref.end <= body.size());
    // The reference accepts only valid framing; Beast may reject some of it (that would be an
    // interoperability gap, not checked here), but when it finishes it must agree.
    if (whole.verdict == Verdict::done) {
      FUZZ_CHECK(whole.body == ref.body);
      FUZZ_CHECK(whole.consumed == kHead.size() + ref.end);
    }
  }
  return 0;
}
