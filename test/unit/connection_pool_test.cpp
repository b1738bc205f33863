// ConnectionPool, Lease and PoolService (src/transport/connection_pool.hpp, SPEC 35, L6) over
// in-memory connections: which idle connection a request gets, which ones are never reused,
// and the counters the transport reports (SPEC L2). The upstream's end of each connection shows
// what the pool did to it: a closed connection reads EOF there.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "support/memory_stream.hpp"
#include "support/run_io.hpp"
#include "transport/connection_pool.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class ConnectionPoolTest : public testing::Test {
 protected:
  // Options are read when the pool is made: tests change them first.
  void make_pool() {
    shared = std::make_shared<PoolShared>(options);
    pool = std::make_unique<ConnectionPool>(ctx.get_executor(), shared);
  }
  // A connection pooled under `key`; `upstream` gets the upstream's end of it.
  std::unique_ptr<UpstreamConnection> connection(MemoryStream*& upstream,
                                                 std::string key = "up:80") {
    auto [mine, theirs] = MemoryStream::pair(ctx.get_executor());
    upstream = theirs.get();
    upstream_ends.push_back(std::move(theirs));
    return std::make_unique<UpstreamConnection>(std::move(mine), std::move(key));
  }
  // The pool closed the connection: its upstream end reads EOF.
  static bool closed(MemoryStream* upstream) {
    char byte;
    boost::system::error_code ec;
    upstream->peek(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof;
  }

  asio::io_context ctx;  // first: outlives everything below
  TransportOptions options;
  std::vector<std::unique_ptr<MemoryStream>> upstream_ends;
  std::shared_ptr<PoolShared> shared;
  std::unique_ptr<ConnectionPool> pool;
};

TEST_F(ConnectionPoolTest, TheMostRecentlyIdledConnectionIsReusedFirst) {
  make_pool();
  MemoryStream *up_a, *up_b;
  auto a = connection(up_a);
  auto b = connection(up_b);
  const ByteStream* stream_a = a->stream.get();
  const ByteStream* stream_b = b->stream.get();
  pool->put_idle(std::move(a));
  pool->put_idle(std::move(b));
  EXPECT_EQ(shared->idle, 2);

  auto first = pool->take_idle("up:80");
  auto second = pool->take_idle("up:80");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->stream.get(), stream_b);  // LIFO: the newest is the least likely to be stale
  EXPECT_EQ(second->stream.get(), stream_a);
  EXPECT_EQ(pool->take_idle("up:80"), nullptr);
  EXPECT_EQ(shared->idle, 0);
  EXPECT_FALSE(closed(up_a));
  EXPECT_FALSE(closed(up_b));
}

TEST_F(ConnectionPoolTest, AConnectionServesOnlyItsOwnKey) {
  make_pool();
  MemoryStream* up;
  pool->put_idle(connection(up, "a:80"));
  EXPECT_EQ(pool->take_idle("b:80"), nullptr);
  EXPECT_EQ(pool->take_idle("a:8080"), nullptr);
  EXPECT_EQ(pool->idle_count(), 1u);
  const auto got = pool->take_idle("a:80");
  EXPECT_NE(got, nullptr);
  EXPECT_FALSE(closed(up));
}

TEST_F(ConnectionPoolTest, AConnectionTheUpstreamSpokeOnOrClosedIsNotReused) {
  make_pool();
  MemoryStream *healthy, *spoke, *hung_up, *reset;
  auto keep = connection(healthy);
  const ByteStream* kept = keep->stream.get();
  pool->put_idle(std::move(keep));
  pool->put_idle(connection(spoke));
  pool->put_idle(connection(hung_up));
  pool->put_idle(connection(reset));
  ASSERT_TRUE(spoke->send("HTTP/1.1 408 Request Timeout\r\n\r\n"));  // to no request
  hung_up->close();
  reset->reset();

  // The three newer ones are closed on the way to the one that is still good.
  auto got = pool->take_idle("up:80");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->stream.get(), kept);
  EXPECT_EQ(pool->idle_count(), 0u);
  EXPECT_EQ(shared->idle, 0);
  EXPECT_TRUE(closed(spoke));
}

TEST_F(ConnectionPoolTest, AConnectionWithUnparsedBytesIsNotReused) {
  make_pool();
  MemoryStream* up;
  auto conn = connection(up);
  auto room = conn->buffer.prepare(3);
  std::memcpy(room.data(), "xyz", 3);
  conn->buffer.commit(3);
  pool->put_idle(std::move(conn));
  EXPECT_EQ(pool->take_idle("up:80"), nullptr);
  EXPECT_TRUE(closed(up));
}

