#pragma once
// Idle upstream connections of one transport on one worker (SPEC 35, L6).
//
// Ownership: a transport owns a PoolShared (its options and counters); each worker keeps the
// transport's ConnectionPool in an Asio service of its io_context (PoolService), keyed by the
// transport's id, which is never reused. A pool holds the PoolShared by shared_ptr, so it never
// refers into a transport that is gone. A transport that is destroyed marks its PoolShared
// retired and posts a purge to every running worker: its pools close their idle connections at
// once and pool nothing more, and a pool with no connection checked out is freed (one still in
// use is freed by a later purge). The pool object itself lives at most as long as the
// io_context (its sweep timer must not outlive it).
//
// Everything here runs on the worker's thread, except the counters, which are atomics, and
// retire(), which any thread may call.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sluice/transport.hpp"
#include "transport/upstream_connection.hpp"

namespace sluice {

// What a transport shares with its pools on every worker.
struct PoolShared {
  explicit PoolShared(TransportOptions o);
  const std::uint64_t id;  // unique in the process, never reused
  const TransportOptions options;
  std::atomic<std::int64_t> busy{0};
  std::atomic<std::int64_t> idle{0};
  std::atomic<bool> retired{false};
  // Marks the transport gone: its pools close what they keep (see above).
  void retire();
};

class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, std::shared_ptr<PoolShared> shared);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently used idle connection for `key` that still looks alive, or null. A
  // connection that became readable while idle (the upstream closed it, or sent bytes nobody
  // asked for) or outlived pool_idle_timeout is closed instead (SPEC L6).
  std::unique_ptr<UpstreamConnection> take_idle(const std::string& key);
  // Keeps `conn` for reuse (if the transport still exists and the bound is not 0). Above
  // max_idle_connections the oldest idle connection is closed once it has been idle for
  // idle_surplus_linger (at once when that is 0). A read buffer grown past one head read
  // (16 KiB) is released.
  void put_idle(std::unique_ptr<UpstreamConnection> conn);

  PoolShared& shared() { return *shared_; }
  std::size_t idle_count() const { return idle_.size(); }
  // Connections checked out (Leases alive): the pool must stay while any is.
  std::size_t leased() const { return leased_; }
  void on_lease(int delta) { leased_ += delta; }
  // Closes every idle connection and frees the sweep timer; the pool stays usable (nothing more
  // is pooled once its transport is retired or the io_context shuts down).
  void close_all();

 private:
  void arm_sweep();
  void sweep();
  // Closes the oldest idle connections above the bound that lingered long enough.
  void close_surplus(std::chrono::steady_clock::time_point now);
  // When the sweep must run next: the oldest connection's idle timeout, or its surplus linger.
  std::chrono::steady_clock::time_point next_sweep() const;

  std::shared_ptr<PoolShared> shared_;
  std::deque<std::unique_ptr<UpstreamConnection>> idle_;  // oldest at the front
  // Reset by close_all(): the timer must not outlive the io_context's timer service, which Asio
  // may destroy before this pool's service (services go newest first).
  std::optional<boost::asio::steady_timer> sweep_timer_;
  std::size_t leased_ = 0;
  bool sweep_armed_ = false;
  std::chrono::steady_clock::time_point sweep_at_;  // while sweep_armed_
  bool closed_ = false;
  // The sweep handler holds a weak reference: a handler Asio already queued when the pool
  // went away finds it expired and does nothing (STYLE §2, Beast's "owner gone" guard).
  std::shared_ptr<ConnectionPool*> self_;
};

// A connection checked out for one request. Its destructor returns it to the pool when the
// request ended cleanly and marked it reusable, and closes it otherwise (SPEC L6).
class Lease {
 public:
  Lease() = default;
  Lease(ConnectionPool* pool, std::unique_ptr<UpstreamConnection> conn, bool reused);
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();

  explicit operator bool() const { return conn_ != nullptr; }
  UpstreamConnection& conn() { return *conn_; }
  const UpstreamConnection& conn() const { return *conn_; }
  void mark_reusable() { reusable_ = true; }
  // Closes the connection now (e.g. to tell the upstream the client went away, SPEC 34).
  void close();
  // Ends the lease now: back to the pool when marked reusable, else closed. Idempotent.
  void release();

 private:
  ConnectionPool* pool_ = nullptr;
  std::unique_ptr<UpstreamConnection> conn_;
  bool reused_ = false;
  bool reusable_ = false;
};

// The pools of one worker, one per transport, reached with asio::use_service on the worker's
// io_context. Destroyed (closing every idle connection) with the io_context.
class PoolService : public boost::asio::execution_context::service {
 public:
  using key_type = PoolService;
  static boost::asio::execution_context::id id;

  explicit PoolService(boost::asio::execution_context& ctx);
  ConnectionPool& pool_for(const std::shared_ptr<PoolShared>& shared,
                           boost::asio::any_io_executor executor);
  std::size_t pool_count() const { return pools_.size(); }
  // Closes the idle connections of retired transports' pools, and frees those with nothing
  // checked out. Posted by PoolShared::retire() to every running worker.
  void purge_retired();

 private:
  // Closes idle connections only; the pools are freed with the service, after every frame that
  // could still hold a Lease is gone (Asio destroys suspended handlers between the two).
  void shutdown() override;
  std::map<std::uint64_t, std::unique_ptr<ConnectionPool>> pools_;
  std::uint64_t retirements_seen_ = 0;
  bool registered_ = false;  // in the list of services retire() reaches
};

}  // namespace sluice
