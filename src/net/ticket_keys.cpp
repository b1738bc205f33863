#include "net/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace sluice {

TicketKeyRing::TicketKeyRing(std::chrono::seconds lifetime) : lifetime_(lifetime) {
  std::lock_guard lock(mu_);
  rotate_if_due();
}

TicketKeyRing::~TicketKeyRing() {
  for (auto& k : keys_)
    OPENSSL_cleanse(&k, sizeof k);
}

void TicketKeyRing::rotate_if_due() {
  const auto now = std::chrono::steady_clock::now();
  if (!keys_.empty() && now - keys_.front().created < lifetime_) return;
  Key k{};
  if (RAND_bytes(k.name.data(), k.name.size()) != 1 ||
      RAND_bytes(k.aes.data(), k.aes.size()) != 1 ||
      RAND_bytes(k.hmac.data(), k.hmac.size()) != 1) {
    return;  // no new key: the current one goes on (or tickets are not issued at all)
  }
  k.created = now;
  keys_.push_front(k);
  while (keys_.size() > 2) {
    OPENSSL_cleanse(&keys_.back(), sizeof(Key));
    keys_.pop_back();
  }
}

bool TicketKeyRing::key_mac(EVP_MAC_CTX* mac, const Key& key) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac.data()), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

int TicketKeyRing::encrypt(unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* cipher,
                           EVP_MAC_CTX* mac) {
  std::lock_guard lock(mu_);
  rotate_if_due();
  if (keys_.empty()) return -1;
  const Key& k = keys_.front();
  if (RAND_bytes(iv, 16) != 1) return -1;
  std::memcpy(name, k.name.data(), 16);
  if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1) return -1;
  return key_mac(mac, k) ? 1 : -1;
}

int TicketKeyRing::decrypt(const unsigned char name[16], const unsigned char iv[16],
                           EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const Key& k = keys_[i];
    if (std::memcmp(name, k.name.data(), 16) != 0) continue;
    if (std::chrono::steady_clock::now() - k.created >= 2 * lifetime_) return 0;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1) return -1;
    if (!key_mac(mac, k)) return -1;
    return i == 0 ? 1 : 2;
  }
  return 0;
}

}  // namespace sluice