TEST_F(ConnectionPoolTest, IdleConnectionsAreClosedAfterPoolIdleTimeout) {
  options.pool_idle_timeout = 10ms;
  make_pool();
  MemoryStream* up;
  pool->put_idle(connection(up));
  EXPECT_EQ(shared->idle, 1);
  // The sweep timer closes it; no request has to come along.
  ASSERT_TRUE(run_until(ctx, [&] { return pool->idle_count() == 0; }));
  EXPECT_TRUE(closed(up));
  EXPECT_EQ(shared->idle, 0);
}

TEST_F(ConnectionPoolTest, TakeIdleRefusesAConnectionPastPoolIdleTimeout) {
  options.pool_idle_timeout = 0ns;  // every connection is too old at once, sweep or not
  make_pool();
  MemoryStream* up;
  pool->put_idle(connection(up));
  EXPECT_EQ(pool->take_idle("up:80"), nullptr);
  EXPECT_TRUE(closed(up));
  EXPECT_EQ(shared->idle, 0);
}

TEST_F(ConnectionPoolTest, MaxIdleConnectionsEvictsTheOldestAtOnceWithoutLinger) {
  options.max_idle_connections = 2;
  options.idle_surplus_linger = 0ns;
  make_pool();
  MemoryStream *up_a, *up_b, *up_c;
  pool->put_idle(connection(up_a));
  pool->put_idle(connection(up_b));
  pool->put_idle(connection(up_c));
  EXPECT_EQ(pool->idle_count(), 2u);
  EXPECT_EQ(shared->idle, 2);
  EXPECT_TRUE(closed(up_a));
  EXPECT_FALSE(closed(up_b));
  EXPECT_FALSE(closed(up_c));
}

// A burst's surplus above max_idle_connections stays for idle_surplus_linger, to be reused by
// the next burst, and then the oldest is closed by the sweep, with no request coming along.
TEST_F(ConnectionPoolTest, ASurplusAboveMaxIdleLingersThenTheOldestClose) {
  options.max_idle_connections = 1;
  options.idle_surplus_linger = 20ms;
  make_pool();
  MemoryStream *up_a, *up_b, *up_c;
  pool->put_idle(connection(up_a));
  pool->put_idle(connection(up_b));
  pool->put_idle(connection(up_c));
  EXPECT_EQ(pool->idle_count(), 3u) << "the surplus was closed on release";
  EXPECT_FALSE(closed(up_a));
  // Reused while it lingers: the newest first, as always.
  auto reused = pool->take_idle("up:80");
  ASSERT_NE(reused, nullptr);
  pool->put_idle(std::move(reused));
  ASSERT_TRUE(run_until(ctx, [&] { return pool->idle_count() == 1; }));
  EXPECT_TRUE(closed(up_a));
  EXPECT_TRUE(closed(up_b));
  EXPECT_FALSE(closed(up_c)) << "the most recently used one is the one kept";
  EXPECT_EQ(shared->idle, 1);
}

// A surplus linger armed after a long idle-timeout sweep still runs on time.
TEST_F(ConnectionPoolTest, ASurplusMovesAnArmedSweepEarlier) {
  options.max_idle_connections = 1;
  options.idle_surplus_linger = 20ms;
  options.pool_idle_timeout = 1h;
  make_pool();
  MemoryStream *up_a, *up_b;
  pool->put_idle(connection(up_a));  // arms the sweep for an hour from now
  pool->put_idle(connection(up_b));
  ASSERT_TRUE(run_until(ctx, [&] { return pool->idle_count() == 1; }));
  EXPECT_TRUE(closed(up_a));
  EXPECT_FALSE(closed(up_b));
}

TEST_F(ConnectionPoolTest, NoIdleConnectionsKeptWhenTheLimitIsZero) {
  options.max_idle_connections = 0;
  make_pool();
  MemoryStream* up;
  pool->put_idle(connection(up));
  EXPECT_EQ(pool->idle_count(), 0u);
  EXPECT_TRUE(closed(up));
}

// An idle connection holds no read buffer (it grew with the responses it carried, up to
// 1 MiB): a pool of idle connections must not pin that memory.
TEST_F(ConnectionPoolTest, AnIdleConnectionReleasesItsReadBuffer) {
  make_pool();
  MemoryStream* up;
  auto conn = connection(up);
  conn->buffer.commit(asio::buffer_size(conn->buffer.prepare(64 * 1024)));
  conn->buffer.consume(conn->buffer.size());  // the response was read whole
  ASSERT_GE(conn->buffer.capacity(), 64u * 1024);
  pool->put_idle(std::move(conn));
  auto again = pool->take_idle("up:80");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->buffer.capacity(), 0u);
}

