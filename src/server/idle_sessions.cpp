#include "server/idle_sessions.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "server/session.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

IdleSessions::IdleSessions(asio::any_io_executor executor, std::chrono::nanoseconds timeout,
                           std::chrono::nanoseconds header_timeout)
    : executor_(executor), timeout_(timeout), header_timeout_(header_timeout) {
  bare_.emplace(executor);
  timer_.emplace(std::move(executor));
}

void IdleSessions::enter(SessionIo& io) {
  io.idle_since = Clock::now();
  io.idle_expired = false;
  io.park_requested = false;
  io.idle_pos = waiting_.insert(waiting_.end(), &io);
  io.in_idle_list = true;
  arm();
}

void IdleSessions::leave(SessionIo& io) {
  if (!io.in_idle_list) return;
  waiting_.erase(io.idle_pos);
  io.in_idle_list = false;
  // A timer armed for a session that left fires early, finds nothing due and re-arms.
}

void IdleSessions::park(std::unique_ptr<ByteStream> stream, asio::ip::tcp::endpoint remote,
                        Clock::time_point since) {
  if (closed_all_) {
    // The server is stopping: a session that finished its response after the stop sequence
    // ran (it had just been resumed) closes instead of parking.
    stream->shutdown_write();
    stream->close();
    env_->on_session_count(-1);
    return;
  }
  keep(parked_, std::move(stream), remote, since,
       [this](Iter it, boost::system::error_code ec) { wake(it, ec); });
}

void IdleSessions::park_fresh(int fd, asio::ip::tcp::endpoint remote, Clock::time_point accepted) {
  env_->on_session_count(+1);
  if (closed_all_) {  // the server is stopping: nothing new is served
    ::close(fd);
    env_->on_session_count(-1);
    return;
  }
  if (can_go_bare()) {
    watch_bare(add_entry(fresh_, remote, accepted), fd);
    return;
  }
  // No epoll instance of our own: an Asio socket with its own wait.
  asio::ip::tcp::socket socket(executor_);
  boost::system::error_code ec;
  socket.assign(remote.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    env_->on_session_count(-1);
    return;
  }
  keep(fresh_, std::make_unique<TcpStream>(std::move(socket)), remote, accepted,
       [this](Iter it, boost::system::error_code wec) { wake_fresh(it, wec); });
}

IdleSessions::Iter IdleSessions::add_entry(std::list<Parked>& list, asio::ip::tcp::endpoint remote,
                                           Clock::time_point since) {
  Parked& parked = list.emplace_back();
  const Iter it = std::prev(list.end());
  parked.self = it;
  parked.home = &list;
  parked.remote = remote;
  parked.since = since;
  ++parked_count_;
  return it;
}

bool IdleSessions::watch_bare(Iter it, int fd) {
  it->fd = fd;
  ++bare_count_;
  if (!bare_->watch(fd, &*it)) {
    discard(it, /*graceful=*/false);  // the kernel had no room to watch it
    return false;
  }
  arm_bare();
  arm();
  return true;
}

template <typename OnReady>
void IdleSessions::keep(std::list<Parked>& list, std::unique_ptr<ByteStream> stream,
                        asio::ip::tcp::endpoint remote, Clock::time_point since, OnReady on_ready) {
  const Iter it = add_entry(list, remote, since);
  if (auto* tcp = dynamic_cast<TcpStream*>(stream.get()); tcp && can_go_bare()) {
    boost::system::error_code ec;
    const int fd = tcp->socket().release(ec);  // out of Asio's reactor: no socket, no wait
    if (!ec) {
      watch_bare(it, fd);
      return;
    }
  }
  it->other = std::move(stream);
  // The handler runs on this worker's thread; if the io_context is destroyed first, it is
  // destroyed without running (close() has then already closed the stream).
  auto handler = [it, on_ready](boost::system::error_code ec) { on_ready(it, ec); };
  it->other->async_wait(ByteStream::Ready::read, std::move(handler));
  arm();
}

