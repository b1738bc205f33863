#pragma once
// A throw-away PKI made at test time with OpenSSL 3's C API: a CA (EC P-256, fast to make) and
// leaf certificates it signs for the DNS names and IP addresses a test asks for, plus
// self-signed leaves that chain to nothing. Everything is written as PEM into a fresh directory
// under /tmp (mkdtemp), removed with its contents by the destructor; nothing is committed.
//
//   TestPki pki;
//   auto leaf = pki.issue({"localhost", "127.0.0.1"});
//   ServerTls::load({{leaf.cert_path, leaf.key_path}});  // a client trusts pki.ca_path()
//
// A leaf from another TestPki is "issued by an unknown CA" to whoever trusts only this one's.
#include <openssl/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

struct IssuedCert {
  std::string cert_path;  // PEM: the leaf alone (its CA is what the peer trusts)
  std::string key_path;   // PEM: PKCS#8 private key
  std::string cert_pem;
  std::string key_pem;
  std::vector<std::string> names;  // as given: DNS names and IP addresses
};

class TestPki {
 public:
  // Makes the directory and the CA ("sluice test CA <n>"). Throws std::runtime_error with
  // OpenSSL's reason when something fails.
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // A leaf signed by this CA: subjectAltName holds each of `names` (an IP address when it parses
  // as one, else a DNS name, "*.example.test" included); CN is the first name. Written as
  // <stem>.crt / <stem>.key; an empty stem picks a fresh one, an existing stem overwrites its
  // files (how a test replaces the certificate a server reloads).
  IssuedCert issue(const std::vector<std::string>& names, std::string_view stem = "");
  // A self-signed leaf (CA:FALSE) for `names`: verifies against nothing.
  IssuedCert self_signed(const std::vector<std::string>& names, std::string_view stem = "");

  const std::string& ca_path() const { return ca_path_; }
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& dir() const { return dir_; }
  // dir() + "/" + name.
  std::string path(std::string_view name) const;
  // Writes `contents` to path(name) (replacing it) and returns that path.
  std::string write_file(std::string_view name, std::string_view contents) const;

 private:
  IssuedCert make_leaf(const std::vector<std::string>& names, std::string_view stem,
                       bool self_signed);

  std::string dir_;
  std::string ca_path_;
  std::string ca_pem_;
  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_cert_ = nullptr;
  unsigned next_ = 0;
};

}  // namespace sluice::test
