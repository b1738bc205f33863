#include "transport/connection_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

void close_quietly(UpstreamConnection& c) {
  boost::system::error_code ignored;
  c.socket.close(ignored);
}

// An idle keep-alive connection must have nothing to read: readable means the upstream closed
// it (FIN/RST) or sent bytes that belong to no request. Either way it cannot be reused.
bool looks_alive(UpstreamConnection& c) {
  if (c.buffer.size() != 0) return false;
  char byte;
  ssize_t r = ::recv(c.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

ConnectionPool::ConnectionPool(asio::any_io_executor executor, const TransportOptions& options,
                               PoolCounters& counters)
    : options_(options),
      counters_(counters),
      sweep_timer_(std::move(executor)),
      self_(std::make_shared<ConnectionPool*>(this)) {}

ConnectionPool::~ConnectionPool() {
  close_all();
}

void ConnectionPool::close_all() {
  closed_ = true;
  self_.reset();
  sweep_timer_.cancel();
  counters_.idle -= static_cast<std::int64_t>(idle_.size());
  for (auto& c : idle_) close_quietly(*c);
  idle_.clear();
}

std::unique_ptr<UpstreamConnection> ConnectionPool::take_idle(const std::string& key) {
  const auto now = Clock::now();
  // Newest first: it is the least likely to have been closed by the upstream's own timeout.
  for (auto it = idle_.rbegin(); it != idle_.rend();) {
    if ((*it)->key != key) {
      ++it;
      continue;
    }
    auto conn = std::move(*it);
    it = decltype(it)(idle_.erase(std::next(it).base()));
    --counters_.idle;
    if (now - conn->idle_since < options_.pool_idle_timeout && looks_alive(*conn)) return conn;
    close_quietly(*conn);
  }
  return nullptr;
}

void ConnectionPool::put_idle(std::unique_ptr<UpstreamConnection> conn) {
  if (closed_ || options_.max_idle_connections == 0) {
    close_quietly(*conn);
    return;
  }
  if (idle_.size() >= options_.max_idle_connections) {
    close_quietly(*idle_.front());
    idle_.pop_front();
    --counters_.idle;
  }
  conn->idle_since = Clock::now();
  idle_.push_back(std::move(conn));
  ++counters_.idle;
  arm_sweep();
}

void ConnectionPool::arm_sweep() {
  if (sweep_armed_ || idle_.empty()) return;
  sweep_armed_ = true;
  sweep_timer_.expires_at(idle_.front()->idle_since + options_.pool_idle_timeout);
  sweep_timer_.async_wait([weak = std::weak_ptr<ConnectionPool*>(self_)](auto ec) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted) return;
    (*self)->sweep_armed_ = false;
    (*self)->sweep();
  });
}

void ConnectionPool::sweep() {
  const auto now = Clock::now();
  while (!idle_.empty() && now - idle_.front()->idle_since >= options_.pool_idle_timeout) {
    close_quietly(*idle_.front());
    idle_.pop_front();
    --counters_.idle;
  }
  arm_sweep();
}

// ---- Lease -------------------------------------------------------------------------------

Lease::Lease(ConnectionPool* pool, std::unique_ptr<UpstreamConnection> conn, bool reused)
    : pool_(pool), conn_(std::move(conn)), reused_(reused) {
  if (conn_) ++pool_->counters().busy;
}

Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      conn_(std::move(other.conn_)),
      reused_(other.reused_),
      reusable_(other.reusable_) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    reused_ = other.reused_;
    reusable_ = other.reusable_;
  }
  return *this;
}

Lease::~Lease() {
  release();
}

void Lease::close() {
  reusable_ = false;
  release();
}

void Lease::release() {
  if (!conn_) return;
  --pool_->counters().busy;
  if (reusable_) {
    pool_->put_idle(std::move(conn_));
  } else {
    close_quietly(*conn_);
    conn_.reset();
  }
  reusable_ = false;
}

// ---- PoolService -------------------------------------------------------------------------

asio::execution_context::id PoolService::id;

PoolService::PoolService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

ConnectionPool& PoolService::pool_for(const void* owner, asio::any_io_executor executor,
                                      const TransportOptions& options, PoolCounters& counters) {
  auto& slot = pools_[owner];
  if (!slot) slot = std::make_unique<ConnectionPool>(std::move(executor), options, counters);
  return *slot;
}

void PoolService::shutdown() {
  for (auto& [owner, pool] : pools_) pool->close_all();
}

}  // namespace sluice
