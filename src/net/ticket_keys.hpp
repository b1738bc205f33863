#pragma once
// The keys that encrypt TLS session tickets (RFC 5077; TLS 1.3 resumption tickets too). One
// ring per listener, kept across certificate reloads, so that a ticket issued before a reload
// still resumes after it. The newest key encrypts; it is replaced after `lifetime`, and the one
// before it still decrypts for as long again (a client that resumes with it gets a new ticket).
// Keys are random and live in memory only: a restart means full handshakes, as with nginx's
// default.
#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <deque>
#include <mutex>

namespace sluice {

class TicketKeyRing {
 public:
  explicit TicketKeyRing(std::chrono::seconds lifetime);
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // The two halves of OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb).
  // encrypt: 1 (name and iv filled, contexts keyed) or -1. decrypt: 0 unknown key (full
  // handshake), 1 current key, 2 an older one (issue a new ticket), -1 on failure.
  int encrypt(unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac);
  int decrypt(const unsigned char name[16], const unsigned char iv[16], EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac);

 private:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
    std::chrono::steady_clock::time_point created;
  };
  void rotate_if_due();  // mu_ held
  static bool key_mac(EVP_MAC_CTX* mac, const Key& key);

  std::chrono::seconds lifetime_;
  std::mutex mu_;         // handshakes on every worker thread use the ring
  std::deque<Key> keys_;  // newest first; at most two
};

}  // namespace sluice
