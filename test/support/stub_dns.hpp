#pragma once
// A DNS server for tests on 127.0.0.1:<ephemeral> UDP: answers A queries from a table the test
// edits while it runs (names, addresses, TTL), NXDOMAIN for names not in it, and nothing at all
// when told to stay silent. Plain POSIX sockets and a thread, no DNS library: it shares no code
// with the resolver under test. AAAA and other types get an empty answer (NOERROR, no records).
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

class StubDns {
 public:
  StubDns();
  ~StubDns();  // stops and joins
  StubDns(const StubDns&) = delete;
  StubDns& operator=(const StubDns&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // `name` answers with these IPv4 addresses and TTL (seconds); an empty list is NXDOMAIN.
  void set(const std::string& name, std::vector<std::string> ipv4, std::uint32_t ttl = 1);
  void remove(const std::string& name);   // NXDOMAIN from now on
  void silent(bool on) { silent_ = on; }  // drop every query (a resolver that does not answer)
  // A queries received for `name` so far (answered or not).
  std::uint64_t queries(const std::string& name) const;

 private:
  void run();
  std::vector<std::uint8_t> answer(const std::uint8_t* query, std::size_t size);

  int fd_ = -1;
  int stop_fd_ = -1;  // eventfd
  std::uint16_t port_ = 0;
  std::atomic<bool> silent_{false};
  struct Record {
    std::vector<std::string> ipv4;
    std::uint32_t ttl = 1;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Record> table_;
  std::map<std::string, std::uint64_t> queries_;
  std::thread thread_;
};

}  // namespace sluice::test
