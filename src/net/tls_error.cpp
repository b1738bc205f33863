#include "net/tls_error.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstring>

namespace sluice {

namespace {

// Boost's error_category has a protected, non-virtual destructor by design (categories are
// never deleted through it); the categories here are static objects.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice.tls"; }
  std::string message(int value) const override {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(value));
    return std::string("TLS: ") + (reason ? reason : "error " + std::to_string(value));
  }
};

class VerifyCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice.x509"; }
  std::string message(int value) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(value);
  }
};

#pragma GCC diagnostic pop

const TlsCategory tls_category;
const VerifyCategory verify_category;

}  // namespace

void clear_tls_errors() { ERR_clear_error(); }

boost::system::error_code tls_error_from_queue() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return {static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, 0)), tls_category};
  // OpenSSL 3 packs library and reason in 31 bits (system errors carry ERR_SYSTEM_FLAG, the
  // errno in the low bits): an int holds it, as in Asio's own SSL category.
  if (ERR_SYSTEM_ERROR(e)) {
    return {static_cast<int>(ERR_GET_REASON(e)), boost::system::system_category()};
  }
  return {static_cast<int>(e), tls_category};
}

boost::system::error_code certificate_verify_error(long x509_result) {
  return {static_cast<int>(x509_result), verify_category};
}

bool is_tls_error(boost::system::error_code ec) {
  return ec.category() == tls_category || ec.category() == verify_category;
}

std::string describe_tls_failure(const std::string& what) {
  // The oldest error is the most specific ("No such file or directory", "no start line"); the
  // later ones only say which call gave up ("system lib", "PEM lib").
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return what + ": unusable";
  if (ERR_SYSTEM_ERROR(e)) return what + ": " + std::strerror(ERR_GET_REASON(e));
  const char* reason = ERR_reason_error_string(e);
  const char* lib = ERR_lib_error_string(e);
  std::string out = what + ": " + (reason ? reason : "error " + std::to_string(e));
  if (lib) out += std::string(" (") + lib + ")";
  return out;
}

}  // namespace sluice
