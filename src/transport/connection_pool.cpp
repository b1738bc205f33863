#include "transport/connection_pool.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// What an idle connection's read buffer may keep: one head read (round_trip.cpp's read size).
constexpr std::size_t kIdleBufferBytes = 16 * 1024;

std::atomic<std::uint64_t> next_transport_id{1};
// How many transports were retired so far: a worker that sees it change purges its pools.
std::atomic<std::uint64_t> retirements{0};

// Every PoolService whose io_context still runs, with an executor to reach it: a retired
// transport has each of them purge its pools at once, so that the idle connections of a
// transport nobody uses any more (a server a reload removed) close when it goes, not at the
// next request or sweep. A service leaves in its shutdown(), under the mutex, so nothing is
// posted to an io_context that is being destroyed.
std::mutex live_services_mutex;
std::map<PoolService*, asio::any_io_executor> live_services;

// An idle connection ends between two messages: a graceful end (TLS: close_notify, then FIN).
void close_idle(UpstreamConnection& c) {
  c.stream->shutdown_write();
  c.stream->close();
}

// A connection released in the middle of an exchange (or after one that cannot be reused):
// no close_notify, so that a cut request or response looks cut to the upstream.
void close_cut(UpstreamConnection& c) { c.stream->close(); }

// An idle keep-alive connection must have nothing to read: readable means the upstream closed
// it (FIN/RST) or sent bytes that belong to no request. Either way it cannot be reused.
bool looks_alive(UpstreamConnection& c) {
  if (c.buffer.size() != 0) return false;
  char byte;
  boost::system::error_code ec;
  c.stream->peek(asio::buffer(&byte, 1), ec);
  return would_block(ec);
}

}  // namespace

PoolShared::PoolShared(TransportOptions o) : id(next_transport_id.fetch_add(1)), options(o) {}

void PoolShared::retire() {
  retired = true;
  retirements.fetch_add(1);
  std::lock_guard lock(live_services_mutex);
  for (const auto& [service, executor] : live_services) {
    // Runs only while the io_context runs, so while the service exists.
    asio::post(executor, [service = service] { service->purge_retired(); });
  }
}

ConnectionPool::ConnectionPool(asio::any_io_executor executor, std::shared_ptr<PoolShared> shared)
    : shared_(std::move(shared)),
      sweep_timer_(std::in_place, std::move(executor)),
      self_(std::make_shared<ConnectionPool*>(this)) {}

ConnectionPool::~ConnectionPool() { close_all(); }

void ConnectionPool::close_all() {
  closed_ = true;
  self_.reset();
  sweep_timer_.reset();
  shared_->idle -= static_cast<std::int64_t>(idle_.size());
  for (auto& c : idle_)
    close_idle(*c);
  idle_.clear();
}

std::unique_ptr<UpstreamConnection> ConnectionPool::take_idle(const std::string& key) {
  const auto now = Clock::now();
  const auto timeout = shared_->options.pool_idle_timeout;
  // Newest first: it is the least likely to have been closed by the upstream's own timeout.
  for (auto it = idle_.rbegin(); it != idle_.rend();) {
    if ((*it)->key != key) {
      ++it;
      continue;
    }
    auto conn = std::move(*it);
    it = decltype(it)(idle_.erase(std::next(it).base()));
    --shared_->idle;
    if (now - conn->idle_since < timeout && looks_alive(*conn)) return conn;
    close_idle(*conn);
  }
  return nullptr;
}

void ConnectionPool::put_idle(std::unique_ptr<UpstreamConnection> conn) {
  if (closed_ || shared_->retired || shared_->options.max_idle_connections == 0) {
    close_idle(*conn);
    return;
  }
  const auto now = Clock::now();
  close_surplus(now);
  if (idle_.size() >= shared_->options.max_idle_connections &&
      shared_->options.idle_surplus_linger <= Clock::duration::zero()) {
    close_idle(*idle_.front());
    idle_.pop_front();
    --shared_->idle;
  }
  // The read buffer grew with the responses it carried (up to its 1 MiB bound). An idle
  // connection keeps at most what one head read needs: releasing that too would cost every
  // reused connection a fresh 16 KiB allocation per request (measured: a few % of CPU at 13 B).
  if (conn->buffer.capacity() > kIdleBufferBytes) conn->buffer.shrink_to_fit();
  conn->idle_since = now;
  idle_.push_back(std::move(conn));
  ++shared_->idle;
  arm_sweep();
}

