#include "server/idle_sessions.hpp"

#include "server/session.hpp"

#include <algorithm>

namespace sluice::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

IdleSessions::IdleSessions(asio::any_io_executor executor, std::chrono::nanoseconds timeout)
    : timeout_(timeout) {
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
  Parked& parked = parked_.emplace_back();
  if (auto* tcp = dynamic_cast<TcpStream*>(stream.get())) {
    parked.tcp.emplace(std::move(tcp->socket()));
    stream.reset();
  } else {
    parked.other = std::move(stream);
  }
  parked.remote = remote;
  parked.since = since;
  ++parked_count_;
  const Iter it = std::prev(parked_.end());
  // The handler runs on this worker's thread; if the io_context is destroyed first, it is
  // destroyed without running (close() has then already closed the socket).
  auto on_ready = [this, it](boost::system::error_code ec) { wake(it, ec); };
  if (it->tcp) {
    // The socket's own wait: no type-erased handler allocated for each parked connection.
    it->tcp->socket().async_wait(asio::ip::tcp::socket::wait_read, std::move(on_ready));
  } else {
    it->stream().async_wait(ByteStream::Ready::read, std::move(on_ready));
  }
  arm();
}

void IdleSessions::wake(Iter it, boost::system::error_code ec) {
  --parked_count_;
  if (ec || it->closing) {
    // Timed out, stopped, or the socket failed: a graceful close, as a session would.
    it->stream().shutdown_write();
    it->stream().close();
    parked_.erase(it);
    env_->on_session_count(-1);
    return;
  }
  // Bytes (or the client's close) arrived: a session takes the connection, and its count.
  std::unique_ptr<ByteStream> stream =
      it->tcp ? std::make_unique<TcpStream>(std::move(it->tcp->socket())) : std::move(it->other);
  const auto remote = it->remote;
  parked_.erase(it);
  spawn_session(std::move(stream), *env_, remote, /*resumed=*/true);
}

void IdleSessions::close_all() {
  closed_all_ = true;
  for (auto& p : parked_) {
    p.closing = true;
    p.stream().cancel();
  }
}

void IdleSessions::close() {
  timer_.reset();
  if (env_) env_->on_session_count(-static_cast<int>(parked_.size()));
  parked_count_ -= static_cast<std::int64_t>(parked_.size());
  parked_.clear();
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
  // Parked connections that time out: their cancelled waits complete (and erase them) later.
  for (auto& p : parked_) {
    if (p.since + timeout_ > now) break;
    if (p.closing) continue;
    p.closing = true;
    p.stream().cancel();
  }
}

}  // namespace sluice::detail
