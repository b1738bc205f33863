#pragma once
// The keep-alive connections of one worker that wait for their next request (SPEC R25, L7), and
// the one timer that closes them when idle_timeout has passed. An idle connection arms nothing
// of its own but a readiness wait on its socket, so it costs little more than the socket: no
// timer, no race of waits, no read buffer. All share one timeout, so the list, kept in the
// order they went idle, is also their expiry order and the timer only watches its head.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <list>
#include <optional>

#include "server/session_io.hpp"

namespace sluice::detail {

class IdleSessions {
 public:
  IdleSessions(boost::asio::any_io_executor executor, std::chrono::nanoseconds timeout);
  IdleSessions(const IdleSessions&) = delete;
  IdleSessions& operator=(const IdleSessions&) = delete;

  // `io` starts waiting; when the timeout passes first, its socket's wait is cancelled with
  // io.idle_expired set.
  void enter(SessionIo& io);
  // `io` stopped waiting (idempotent).
  void leave(SessionIo& io);
  // The worker's io_context is about to be destroyed: drop the timer (it must not outlive its
  // context). The list stays usable: session frames destroyed with the context leave it.
  void close();

 private:
  void arm();
  void expire();

  std::list<SessionIo*> waiting_;
  std::optional<boost::asio::steady_timer> timer_;
  bool armed_ = false;
  std::chrono::nanoseconds timeout_;
};

// Enters on construction, leaves on destruction: also when a session frame is destroyed while
// it waits (the server stopped).
class IdleEntry {
 public:
  IdleEntry(IdleSessions& sessions, SessionIo& io) : sessions_(sessions), io_(io) {
    sessions_.enter(io_);
  }
  ~IdleEntry() { sessions_.leave(io_); }
  IdleEntry(const IdleEntry&) = delete;
  IdleEntry& operator=(const IdleEntry&) = delete;

 private:
  IdleSessions& sessions_;
  SessionIo& io_;
};

}  // namespace sluice::detail
