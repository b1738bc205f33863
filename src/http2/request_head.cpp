#include "http2/request_head.hpp"

#include <charconv>

#include "common/http_syntax.hpp"
#include "sluice/url.hpp"

namespace sluice::http2 {

namespace {

// RFC 9113 §6.5.2: each field counts its name, its value and 32 bytes of overhead.
constexpr std::size_t kFieldOverhead = 32;

bool is_lowercase_token(std::string_view name) {
  if (!is_token(name)) return false;
  for (const char c : name) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

}  // namespace

void RequestHead::add(std::string_view name, std::string_view value) {
  list_bytes_ += name.size() + value.size() + kFieldOverhead;
  if (list_bytes_ > limits_.max_bytes) too_large_ = true;
  if (too_large_ || too_many_ || invalid_) return;  // refused already: hold nothing more
  if (!name.empty() && name.front() == ':') {
    std::string* slot = name == ":method"      ? &method_
                        : name == ":scheme"    ? &scheme_
                        : name == ":authority" ? &authority_
                        : name == ":path"      ? &path_
                                               : nullptr;
    if (slot == nullptr || !slot->empty() || value.empty()) {
      invalid_ = true;  // unknown, repeated or empty pseudo-header (nghttp2 checks it first)
      return;
    }
    slot->assign(value);
    return;
  }
  // Defence in depth: nghttp2's own checks run first, but nothing invalid may reach an HTTP/1
  // upstream whatever fed this (the fuzz target feeds it directly).
  if (!is_lowercase_token(name) || !is_field_value(value)) {
    invalid_ = true;
    return;
  }
  if (name == "cookie") {
    // §8.2.3: crumbs split for compression are one field again for HTTP/1, and count as one.
    if (cookie_.empty() && ++fields_ > limits_.max_fields) too_many_ = true;
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_.append(value);
    return;
  }
  if (++fields_ > limits_.max_fields) {
    too_many_ = true;
    return;
  }
  if (name == "host") {
    if (!host_.empty()) invalid_ = true;
    host_.assign(value);
    return;
  }
  if (name == "content-length") {
    if (!content_length_.empty() && content_length_ != value) invalid_ = true;
    content_length_.assign(value);
  }
  header_.insert(name, value);
}

std::size_t RequestHead::held_bytes() const {
  std::size_t n = method_.size() + scheme_.size() + authority_.size() + path_.size() +
                  cookie_.size() + host_.size() + content_length_.size();
  for (const auto& f : header_)
    n += f.name_string().size() + f.value().size();
  return n;
}

std::variant<Request, HeadRefusal> RequestHead::finish(bool end_stream,
                                                       const boost::asio::ip::tcp::endpoint& remote,
                                                       bool tls) {
  if (too_large_) return HeadRefusal{431, "request header fields too large"};
  if (too_many_) {
    return HeadRefusal{431, "more than " + std::to_string(limits_.max_fields) + " header fields"};
  }
  if (invalid_) return HeadRefusal{400, "malformed request header block"};
  if (method_ == "CONNECT") return HeadRefusal{501, "CONNECT is not supported over HTTP/2"};
  if (method_.empty() || scheme_.empty() || path_.empty() || !is_token(method_)) {
    return HeadRefusal{400, "missing or invalid :method, :scheme or :path"};
  }
  if (path_.size() > limits_.max_uri_bytes) {
    return HeadRefusal{
        414, "request target longer than " + std::to_string(limits_.max_uri_bytes) + " bytes"};
  }
  // §8.3.1: origin form, or "*" for OPTIONS.
  if (path_.front() != '/' && !(path_ == "*" && method_ == "OPTIONS")) {
    return HeadRefusal{400, "invalid :path"};
  }
  if (!is_wire_word(path_) || (!authority_.empty() && !is_wire_word(authority_))) {
    return HeadRefusal{400, "invalid :path or :authority"};
  }
  if (!authority_.empty() && !host_.empty() && authority_ != host_) {
    return HeadRefusal{400, ":authority and Host disagree"};
  }
  Request req;
  req.method = std::move(method_);
  req.version = 20;
  Target target = parse_target(path_);
  req.url.raw_path = std::move(target.raw_path);
  req.url.raw_query = std::move(target.raw_query);
  req.host = !authority_.empty() ? std::move(authority_) : std::move(host_);
  if (!is_wire_word(req.host)) return HeadRefusal{400, "missing or invalid :authority"};
  if (!cookie_.empty()) header_.insert("cookie", cookie_);
  req.header = std::move(header_);
  if (!content_length_.empty()) {
    std::int64_t length = 0;
    const auto* end = content_length_.data() + content_length_.size();
    const auto [ptr, ec] = std::from_chars(content_length_.data(), end, length);
    if (ec != std::errc{} || ptr != end || length < 0) {
      return HeadRefusal{400, "invalid content-length"};
    }
    req.content_length = end_stream ? 0 : length;
    if (end_stream && length != 0) return HeadRefusal{400, "content-length without a body"};
    if (limits_.max_body_bytes > 0 && static_cast<std::uint64_t>(length) > limits_.max_body_bytes) {
      // As on HTTP/1: refused before anything reaches the upstream.
      return HeadRefusal{
          413, "request body larger than " + std::to_string(limits_.max_body_bytes) + " bytes"};
    }
  } else {
    // No length: the body is as long as its DATA frames (an HTTP/1 upstream gets it chunked).
    req.content_length = end_stream ? 0 : kUnknownLength;
  }
  req.remote = remote;
  req.tls = tls;
  return req;
}

}  // namespace sluice::http2