// One head read's buffer (16 KiB) stays: releasing it would cost every reused connection a new
// allocation per request.
TEST_F(ConnectionPoolTest, AnIdleConnectionKeepsAHeadSizedReadBuffer) {
  make_pool();
  MemoryStream* up;
  auto conn = connection(up);
  conn->buffer.commit(asio::buffer_size(conn->buffer.prepare(16 * 1024)));
  conn->buffer.consume(conn->buffer.size());
  const auto capacity = conn->buffer.capacity();
  ASSERT_LE(capacity, 16u * 1024);
  pool->put_idle(std::move(conn));
  auto again = pool->take_idle("up:80");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->buffer.capacity(), capacity);
}

TEST_F(ConnectionPoolTest, ARetiredTransportPoolsNothing) {
  make_pool();
  MemoryStream* up;
  shared->retire();
  pool->put_idle(connection(up));
  EXPECT_EQ(pool->idle_count(), 0u);
  EXPECT_EQ(shared->idle, 0);
  EXPECT_TRUE(closed(up));
}

// A worker's PoolService frees the pool of a retired transport (closing what it kept) the next
// time it looks a pool up, and keeps the pools of live transports.
TEST_F(ConnectionPoolTest, PoolServicePurgesTheRetiredTransportsPools) {
  // As on a worker, whose sessions made timers before the first round trip made the service
  // (see PoolServiceMadeBeforeAnyTimer below).
  const StopSignal earlier(ctx.get_executor());
  auto& service = asio::use_service<PoolService>(ctx);
  auto live = std::make_shared<PoolShared>(options);
  auto doomed = std::make_shared<PoolShared>(options);
  service.pool_for(live, ctx.get_executor());
  MemoryStream *up_live, *up_doomed;
  service.pool_for(live, ctx.get_executor()).put_idle(connection(up_live));
  service.pool_for(doomed, ctx.get_executor()).put_idle(connection(up_doomed));
  EXPECT_EQ(service.pool_count(), 2u);

  doomed->retire();
  service.pool_for(live, ctx.get_executor());
  EXPECT_EQ(service.pool_count(), 1u);
  EXPECT_TRUE(closed(up_doomed));
  EXPECT_EQ(doomed->idle, 0);
  EXPECT_FALSE(closed(up_live));
  EXPECT_EQ(live->idle, 1);
}

// When PoolService is created on an io_context before any steady_timer (the pool's own sweep
// timer is then the first), Asio destroys the timer service before PoolService (services go
// newest first). ~ConnectionPool used to destroy its sweep timer through the freed service
// (heap-use-after-free under ASan); the pool now frees its timer when the service shuts down.
TEST_F(ConnectionPoolTest, PoolServiceMadeBeforeAnyTimer) {
  auto& service = asio::use_service<PoolService>(ctx);
  auto live = std::make_shared<PoolShared>(options);
  service.pool_for(live, ctx.get_executor());
}  // ~io_context: use-after-free

TEST_F(ConnectionPoolTest, LeasesCountBusyConnectionsAndReturnOnlyReusableOnes) {
  make_pool();
  MemoryStream *up_kept, *up_dropped;
  {
    Lease kept(pool.get(), connection(up_kept), /*reused=*/false);
    Lease dropped(pool.get(), connection(up_dropped), /*reused=*/false);
    EXPECT_EQ(shared->busy, 2);
    EXPECT_EQ(pool->leased(), 2u);
    kept.mark_reusable();
    Lease moved = std::move(kept);  // a moved-from lease releases nothing
    kept.release();
    EXPECT_EQ(shared->busy, 2);
    moved.release();
    moved.release();  // idempotent
    EXPECT_EQ(shared->busy, 1);
    EXPECT_EQ(shared->idle, 1);
  }  // `dropped` was never marked reusable: closed
  EXPECT_EQ(shared->busy, 0);
  EXPECT_EQ(pool->leased(), 0u);
  EXPECT_TRUE(closed(up_dropped));
  EXPECT_FALSE(closed(up_kept));

  {
    Lease again(pool.get(), pool->take_idle("up:80"), /*reused=*/true);
    ASSERT_TRUE(again);
    EXPECT_EQ(shared->idle, 0);
    again.mark_reusable();
    again.close();  // closing wins over an earlier mark
  }
  EXPECT_TRUE(closed(up_kept));
  EXPECT_EQ(shared->busy, 0);
  EXPECT_EQ(shared->idle, 0);
}

TEST_F(ConnectionPoolTest, DestroyingThePoolClosesItsIdleConnections) {
  make_pool();
  MemoryStream* up;
  pool->put_idle(connection(up));
  pool.reset();
  EXPECT_TRUE(closed(up));
  EXPECT_EQ(shared->idle, 0);
}

}  // namespace
}  // namespace sluice::test
