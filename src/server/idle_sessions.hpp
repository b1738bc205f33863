#pragma once
// The keep-alive connections of one worker that wait for their next request (SPEC R25, L7).
// A connection first waits inside its session (a readiness wait, nothing else armed), which
// keeps a busy client's next request cheap. After kParkAfter without a byte it is parked: its
// session coroutine ends, and what is left of a TCP connection is its bare descriptor, watched
// by the worker's ParkedDescriptors (one epoll instance for all of them), its address and a
// list entry: no coroutine frame, timer, buffer or parser, and no Asio socket or wait of its
// own. (Any other stream, a TLS keep-alive connection's with its SSL state or a test's, keeps
// one readiness wait.) When bytes arrive a new session
// starts on the socket; when idle_timeout passes, or the server stops, the connection closes.
//
// A new connection is parked the same way from its accept until its first byte (park_fresh,
// given the descriptor accept4() returned: it never joins Asio's reactor until then):
// a client that connects and sends nothing holds no session either (a slow-loris lever
// otherwise: a session frame and its buffers each). Its first bytes, or header_timeout since
// the accept, start its session, whose first head (or TLS handshake) keeps the accept's
// deadline: a silent client still gets its 408 from the session, as before.
//
// All connections share one idle_timeout, one header_timeout and one kParkAfter, so each list,
// kept in the order connections entered it, is also its deadline order, and one timer watching
// the oldest of each serves them all.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>

#include "net/byte_stream.hpp"
#include "net/tcp_stream.hpp"
#include "server/parked_descriptors.hpp"

namespace sluice::detail {

struct SessionEnv;
struct SessionIo;

// How long a keep-alive connection waits in its session before it is parked. Short: a client
// that sends its next request within it (a busy one) never pays for parking (about 6 us per
// resumed request: a new session, and the descriptor's way back into Asio's reactor), and
// connections that arrive in a burst do not all hold a session frame (~2 KiB) at once. With
// 10 ms, 5,000 idle connections measured 0.15 KiB each (bench/idleconns.py).
inline constexpr std::chrono::milliseconds kParkAfter{10};

class IdleSessions {
 public:
  IdleSessions(boost::asio::any_io_executor executor, std::chrono::nanoseconds timeout,
               std::chrono::nanoseconds header_timeout);
  IdleSessions(const IdleSessions&) = delete;
  IdleSessions& operator=(const IdleSessions&) = delete;

  // The worker's session environment, set once before any connection is parked.
  void attach(SessionEnv& env) { env_ = &env; }
  // A session starts / stops waiting for its next request (leave is idempotent). When the
  // wait is cancelled, io.park_requested or io.idle_expired says why.
  void enter(SessionIo& io);
  void leave(SessionIo& io);
  // Takes over a connection (and its place in the session count, SPEC L2) until its next
  // request's first bytes arrive.
  // `since`: when it went idle, so that idle_timeout counts from then.
  void park(std::unique_ptr<ByteStream> stream, boost::asio::ip::tcp::endpoint remote,
            std::chrono::steady_clock::time_point since);
  // Takes a new connection (its non-blocking descriptor, now owned here), counted as a
  // session from now (SPEC L2), until its first bytes arrive or header_timeout passes since
  // `accepted`; then its session starts, over TLS on a TLS listener.
  void park_fresh(int fd, boost::asio::ip::tcp::endpoint remote,
                  std::chrono::steady_clock::time_point accepted);
  // Graceful stop or forced stop: every parked connection closes.
  void close_all();
  // The io_context is about to be destroyed: the timer and the sockets must go before it.
  void close();
  // Connections parked right now, new ones waiting for their first byte included
  // (Server::parked_sessions). Any thread may read it.
  std::int64_t parked_count() const { return parked_count_.load(); }

 private:
  // A TCP connection is kept as its bare descriptor: an Asio socket per parked connection
  // (its reactor state and executor) and a wait operation each cost about 0.25 KiB of RSS
  // (measured over 5,000, docs/benchmarks.md), which is what parking is meant to save.
  struct Parked {
    int fd = -1;                        // a TCP connection, watched by bare_
    std::unique_ptr<ByteStream> other;  // any other stream, with its own readiness wait
    boost::asio::ip::tcp::endpoint remote;
    std::chrono::steady_clock::time_point since;
    std::list<Parked>* home = nullptr;  // parked_ or fresh_
    std::list<Parked>::iterator self;   // where it is, for bare_'s tag
    bool closing = false;               // timed out or stopped: the wait was cancelled
    bool expired = false;  // a new connection past header_timeout: its session answers it
    bool bare() const { return fd >= 0; }
    ByteStream& stream() { return *other; }
  };
  using Iter = std::list<Parked>::iterator;

  // A new entry at the end of `list` (counted as parked).
  Iter add_entry(std::list<Parked>& list, boost::asio::ip::tcp::endpoint remote,
                 std::chrono::steady_clock::time_point since);
  // `fd` joins bare_ for `it`; false: the kernel would not watch it (closed, erased).
  bool watch_bare(Iter it, int fd);
  void wake(Iter it, boost::system::error_code ec);
  void wake_fresh(Iter it, boost::system::error_code ec);
  // Keeps `stream` in `list`: bare (a TcpStream, when bare_ can), or with one readiness wait
  // that calls `on_ready`.
  template <typename OnReady>
  void keep(std::list<Parked>& list, std::unique_ptr<ByteStream> stream,
            boost::asio::ip::tcp::endpoint remote, std::chrono::steady_clock::time_point since,
            OnReady on_ready);
  bool can_go_bare() const { return bare_ && bare_->usable(); }
  // A bare connection back as an Asio socket of this worker (nullopt: the reactor refused it,
  // and the descriptor is closed).
  std::optional<boost::asio::ip::tcp::socket> adopt(Parked& p);
  // The stream a session takes over: the entry's own, or its bare descriptor adopted back (a
  // new connection's through client_stream()); nullptr when that failed (closed).
  std::unique_ptr<ByteStream> take_stream(Parked& p);
  // A bare connection closes now (half-closed first when `graceful`) and leaves its list.
  void discard(Iter it, bool graceful);
  // One wait on bare_ while any bare connection is parked; its wake serves every ready one.
  void arm_bare();
  void wake_bare();
  void arm();
  void expire();

  SessionEnv* env_ = nullptr;
  boost::asio::any_io_executor executor_;
  std::optional<ParkedDescriptors> bare_;
  std::size_t bare_count_ = 0;  // bare connections in parked_ and fresh_
  bool bare_armed_ = false;
  std::list<SessionIo*> waiting_;
  std::list<Parked> parked_;
  std::list<Parked> fresh_;  // new connections before their first byte
  // parked_.size() + fresh_.size(), kept for readers on other threads: +1 when a connection is
  // parked, -1 when it leaves its list (woken: resumed, expired, stopped or failed; or dropped
  // by close()).
  std::atomic<std::int64_t> parked_count_{0};
  std::optional<boost::asio::steady_timer> timer_;
  bool armed_ = false;
  bool closed_all_ = false;  // the stop sequence ran: nothing parks any more
  std::chrono::steady_clock::time_point armed_until_{};
  std::chrono::nanoseconds timeout_;
  std::chrono::nanoseconds header_timeout_;
};

}  // namespace sluice::detail

namespace sluice::detail {

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