std::optional<asio::ip::tcp::socket> IdleSessions::adopt(Parked& p) {
  asio::ip::tcp::socket socket(executor_);
  boost::system::error_code ec;
  socket.assign(p.remote.protocol(), p.fd, ec);
  --bare_count_;
  if (ec) ::close(p.fd);
  p.fd = -1;
  if (ec) return std::nullopt;
  return socket;
}

std::unique_ptr<ByteStream> IdleSessions::take_stream(Parked& p) {
  if (!p.bare()) return std::move(p.other);
  auto socket = adopt(p);
  if (!socket) return nullptr;
  // A new connection's first bytes: over TLS on a TLS listener. A keep-alive one parked bare
  // was plain TCP (a TLS one keeps its stream).
  if (p.home == &fresh_) return client_stream(std::move(*socket), env_->options);
  return std::make_unique<TcpStream>(std::move(*socket));
}

void IdleSessions::discard(Iter it, bool graceful) {
  bare_->forget(it->fd);
  if (graceful) ::shutdown(it->fd, SHUT_WR);
  ::close(it->fd);
  --bare_count_;
  --parked_count_;
  it->home->erase(it);
  env_->on_session_count(-1);
}

void IdleSessions::arm_bare() {
  if (bare_armed_ || bare_count_ == 0) return;
  bare_armed_ = true;
  // As the timer's: destroyed without running if the io_context goes first.
  bare_->async_wait([this](boost::system::error_code ec) {
    bare_armed_ = false;
    if (ec || !bare_) return;  // close(): nothing is watched any more
    wake_bare();
    arm_bare();
  });
}

void IdleSessions::wake_bare() {
  // Bounded by the batch; each woken connection leaves bare_ before its session starts.
  for (void* tag : bare_->take_ready()) {
    Parked& p = *static_cast<Parked*>(tag);
    bare_->forget(p.fd);
    if (p.home == &fresh_) {
      wake_fresh(p.self, {});
    } else {
      wake(p.self, {});
    }
  }
}

void IdleSessions::wake(Iter it, boost::system::error_code ec) {
  --parked_count_;
  if (!it->bare() && (ec || it->closing)) {
    // Timed out, stopped, or the socket failed: a graceful close, as a session would.
    it->stream().shutdown_write();
    it->stream().close();
    parked_.erase(it);
    env_->on_session_count(-1);
    return;
  }
  // Bytes (or the client's close) arrived: a session takes the connection, and its count.
  std::unique_ptr<ByteStream> stream = take_stream(*it);
  const auto remote = it->remote;
  parked_.erase(it);
  if (!stream) {
    env_->on_session_count(-1);
    return;
  }
  SessionStart start;
  start.resumed = true;
  start.counted = true;
  start.readable = true;
  spawn_session(std::move(stream), *env_, remote, start);
}

void IdleSessions::wake_fresh(Iter it, boost::system::error_code ec) {
  --parked_count_;
  const bool timed_out = ec == asio::error::operation_aborted && it->expired && !it->closing;
  bool silent = false;
  if (timed_out && it->bare()) {
    int waiting_bytes = 0;
    silent = ::ioctl(it->fd, FIONREAD, &waiting_bytes) != 0 || waiting_bytes == 0;
  } else if (auto* tcp = dynamic_cast<TcpStream*>(it->other.get()); timed_out && tcp) {
    boost::system::error_code aec;
    silent = tcp->socket().available(aec) == 0;
  }
  if ((ec && !timed_out) || it->closing || silent) {
    // Stopped, the socket failed, or header_timeout passed without a byte: nothing was read,
    // nothing to answer (a session would only close it too: no 408 and no log line for a
    // connection that never spoke, SPEC L7), and no SSL object or session is made for it.
    if (it->bare()) {
      ::close(it->fd);  // already forgotten by bare_
      --bare_count_;
    } else {
      it->stream().close();
    }
    fresh_.erase(it);
    env_->on_session_count(-1);
    return;
  }
  // Its first bytes arrived, or header_timeout passed: the session reads (or answers 408, or
  // ends a TLS handshake that never began) with the accept's deadline. A TLS listener's
  // connection becomes a TlsStream only now: a silent one never held an SSL object.
  std::unique_ptr<ByteStream> stream = take_stream(*it);
  const auto remote = it->remote;
  const auto deadline = it->since + header_timeout_;
  fresh_.erase(it);
  if (!stream) {  // out of memory for the SSL object: the socket closed with it
    env_->on_session_count(-1);
    return;
  }
  SessionStart start;
  start.counted = true;
  start.readable = !timed_out;
  start.first_deadline = deadline;
  spawn_session(std::move(stream), *env_, remote, start);
}

