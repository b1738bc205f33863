#include "net/certificate_names.hpp"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

namespace sluice {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::vector<std::string> certificate_dns_names(X509* cert) {
  std::vector<std::string> names;
  if (cert == nullptr) return names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const auto* data = ASN1_STRING_get0_data(gn->d.dNSName);
      const int len = ASN1_STRING_length(gn->d.dNSName);
      names.push_back(lower({reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    const int len =
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (len > 0) names.push_back(lower({cn, static_cast<std::size_t>(len)}));
  }
  return names;
}

bool name_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (pattern.starts_with("*.")) {
    const std::size_t dot = host.find('.');
    // "*.example.com" matches "a.example.com", never "example.com" or "a.b.example.com".
    return dot != std::string_view::npos && dot > 0 && iequal(pattern.substr(1), host.substr(dot));
  }
  return iequal(pattern, host);
}

std::optional<std::string> parse_server_name_extension(const unsigned char* data, std::size_t len) {
  if (len < 2) return std::nullopt;
  const std::size_t list_len = (std::size_t{data[0]} << 8) | data[1];
  if (list_len + 2 != len) return std::nullopt;
  std::size_t at = 2;
  // Each entry is type(1) length(2) name; the list's own length bounds the loop.
  while (at + 3 <= len) {
    const unsigned type = data[at];
    const std::size_t name_len = (std::size_t{data[at + 1]} << 8) | data[at + 2];
    at += 3;
    if (at + name_len > len) return std::nullopt;
    if (type == 0) {  // host_name
      if (name_len == 0 || name_len > 255) return std::nullopt;
      return std::string(reinterpret_cast<const char*>(data + at), name_len);
    }
    at += name_len;
  }
  return std::nullopt;
}

}  // namespace sluice
