#include "proxy/compression_policy.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_syntax.hpp"
#include "http1/wire.hpp"
#include "proxy/flush_policy.hpp"

namespace sluice {
namespace {

namespace http = boost::beast::http;

// q-values in thousandths, the resolution RFC 9110 §12.4.2 allows; kUnnamed: not in the list.
constexpr int kUnnamed = -1;
constexpr int kQOne = 1000;

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; nullopt for
// anything else ("2", "abc", "0.1234", "1.5", "", ".5").
std::optional<int> parse_qvalue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  int q = (v[0] - '0') * kQOne;
  if (v.size() == 1) return q;
  if (v[1] != '.' || v.size() > 5) return std::nullopt;
  int scale = 100;
  for (const char c : v.substr(2)) {
    if (c < '0' || c > '9') return std::nullopt;
    q += (c - '0') * scale;
    scale /= 10;
  }
  if (q > kQOne) return std::nullopt;
  return q;
}

struct Weighted {
  std::string_view name;
  int q = kQOne;
};

// One Accept-Encoding element: codings [ OWS ";" OWS "q=" qvalue ] (RFC 9110 §12.5.3). The
// parameter name is case-insensitive (§5.6.6); no other parameter is defined, so an element with
// one is not understood and is ignored rather than guessed at.
std::optional<Weighted> parse_element(std::string_view element) {
  const std::size_t semi = element.find(';');
  const std::string_view name = http1::trim_ows(element.substr(0, semi));
  if (!is_token(name)) return std::nullopt;
  if (semi == std::string_view::npos) return Weighted{name};
  const std::string_view param = http1::trim_ows(element.substr(semi + 1));
  if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') {
    return std::nullopt;
  }
  const std::optional<int> q = parse_qvalue(param.substr(2));  // a second ";" fails here
  if (!q) return std::nullopt;
  return Weighted{name, *q};
}

// What the client said about each coding sluice can produce, about identity, and about "*".
struct Acceptance {
  std::array<int, 3> coding{kUnnamed, kUnnamed, kUnnamed};  // indexed by ContentCoding
  int identity = kUnnamed;
  int any = kUnnamed;

  // Named twice, the lower q counts: a refusal is never overridden by a repetition.
  static void note(int& slot, int q) { slot = slot == kUnnamed ? q : std::min(slot, q); }

  void add(const Weighted& w) {
    if (w.name == "*") {
      note(any, w.q);
    } else if (http1::iequals(w.name, "identity")) {
      note(identity, w.q);
    } else if (http1::iequals(w.name, "x-gzip")) {  // RFC 9110 §8.4.1.3
      note(coding[static_cast<std::size_t>(ContentCoding::gzip)], w.q);
    } else {
      for (const ContentCoding c : {ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}) {
        if (http1::iequals(w.name, to_string(c))) note(coding[static_cast<std::size_t>(c)], w.q);
      }
    }
  }

  // kUnnamed (not acceptable) when neither the coding nor "*" is in the list.
  int q_of(ContentCoding c) const {
    const int q = coding[static_cast<std::size_t>(c)];
    return q != kUnnamed ? q : any;
  }
  int identity_q() const { return identity != kUnnamed ? identity : any; }
};

bool has_no_transform(const Fields& header) {
  bool found = false;
  const auto [first, last] = header.equal_range(http::field::cache_control);
  for (auto it = first; it != last; ++it) {
    http1::for_each_list_element(it->value(), [&found](std::string_view directive) {
      const std::string_view name = http1::trim_ows(directive.substr(0, directive.find('=')));
      if (http1::iequals(name, "no-transform")) found = true;
    });
  }
  return found;
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && http1::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// Vary gains Accept-Encoding unless it names it already or is "*" (which covers it). The lines'
// elements are joined into one line so that no second Vary line appears (RFC 9110 §5.3: the
// same list).
void add_vary_accept_encoding(Fields& header) {
  static constexpr std::string_view kAcceptEncoding = "Accept-Encoding";
  bool covered = false;
  std::string merged;
  const auto [first, last] = header.equal_range(http::field::vary);
  for (auto it = first; it != last; ++it) {
    http1::for_each_list_element(it->value(), [&covered, &merged](std::string_view element) {
      if (element == "*" || http1::iequals(element, kAcceptEncoding)) covered = true;
      if (!merged.empty()) merged += ", ";
      merged += element;
    });
  }
  if (covered) return;
  if (!merged.empty()) merged += ", ";
  merged += kAcceptEncoding;
  header.set(http::field::vary, merged);
}

// entity-tag = [ weakness ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3).
bool is_strong_etag(std::string_view v) {
  return v.size() >= 2 && v.front() == '"' && v.back() == '"' &&
         v.substr(1, v.size() - 2).find('"') == std::string_view::npos;
}

void weaken_etags(Fields& header) {
  std::vector<std::string> tags;
  bool changed = false;
  const auto [first, last] = header.equal_range(http::field::etag);
  for (auto it = first; it != last; ++it) {
    const std::string_view value = http1::trim_element(it->value());
    std::string tag;
    if (is_strong_etag(value)) {
      tag = "W/";
      changed = true;
    }
    tag += value;
    tags.push_back(std::move(tag));
  }
  if (!changed) return;
  header.erase(http::field::etag);
  for (const std::string& tag : tags) {
    header.insert(http::field::etag, tag);
  }
}

}  // namespace

