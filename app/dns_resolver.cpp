#include "dns_resolver.hpp"

#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace sluice::app {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Answers with a TTL of 0 must not turn into a lookup loop.
constexpr auto kMinRefresh = 1s;

ares_channel as_channel(void* p) { return static_cast<ares_channel>(p); }

Addresses addresses_of(const ares_addrinfo* result, int& min_ttl) {
  Addresses found;
  min_ttl = -1;
  for (const ares_addrinfo_node* n = result ? result->nodes : nullptr; n; n = n->ai_next) {
    if (n->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
      boost::asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &sin->sin_addr, bytes.size());
      found.push_back(boost::asio::ip::address_v4(bytes));
    } else if (n->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
      found.push_back(boost::asio::ip::address_v6(bytes));
    } else {
      continue;
    }
    if (min_ttl < 0 || n->ai_ttl < min_ttl) min_ttl = n->ai_ttl;
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

}  // namespace

struct DnsResolver::Query {
  DnsResolver* self;
  DnsName name;
};

DnsResolver::DnsResolver(std::string servers, OnChange on_change)
    : on_change_(std::move(on_change)) {
  static std::once_flag library;
  std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options options{};
  options.timeout = 2000;  // per try, in ms
  options.tries = 2;
  ares_channel channel = nullptr;
  if (const int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
      rc != ARES_SUCCESS) {
    throw std::runtime_error(std::string("DNS resolver: ") + ares_strerror(rc));
  }
  channel_ = channel;
  if (!servers.empty()) {
    if (const int rc = ares_set_servers_ports_csv(channel, servers.c_str()); rc != ARES_SUCCESS) {
      ares_destroy(channel);
      throw std::runtime_error("DNS resolver servers \"" + servers + "\": " + ares_strerror(rc));
    }
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    ares_destroy(channel);
    throw std::runtime_error("DNS resolver: eventfd failed");
  }
  thread_ = std::thread([this] { run(); });
}

DnsResolver::~DnsResolver() {
  stop();
  ::close(wake_fd_);
}

void DnsResolver::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
}

void DnsResolver::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void DnsResolver::watch(std::vector<DnsName> names) {
  {
    std::lock_guard lock(mutex_);
    std::map<DnsName, Entry> next;
    for (DnsName& name : names) {
      auto kept = entries_.find(name);
      Entry entry;
      if (kept != entries_.end()) entry = std::move(kept->second);
      entry.name = name;  // resolve_every may have changed
      next.emplace(std::move(name), std::move(entry));
    }
    entries_ = std::move(next);
  }
  wake();
}

bool DnsResolver::wait_first_answers(std::chrono::nanoseconds limit) {
  std::unique_lock lock(mutex_);
  return answered_.wait_for(lock, limit, [&] {
    return std::all_of(entries_.begin(), entries_.end(),
                       [](const auto& e) { return e.second.answered; });
  });
}

Addresses DnsResolver::addresses(const std::string& host, std::uint16_t port) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(DnsName{host, port, {}});
  return it == entries_.end() ? Addresses{} : it->second.addresses;
}

std::uint64_t DnsResolver::lookups() const {
  std::lock_guard lock(mutex_);
  return lookups_;
}

void DnsResolver::start_due_queries() {
  std::vector<DnsName> due;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (auto& [key, entry] : entries_) {
      if (entry.in_flight || entry.due > now) continue;
      entry.in_flight = true;
      due.push_back(entry.name);
    }
  }
  // Outside the lock: c-ares may call back at once (a name from /etc/hosts, a bad name).
  for (DnsName& name : due) {
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    auto* query = new Query{this, std::move(name)};
    ares_getaddrinfo(as_channel(channel_), query->name.host.c_str(), nullptr, &hints, &on_answer,
                     query);
  }
}

void DnsResolver::on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  std::unique_ptr<Query> query(static_cast<Query*>(arg));
  std::optional<Addresses> found;
  int ttl = 0;
  if (status == ARES_SUCCESS) {
    Addresses addrs = addresses_of(result, ttl);
    if (!addrs.empty()) found = std::move(addrs);
  }
  if (result) ares_freeaddrinfo(result);
  if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) return;
  query->self->finish(query->name, std::move(found), ttl);
}

void DnsResolver::finish(const DnsName& name, std::optional<Addresses> found, int ttl_seconds) {
  bool changed = false;
  DnsName watched;
  Addresses now_known;
  {
    std::lock_guard lock(mutex_);
    ++lookups_;
    const auto it = entries_.find(name);
    if (it == entries_.end()) return;  // no longer watched
    Entry& e = it->second;
    e.in_flight = false;
    e.answered = true;
    const auto now = Clock::now();
    if (found) {
      changed = *found != e.addresses;
      e.addresses = std::move(*found);
      const auto ttl = std::chrono::seconds(std::max(ttl_seconds, 0));
      e.due = now + std::clamp<std::chrono::nanoseconds>(
                        ttl, kMinRefresh,
                        std::max<std::chrono::nanoseconds>(e.name.resolve_every, kMinRefresh));
    } else {
      e.due = now + std::max<std::chrono::nanoseconds>(e.name.resolve_every, kMinRefresh);
    }
    watched = e.name;
    now_known = e.addresses;
  }
  answered_.notify_all();
  if (changed && on_change_) on_change_(watched, now_known);
}

void DnsResolver::run() {
  ares_channel channel = as_channel(channel_);
  for (;;) {
    std::chrono::nanoseconds until_due = 1h;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    start_due_queries();
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      for (const auto& [key, e] : entries_) {
        if (!e.in_flight) until_due = std::min<std::chrono::nanoseconds>(until_due, e.due - now);
      }
    }
    timeval limit{};
    limit.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(until_due).count();
    limit.tv_usec = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(until_due % 1s).count());
    if (until_due.count() < 0) limit = timeval{};
    timeval wait{};
    const timeval* next = ares_timeout(channel, &limit, &wait);
    const int timeout_ms = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);

    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
    const int bits = ares_getsock(channel, socks.data(), ARES_GETSOCK_MAXNUM);
    std::array<pollfd, ARES_GETSOCK_MAXNUM + 1> fds{};
    nfds_t n = 0;
    fds[n++] = pollfd{wake_fd_, POLLIN, 0};
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = pollfd{socks[static_cast<std::size_t>(i)], events, 0};
    }
    const int ready = ::poll(fds.data(), n, std::max(timeout_ms, 0));
    if (ready < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      std::uint64_t drained = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &drained, sizeof drained);
    }
    bool processed = false;
    for (nfds_t i = 1; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (fds[i].revents & POLLOUT) != 0;
      ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
      processed = true;
    }
    if (!processed) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
  ares_cancel(channel);  // every query's callback runs now, with ARES_ECANCELLED
  ares_destroy(channel);
}

}  // namespace sluice::app
