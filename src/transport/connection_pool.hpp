#pragma once
// Idle upstream connections of one ReverseProxy on one worker (SPEC 35, L6). Lives as long as
// the worker's io_context (it is reached through an Asio service), so everything here runs on
// that worker's thread and needs no lock.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "sluice/reverse_proxy.hpp"
#include "transport/upstream_connection.hpp"

namespace sluice {

// The counters a pool keeps up to date (owned by the ReverseProxy, shared by all its workers).
struct PoolCounters {
  std::atomic<std::int64_t> busy{0};
  std::atomic<std::int64_t> idle{0};
};

class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, const TransportOptions& options,
                 PoolCounters& counters);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently used idle connection for `key` that still looks alive, or null. A
  // connection that became readable while idle (the upstream closed it, or sent bytes nobody
  // asked for) or outlived pool_idle_timeout is closed instead (SPEC L6).
  std::unique_ptr<UpstreamConnection> take_idle(const std::string& key);
  // Keeps `conn` for reuse if there is room, else closes it.
  void put_idle(std::unique_ptr<UpstreamConnection> conn);

  PoolCounters& counters() { return counters_; }
  // The io_context is shutting down: close the idle connections and stop the sweep. The pool
  // object itself stays until the service is destroyed, because coroutine frames destroyed
  // during the shutdown still release their leases into it.
  void close_all();

 private:
  void arm_sweep();
  void sweep();

  const TransportOptions& options_;
  PoolCounters& counters_;
  std::deque<std::unique_ptr<UpstreamConnection>> idle_;  // oldest at the front
  boost::asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
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
  bool reused() const { return reused_; }
  void mark_reusable() { reusable_ = true; }
  // Closes the connection now (e.g. to tell the upstream the client went away, SPEC 34).
  void close();

 private:
  void release();

  ConnectionPool* pool_ = nullptr;
  std::unique_ptr<UpstreamConnection> conn_;
  bool reused_ = false;
  bool reusable_ = false;
};

// The pools of one worker, one per ReverseProxy, reached with asio::use_service on the
// worker's io_context. Destroyed (closing every idle connection) with the io_context.
class PoolService : public boost::asio::execution_context::service {
 public:
  using key_type = PoolService;
  static boost::asio::execution_context::id id;

  explicit PoolService(boost::asio::execution_context& ctx);
  ConnectionPool& pool_for(const void* owner, boost::asio::any_io_executor executor,
                           const TransportOptions& options, PoolCounters& counters);

 private:
  // Closes idle connections only; the pools are freed with the service, after every frame that
  // could still hold a Lease is gone (Asio destroys suspended handlers between the two).
  void shutdown() override;
  std::map<const void*, std::unique_ptr<ConnectionPool>> pools_;
};

}  // namespace sluice
