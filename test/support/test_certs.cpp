#include "support/test_certs.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace sluice::test {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;

[[noreturn]] void fail(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  std::string message = "TestPki: " + what;
  if (e != 0) {
    char reason[256];
    ERR_error_string_n(e, reason, sizeof reason);
    message += ": ";
    message += reason;
  }
  throw std::runtime_error(message);
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

Pkey new_key() {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) fail("EC P-256 key generation");
  return key;
}

bool is_ip(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// One extension from its openssl.cnf-style value, e.g. "critical,CA:TRUE".
void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) fail("extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "X509_add_ext");
}

// A certificate for `key` with subject CN=`cn`, signed by `issuer_key` (issuer name from
// `issuer`, or the certificate itself when issuer is null: self-signed).
Cert make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               const std::vector<std::string>& names) {
  Cert cert(X509_new());
  if (!cert) fail("X509_new");
  X509* x = cert.get();
  check(X509_set_version(x, X509_VERSION_3), "X509_set_version");
  std::uint64_t serial = 0;
  check(RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial), "RAND_bytes");
  serial &= 0x7fffffffffffffffULL;  // positive
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial | 1), "serial");
  // Valid from an hour ago (clock skew) for two days.
  if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == nullptr) fail("notBefore");
  if (X509_gmtime_adj(X509_getm_notAfter(x), 2 * 24 * 3600) == nullptr) fail("notAfter");
  check(X509_set_pubkey(x, key), "X509_set_pubkey");
  X509_NAME* subject = X509_get_subject_name(x);
  check(
      X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("sluice tests"), -1, -1, 0),
      "subject O");
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "subject CN");
  check(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject),
        "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  if (ca) {
    add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    add_extension(x, &ctx, NID_subject_key_identifier, "hash");
  } else {
    add_extension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(x, &ctx, NID_key_usage, "critical,digitalSignature");
    add_extension(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    add_extension(x, &ctx, NID_subject_key_identifier, "hash");
    if (issuer) add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always");
    std::string san;
    for (const auto& name : names) {
      if (!san.empty()) san += ",";
      san += (is_ip(name) ? "IP:" : "DNS:") + name;
    }
    if (!san.empty()) add_extension(x, &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) fail("X509_sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string cert_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio) fail("BIO_new");
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio) fail("BIO_new");
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

std::atomic<unsigned> pki_count{0};

}  // namespace

TestPki::TestPki() {
  char tmpl[] = "/tmp/sluice-tls-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "TestPki: mkdtemp");
  }
  dir_ = tmpl;
  try {
    Pkey key = new_key();
    Cert cert = make_cert(key.get(), "sluice test CA " + std::to_string(++pki_count), nullptr,
                          key.get(), true, {});
    ca_pem_ = cert_pem(cert.get());
    ca_path_ = write_file("ca.crt", ca_pem_);
    ca_key_ = key.release();
    ca_cert_ = cert.release();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

TestPki::~TestPki() {
  EVP_PKEY_free(ca_key_);
  X509_free(ca_cert_);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestPki::path(std::string_view name) const { return dir_ + "/" + std::string(name); }

std::string TestPki::write_file(std::string_view name, std::string_view contents) const {
  const std::string p = path(name);
  // Written beside, then renamed over: a reader never sees half a file.
  const std::string tmp = p + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) throw std::runtime_error("TestPki: cannot write " + tmp);
  }
  std::filesystem::rename(tmp, p);
  return p;
}

IssuedCert TestPki::issue(const std::vector<std::string>& names, std::string_view stem) {
  return make_leaf(names, stem, false);
}

IssuedCert TestPki::self_signed(const std::vector<std::string>& names, std::string_view stem) {
  return make_leaf(names, stem, true);
}

IssuedCert TestPki::make_leaf(const std::vector<std::string>& names, std::string_view stem,
                              bool self) {
  if (names.empty()) throw std::invalid_argument("TestPki: a leaf needs at least one name");
  const std::string base = stem.empty() ? "leaf" + std::to_string(next_++) : std::string(stem);
  Pkey key = new_key();
  Cert cert = self ? make_cert(key.get(), names.front(), nullptr, key.get(), false, names)
                   : make_cert(key.get(), names.front(), ca_cert_, ca_key_, false, names);
  IssuedCert out;
  out.cert_pem = cert_pem(cert.get());
  out.key_pem = key_pem(key.get());
  out.cert_path = write_file(base + ".crt", out.cert_pem);
  out.key_path = write_file(base + ".key", out.key_pem);
  out.names = names;
  return out;
}

}  // namespace sluice::test