void ConnectionPool::close_surplus(Clock::time_point now) {
  // Bounded by the idle connections; the front is the oldest (least recently used).
  while (idle_.size() > shared_->options.max_idle_connections &&
         now - idle_.front()->idle_since >= shared_->options.idle_surplus_linger) {
    // Counted out before the close, so that whoever sees the close sees the count too.
    auto oldest = std::move(idle_.front());
    idle_.pop_front();
    --shared_->idle;
    close_idle(*oldest);
  }
}

Clock::time_point ConnectionPool::next_sweep() const {
  const auto oldest = idle_.front()->idle_since;
  auto at = oldest + shared_->options.pool_idle_timeout;
  if (idle_.size() > shared_->options.max_idle_connections)
    at = std::min(at, oldest + shared_->options.idle_surplus_linger);
  return at;
}

void ConnectionPool::arm_sweep() {
  if (idle_.empty() || !sweep_timer_) return;
  const auto at = next_sweep();
  // A surplus can make the next sweep earlier than the one armed: re-arm (expires_at cancels
  // the pending wait, whose handler then sees operation_aborted and does nothing).
  if (sweep_armed_ && sweep_at_ <= at) return;
  sweep_armed_ = true;
  sweep_at_ = at;
  sweep_timer_->expires_at(at);
  sweep_timer_->async_wait([weak = std::weak_ptr<ConnectionPool*>(self_)](auto ec) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted) return;
    (*self)->sweep_armed_ = false;
    (*self)->sweep();
  });
}

void ConnectionPool::sweep() {
  if (shared_->retired) {
    close_all();
    return;
  }
  const auto now = Clock::now();
  while (!idle_.empty() && now - idle_.front()->idle_since >= shared_->options.pool_idle_timeout) {
    close_idle(*idle_.front());
    idle_.pop_front();
    --shared_->idle;
  }
  close_surplus(now);
  arm_sweep();
}

// ---- Lease -------------------------------------------------------------------------------

Lease::Lease(ConnectionPool* pool, std::unique_ptr<UpstreamConnection> conn, bool reused)
    : pool_(pool), conn_(std::move(conn)), reused_(reused) {
  if (conn_) {
    ++pool_->shared().busy;
    pool_->on_lease(+1);
  }
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

Lease::~Lease() { release(); }

void Lease::close() {
  reusable_ = false;
  release();
}

void Lease::release() {
  if (!conn_) return;
  --pool_->shared().busy;
  pool_->on_lease(-1);
  if (reusable_) {
    pool_->put_idle(std::move(conn_));
  } else {
    close_cut(*conn_);
    conn_.reset();
  }
  reusable_ = false;
}

// ---- PoolService -------------------------------------------------------------------------

asio::execution_context::id PoolService::id;

PoolService::PoolService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

ConnectionPool& PoolService::pool_for(const std::shared_ptr<PoolShared>& shared,
                                      asio::any_io_executor executor) {
  if (const auto seen = retirements.load(std::memory_order_acquire); seen != retirements_seen_) {
    retirements_seen_ = seen;
    purge_retired();
  }
  if (!registered_) {
    std::lock_guard lock(live_services_mutex);
    live_services.emplace(this, executor);
    registered_ = true;
  }
  auto& slot = pools_[shared->id];
  if (!slot) slot = std::make_unique<ConnectionPool>(std::move(executor), shared);
  return *slot;
}

void PoolService::purge_retired() {
  // Bounded by the pools of this worker.
  for (auto it = pools_.begin(); it != pools_.end();) {
    ConnectionPool& pool = *it->second;
    if (!pool.shared().retired) {
      ++it;
      continue;
    }
    pool.close_all();
    if (pool.leased() == 0) {
      it = pools_.erase(it);
    } else {
      ++it;  // a request still uses it: freed on a later purge
    }
  }
}

void PoolService::shutdown() {
  {
    std::lock_guard lock(live_services_mutex);
    live_services.erase(this);
  }
  for (auto& [owner, pool] : pools_)
    pool->close_all();
}

}  // namespace sluice
