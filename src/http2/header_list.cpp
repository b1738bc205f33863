#include "http2/header_list.hpp"

#include <boost/beast/core/string.hpp>

#include "common/http_syntax.hpp"

namespace sluice::http2 {

namespace {

bool named(std::string_view name, std::string_view want) {
  return boost::beast::iequals(name, want);
}

// RFC 9113 §8.2.1: no CR, LF, NUL or other control byte, and no leading or trailing
// whitespace. A value with control bytes is dropped (as HTTP/1's writer drops it: a hook may
// have put anything there); surrounding whitespace, meaningless in HTTP, is trimmed.
bool clean_value(std::string_view& value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  return is_field_value(value);
}

}  // namespace

bool is_connection_specific(std::string_view name) {
  return named(name, "connection") || named(name, "keep-alive") ||
         named(name, "proxy-connection") || named(name, "transfer-encoding") ||
         named(name, "upgrade") || named(name, "te");
}

void HeaderList::add(std::string_view name, std::string_view value) {
  Span s{arena_.size(), name.size(), 0, value.size()};
  for (const char c : name)
    arena_ += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  s.value = arena_.size();
  arena_.append(value);
  spans_.push_back(s);
}

const nghttp2_nv* HeaderList::data() {
  nv_.clear();
  nv_.reserve(spans_.size());
  auto* base = reinterpret_cast<std::uint8_t*>(arena_.data());
  for (const Span& s : spans_) {
    nv_.push_back(
        nghttp2_nv{base + s.name, base + s.value, s.name_len, s.value_len, NGHTTP2_NV_FLAG_NONE});
  }
  return nv_.data();
}

HeaderList HeaderList::response(unsigned status, const Fields& fields,
                                std::int64_t content_length) {
  HeaderList list;
  list.add(":status", std::to_string(status));
  for (const auto& f : fields) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (is_connection_specific(name) || named(name, "content-length") || !is_token(name)) {
      continue;
    }
    std::string_view value(f.value().data(), f.value().size());
    if (clean_value(value)) list.add(name, value);
  }
  if (content_length >= 0) list.add("content-length", std::to_string(content_length));
  return list;
}

HeaderList HeaderList::trailers(const Fields& fields) {
  HeaderList list;
  for (const auto& f : fields) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (is_connection_specific(name) || named(name, "content-length") || named(name, "trailer") ||
        !is_token(name)) {
      continue;
    }
    std::string_view value(f.value().data(), f.value().size());
    if (clean_value(value)) list.add(name, value);
  }
  return list;
}

HeaderList HeaderList::request(const Request& out, std::string_view scheme) {
  HeaderList list;
  list.add(":method", out.method);
  list.add(":scheme", scheme);
  list.add(":authority", out.host.empty() ? out.url.authority() : out.host);
  list.add(":path", out.url.request_target());
  for (const auto& f : out.header) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    std::string_view value(f.value().data(), f.value().size());
    if (named(name, "te") && boost::beast::iequals(value, "trailers")) {
      list.add("te", "trailers");
      continue;
    }
    if (is_connection_specific(name) || named(name, "content-length") || named(name, "host") ||
        !is_token(name)) {
      continue;
    }
    if (clean_value(value)) list.add(name, value);
  }
  if (out.content_length > 0) list.add("content-length", std::to_string(out.content_length));
  return list;
}

}  // namespace sluice::http2
