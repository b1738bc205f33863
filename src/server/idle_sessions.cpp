#include "server/idle_sessions.hpp"

namespace sluice::detail {

using Clock = std::chrono::steady_clock;

IdleSessions::IdleSessions(boost::asio::any_io_executor executor, std::chrono::nanoseconds timeout)
    : timeout_(timeout) {
  timer_.emplace(std::move(executor));
}

void IdleSessions::close() {
  timer_.reset();
}

void IdleSessions::enter(SessionIo& io) {
  io.idle_since = Clock::now();
  io.idle_expired = false;
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

void IdleSessions::arm() {
  if (armed_ || waiting_.empty() || !timer_) return;
  armed_ = true;
  timer_->expires_at(waiting_.front()->idle_since + timeout_);
  // The handler runs on this worker's thread; if the io_context is destroyed first, it is
  // destroyed without running.
  timer_->async_wait([this](boost::system::error_code) {
    armed_ = false;
    if (!timer_) return;
    expire();
    arm();
  });
}

void IdleSessions::expire() {
  const auto now = Clock::now();
  // Bounded by the list: each round removes one session.
  while (!waiting_.empty() && waiting_.front()->idle_since + timeout_ <= now) {
    SessionIo* io = waiting_.front();
    waiting_.pop_front();
    io->in_idle_list = false;
    io->idle_expired = true;
    boost::system::error_code ignored;
    io->socket.cancel(ignored);
  }
}

}  // namespace sluice::detail