std::optional<ContentCoding> negotiate_coding(const Fields& request_header,
                                              std::span<const ContentCoding> offered) {
  const auto [first, last] = request_header.equal_range(http::field::accept_encoding);
  if (first == last) return std::nullopt;
  Acceptance acceptance;
  for (auto it = first; it != last; ++it) {
    http1::for_each_list_element(it->value(), [&acceptance](std::string_view element) {
      if (const std::optional<Weighted> w = parse_element(element)) acceptance.add(*w);
    });
  }
  std::optional<ContentCoding> best;
  int best_q = 0;  // q=0 is "not acceptable" (§12.4.2), never a choice
  for (const ContentCoding c : offered) {
    const int q = acceptance.q_of(c);
    if (q > best_q) {  // strictly: a tie keeps the coding offered earlier
      best = c;
      best_q = q;
    }
  }
  if (best && acceptance.identity_q() > best_q) return std::nullopt;
  return best;
}

bool compressible_type(std::string_view content_type_value, std::span<const std::string> types) {
  // The same parse as the flush policy's, so both agree on what a Content-Type names.
  const std::string type = media_type(content_type_value);
  const std::size_t slash = type.find('/');
  if (slash == std::string::npos) return false;
  const std::string_view main = std::string_view(type).substr(0, slash);
  const std::string_view subtype = std::string_view(type).substr(slash + 1);
  for (const std::string& entry : types) {
    const std::string_view e = entry;
    if (e.starts_with('+')) {
      if (subtype.size() > e.size() && iends_with(subtype, e)) return true;
    } else if (e.ends_with("/*")) {
      if (http1::iequals(main, e.substr(0, e.size() - 2))) return true;
    } else if (http1::iequals(type, e)) {
      return true;
    }
  }
  return false;
}

std::optional<ContentCoding> choose_compression(const Request& in, const Response& res,
                                                const CompressOptions& options) {
  if (options.codings.empty()) return std::nullopt;
  if (in.method == "HEAD") return std::nullopt;  // methods are case-sensitive (RFC 9110 §9.1)
  if (res.status < 200 || res.status > 299 || res.status == 204 || res.status == 206) {
    return std::nullopt;
  }
  if (res.header.find(http::field::content_encoding) != res.header.end()) return std::nullopt;
  if (has_no_transform(res.header)) return std::nullopt;
  // Like Go's Header.Get (and the flush policy), only the first Content-Type line counts.
  const auto type = res.header.find(http::field::content_type);
  if (type == res.header.end() || !compressible_type(type->value(), options.types)) {
    return std::nullopt;
  }
  if (res.content_length == 0) return std::nullopt;  // nothing to encode, whatever min_bytes is
  if (res.content_length > 0 &&
      static_cast<std::uint64_t>(res.content_length) < options.min_bytes) {
    return std::nullopt;
  }
  return negotiate_coding(in.header, options.codings);
}

void apply_compression_head(Response& res, ContentCoding coding) {
  res.header.set(http::field::content_encoding, to_string(coding));
  res.header.erase(http::field::content_length);
  res.content_length = kUnknownLength;
  add_vary_accept_encoding(res.header);
  weaken_etags(res.header);
  res.header.erase(http::field::accept_ranges);
  for (const char* digest : {"Content-Digest", "Repr-Digest", "Content-MD5"})
    res.header.erase(digest);
}

}  // namespace sluice
