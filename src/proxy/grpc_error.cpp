#include "proxy/grpc_error.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "sluice/error.hpp"

namespace sluice::detail {

namespace {

constexpr int kDeadlineExceeded = 4;
constexpr int kUnavailable = 14;

// gRPC's grpc-message: UTF-8, percent-encoded outside printable ASCII and '%'.
std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b <= 0x7e && b != '%') {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  return out;
}

}  // namespace

bool is_grpc_request(const Request& req) {
  const auto it = req.header.find(boost::beast::http::field::content_type);
  if (it == req.header.end()) return false;
  const std::string_view type(it->value().data(), it->value().size());
  constexpr std::string_view kGrpc = "application/grpc";
  if (type.size() < kGrpc.size() || !boost::beast::iequals(type.substr(0, kGrpc.size()), kGrpc)) {
    return false;
  }
  return type.size() == kGrpc.size() || type[kGrpc.size()] == '+' || type[kGrpc.size()] == ';';
}

SimpleResponse grpc_error_response(std::error_code ec) {
  const int status = default_error_status(ec) == 504 ? kDeadlineExceeded : kUnavailable;
  SimpleResponse res{200, {}, {}};
  res.header.set(boost::beast::http::field::content_type, "application/grpc");
  res.header.set("grpc-status", std::to_string(status));
  res.header.set("grpc-message", percent_encode("sluice: " + ec.message()));
  return res;
}

}  // namespace sluice::detail