void IdleSessions::close_all() {
  closed_all_ = true;
  for (auto* list : {&parked_, &fresh_}) {
    // Bounded by the list; a bare connection leaves it at once, any other when its wait ends.
    for (auto it = list->begin(); it != list->end();) {
      const auto next = std::next(it);
      if (it->bare()) {
        discard(it, /*graceful=*/list == &parked_);
      } else {
        it->closing = true;
        it->stream().cancel();
      }
      it = next;
    }
  }
}

void IdleSessions::close() {
  timer_.reset();
  for (auto* list : {&parked_, &fresh_}) {
    for (auto& p : *list) {
      if (p.bare()) ::close(p.fd);
    }
  }
  bare_.reset();
  bare_count_ = 0;
  const auto n = parked_.size() + fresh_.size();
  if (env_) env_->on_session_count(-static_cast<int>(n));
  parked_count_ -= static_cast<std::int64_t>(n);
  parked_.clear();
  fresh_.clear();
}

void IdleSessions::arm() {
  if (!timer_) return;
  // The next deadline: the oldest waiting session's (park, or close if idle_timeout is the
  // shorter), and the oldest parked connection's not already closing.
  auto deadline = Clock::time_point::max();
  if (!waiting_.empty()) {
    deadline = waiting_.front()->idle_since + std::min<Clock::duration>(kParkAfter, timeout_);
  }
  for (const auto& p : parked_) {
    if (p.closing) continue;
    deadline = std::min(deadline, p.since + timeout_);
    break;
  }
  for (const auto& p : fresh_) {
    if (p.closing || p.expired) continue;
    deadline = std::min(deadline, p.since + header_timeout_);
    break;
  }
  if (deadline == Clock::time_point::max()) return;
  if (armed_ && deadline >= armed_until_) return;
  // Re-arming an armed timer cancels its wait: that handler sees operation_aborted and leaves
  // everything to the new one.
  armed_ = true;
  armed_until_ = deadline;
  timer_->expires_at(deadline);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    armed_ = false;
    if (!timer_) return;
    expire();
    arm();
  });
}

void IdleSessions::expire() {
  const auto now = Clock::now();
  // Both loops are bounded by their lists.
  while (!waiting_.empty()) {
    SessionIo* io = waiting_.front();
    if (io->idle_since + timeout_ <= now) {
      io->idle_expired = true;
    } else if (io->idle_since + kParkAfter <= now) {
      io->park_requested = true;
    } else {
      break;
    }
    waiting_.pop_front();
    io->in_idle_list = false;
    io->stream.cancel();
  }
  // Parked connections that time out: a bare one closes now, any other when its cancelled
  // wait completes.
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->since + timeout_ > now) break;
    const auto next = std::next(it);
    if (it->bare()) {
      discard(it, /*graceful=*/true);
    } else if (!it->closing) {
      it->closing = true;
      it->stream().cancel();
    }
    it = next;
  }
  // New connections past header_timeout end (closed if still silent; else their sessions
  // answer, 408, as a session that waited itself would have): a bare one now, any other when
  // its cancelled wait completes.
  for (auto it = fresh_.begin(); it != fresh_.end();) {
    if (it->since + header_timeout_ > now) break;
    const auto next = std::next(it);
    if (!it->closing && !it->expired) {
      it->expired = true;
      if (it->bare()) {
        bare_->forget(it->fd);
        wake_fresh(it, asio::error::operation_aborted);
      } else {
        it->stream().cancel();
      }
    }
    it = next;
  }
}

}  // namespace sluice::detail
