#include "support/stub_dns.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace sluice::test {

namespace {

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

}  // namespace

StubDns::StubDns() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "bind");
  }
  port_ = ntohs(addr.sin_port);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

StubDns::~StubDns() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
  ::close(fd_);
}

void StubDns::set(const std::string& name, std::vector<std::string> ipv4, std::uint32_t ttl) {
  std::lock_guard lock(mutex_);
  table_[name] = Record{std::move(ipv4), ttl};
}

void StubDns::remove(const std::string& name) {
  std::lock_guard lock(mutex_);
  table_.erase(name);
}

std::uint64_t StubDns::queries(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto it = queries_.find(name);
  return it == queries_.end() ? 0 : it->second;
}

void StubDns::run() {
  for (;;) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if ((fds[1].revents & POLLIN) == 0) continue;
    std::uint8_t buf[512];
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    std::vector<std::uint8_t> reply = answer(buf, static_cast<std::size_t>(n));
    if (reply.empty() || silent_) continue;
    ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

// RFC 1035 §4: the header, the question echoed, A records pointing back at the question's name.
std::vector<std::uint8_t> StubDns::answer(const std::uint8_t* q, std::size_t size) {
  if (size < 12) return {};
  std::size_t i = 12;
  std::string name;
  for (int labels = 0; labels < 64; ++labels) {  // bounded: a name has at most 127 labels
    if (i >= size) return {};
    const std::size_t len = q[i];
    if (len == 0) break;
    if (len > 63 || i + 1 + len > size) return {};
    if (!name.empty()) name += '.';
    for (std::size_t k = 0; k < len; ++k) {
      name += static_cast<char>(std::tolower(q[i + 1 + k]));
    }
    i += 1 + len;
  }
  ++i;  // the root label
  if (i + 4 > size) return {};
  const std::uint16_t qtype = static_cast<std::uint16_t>(q[i] << 8 | q[i + 1]);
  const std::size_t question_end = i + 4;

  std::vector<std::string> addresses;
  std::uint32_t ttl = 0;
  bool known = false;
  {
    std::lock_guard lock(mutex_);
    if (qtype == 1) ++queries_[name];
    if (const auto it = table_.find(name); it != table_.end() && !it->second.ipv4.empty()) {
      known = true;
      ttl = it->second.ttl;
      if (qtype == 1) addresses = it->second.ipv4;
    }
  }
  std::vector<std::uint8_t> out(q, q + 2);                          // the query's id
  put16(out, static_cast<std::uint16_t>(known ? 0x8180 : 0x8183));  // response, RD+RA, rcode
  put16(out, 1);
  put16(out, static_cast<std::uint16_t>(addresses.size()));
  put16(out, 0);
  put16(out, 0);
  out.insert(out.end(), q + 12, q + question_end);
  for (const std::string& ip : addresses) {
    in_addr a{};
    if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) continue;
    put16(out, 0xc00c);  // the name: a pointer to the question's
    put16(out, 1);       // A
    put16(out, 1);       // IN
    put32(out, ttl);
    put16(out, 4);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&a.s_addr);
    out.insert(out.end(), bytes, bytes + 4);
  }
  return out;
}

}  // namespace sluice::test
