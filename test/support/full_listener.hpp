#pragma once
// A listener whose accept queue is full: Linux drops further SYNs (LISTENOVERFLOWS), so a
// connect to it hangs in SYN retransmission instead of failing, on loopback. Tests use it to make
// an upstream connect hang (connect timeout, client leaving while sluice connects).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace sluice::test {

class FullListener {
 public:
  FullListener() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 0) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    // Backlog 0 holds one established connection; this one fills the queue.
    filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (filler_fd_ < 0 ||
        ::connect(filler_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      port_ = 0;
    }
  }
  ~FullListener() {
    if (filler_fd_ >= 0) ::close(filler_fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  FullListener(const FullListener&) = delete;
  FullListener& operator=(const FullListener&) = delete;

  // True when the kernel reports the accept queue over its limit (TCP_INFO on a listener:
  // tcpi_unacked = queued connections, tcpi_sacked = the backlog). Tests skip themselves when
  // it is false: the kernel then does not let a loopback connect hang.
  bool queue_full() const {
    if (port_ == 0) return false;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(listen_fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
    return info.tcpi_unacked > info.tcpi_sacked;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int listen_fd_ = -1;
  int filler_fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace sluice::test
