#pragma once
// DNS discovery for the fleet's `dns: NAME:PORT` servers, with c-ares (what curl and gRPC use):
// asynchronous and cancellable, on a thread of its own, never on a request's path.
//
// Each watched name is resolved (A and AAAA) when it is first watched, then again after
// min(the answer's TTL, resolve_every), at least 1 s apart; a failure is tried again after
// resolve_every. A name that stops resolving keeps its last addresses until it resolves again.
// When a name's addresses change, `on_change` runs on the resolver's thread with the new set.
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

struct ares_addrinfo;  // c-ares's, kept out of this header

namespace sluice::app {

struct DnsName {
  std::string host;
  std::uint16_t port = 0;
  std::chrono::nanoseconds resolve_every{std::chrono::seconds(5)};
  bool operator<(const DnsName& o) const { return std::tie(host, port) < std::tie(o.host, o.port); }
};

using Addresses = std::vector<boost::asio::ip::address>;  // sorted, no duplicates

class DnsResolver {
 public:
  using OnChange = std::function<void(const DnsName& name, const Addresses& addresses)>;

  // `servers`: "127.0.0.1:5353,[::1]:53" (the config's resolver.servers); empty: the system's
  // (/etc/resolv.conf). Throws std::runtime_error when c-ares cannot start.
  DnsResolver(std::string servers, OnChange on_change);
  // stop().
  ~DnsResolver();
  // Cancels every query in flight and joins the thread: on_change never runs after it
  // returns. The cache stays readable. Idempotent; not from on_change itself.
  void stop();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // The names to keep resolved (every reload passes the whole set). Names no longer watched
  // are forgotten; new ones are resolved at once.
  void watch(std::vector<DnsName> names);
  // Waits until every watched name has had its first answer (or failure), for up to `limit`.
  bool wait_first_answers(std::chrono::nanoseconds limit);
  // The last addresses of a name; empty if it never resolved.
  Addresses addresses(const std::string& host, std::uint16_t port) const;
  // Lookups finished so far (answers and failures): for tests that wait for a re-resolution.
  std::uint64_t lookups() const;

 private:
  struct Entry {
    DnsName name;
    Addresses addresses;
    bool answered = false;  // the first lookup finished (either way)
    bool in_flight = false;
    std::chrono::steady_clock::time_point due{};  // next lookup
    std::uint64_t generation = 0;                 // which watch() it belongs to
  };
  struct Query;
  static void on_answer(void* arg, int status, int timeouts, ::ares_addrinfo* result);
  void run();
  void start_due_queries();
  void finish(const DnsName& name, std::optional<Addresses> found, int ttl_seconds);
  void wake();

  OnChange on_change_;
  void* channel_ = nullptr;  // ares_channel; the resolver thread's alone after construction
  int wake_fd_ = -1;         // eventfd: watch() and the destructor wake the thread
  mutable std::mutex mutex_;
  std::condition_variable answered_;
  std::map<DnsName, Entry> entries_;
  std::uint64_t generation_ = 0;
  std::uint64_t lookups_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::app
