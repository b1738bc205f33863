// Self-tests of MemoryStream (test/support/memory_stream.hpp): the codec tests built on it mean
// something only if it keeps TcpStream's contract: would_block / eof / reset at once,
// completions through the executor, and per-operation cancellation that reads nothing.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <tuple>

#include "net/bounded_io.hpp"
#include "support/memory_stream.hpp"
#include "support/run_io.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;

struct Pair {
  asio::io_context ctx;
  std::unique_ptr<MemoryStream> a;
  std::unique_ptr<MemoryStream> b;
  Pair() { std::tie(a, b) = MemoryStream::pair(ctx.get_executor()); }
  // Runs what is ready (an io_context that ran out of work stays stopped until restarted).
  void poll() {
    ctx.restart();
    ctx.poll();
  }
};

// The result of one asynchronous operation, as its handler saw it.
struct Completion {
  bool called = false;
  error_code ec;
  std::size_t n = 0;
};

auto record(Completion& c) {
  return [&c](error_code ec, std::size_t n = 0) {
    c.called = true;
    c.ec = ec;
    c.n = n;
  };
}

TEST(MemoryStreamTest, ReadsWhatThePeerWroteElseWouldBlock) {
  Pair p;
  std::array<char, 8> buf{};
  error_code ec;
  EXPECT_EQ(p.a->read_some(asio::buffer(buf), ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_EQ(p.a->peek(asio::buffer(buf), ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);

  ASSERT_TRUE(p.b->send("hello"));
  EXPECT_EQ(p.a->peek(asio::buffer(buf), ec), 5u);  // consumes nothing
  EXPECT_FALSE(ec);
  EXPECT_EQ(p.a->read_some(asio::buffer(buf.data(), 3), ec), 3u);
  EXPECT_EQ(std::string(buf.data(), 3), "hel");
  EXPECT_EQ(p.a->read_available(), "lo");
  EXPECT_EQ(p.a->native_fd(), -1);
}

TEST(MemoryStreamTest, EofAfterThePeersShutdownOrCloseAndWhatItWroteFirst) {
  Pair p;
  ASSERT_TRUE(p.b->send("x"));
  p.b->shutdown_write();
  EXPECT_FALSE(p.b->send("y"));  // nothing more from that side
  std::array<char, 8> buf{};
  error_code ec;
  EXPECT_EQ(p.a->read_some(asio::buffer(buf), ec), 1u);
  EXPECT_FALSE(ec);
  p.a->read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(p.a->send("still"));  // a half-close: the other direction works
  EXPECT_EQ(p.b->read_available(), "still");

  p.b->close();
  EXPECT_FALSE(p.b->is_open());
  p.a->peek(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_FALSE(p.a->send("z"));  // broken pipe
}

TEST(MemoryStreamTest, ResetFailsThePeersReadsAndDiscardsWhatItHadNotRead) {
  Pair p;
  ASSERT_TRUE(p.b->send("unread"));
  p.b->reset();
  std::array<char, 8> buf{};
  error_code ec;
  p.a->peek(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::connection_reset);
  p.a->read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::connection_reset);
}

TEST(MemoryStreamTest, WritesUpToTheCapacityThenWouldBlock) {
  Pair p;
  p.a->set_send_capacity(4);
  const std::array<asio::const_buffer, 2> data{asio::buffer("abc", 3), asio::buffer("def", 3)};
  error_code ec;
  EXPECT_EQ(p.a->write_some(data, ec), 4u);  // gathered
  EXPECT_FALSE(ec);
  EXPECT_EQ(p.a->write_some(data, ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_EQ(p.b->read_available(), "abcd");
  EXPECT_EQ(p.a->write_some(data, ec), 4u);
}

TEST(MemoryStreamTest, CompletesThroughTheExecutorNeverInline) {
  Pair p;
  ASSERT_TRUE(p.b->send("ready"));
  std::array<char, 8> buf{};
  Completion read, wait;
  p.a->async_read_some(asio::buffer(buf), record(read));
  p.a->async_wait(ByteStream::Ready::write, record(wait));
  EXPECT_FALSE(read.called);
  EXPECT_FALSE(wait.called);
  p.poll();
  EXPECT_TRUE(read.called);
  EXPECT_FALSE(read.ec);
  EXPECT_EQ(std::string(buf.data(), read.n), "ready");
  EXPECT_TRUE(wait.called);
}

TEST(MemoryStreamTest, PendingOperationsCompleteWhenTheirConditionHolds) {
  Pair p;
  p.b->set_send_capacity(2);
  ASSERT_TRUE(p.b->send("12"));
  std::array<char, 8> buf{};
  Completion read, readable, writable, peer, write;
  p.b->async_wait(ByteStream::Ready::write, record(writable));
  const std::array<asio::const_buffer, 1> more{asio::buffer("345", 3)};
  p.b->async_write_some(more, record(write));
  p.b->async_wait_peer(record(peer));
  p.poll();
  EXPECT_FALSE(writable.called);  // full
  EXPECT_FALSE(write.called);
  EXPECT_FALSE(peer.called);

  EXPECT_EQ(p.a->read_available(), "12");  // room again
  p.poll();
  EXPECT_TRUE(writable.called);
  ASSERT_TRUE(write.called);
  EXPECT_EQ(write.n, 2u);

  p.b->async_read_some(asio::buffer(buf), record(read));
  p.a->async_wait(ByteStream::Ready::read, record(readable));
  p.poll();
  EXPECT_FALSE(read.called);
  EXPECT_TRUE(readable.called);  // "34" waits for a
  ASSERT_TRUE(p.a->send("!"));
  p.poll();
  ASSERT_TRUE(read.called);
  EXPECT_EQ(std::string(buf.data(), read.n), "!");
  ASSERT_TRUE(peer.called);  // a byte arrived: no error
  EXPECT_FALSE(peer.ec);

  Completion closed;
  p.b->async_wait_peer(record(closed));
  p.a->close();
  p.poll();
  ASSERT_TRUE(closed.called);
  EXPECT_EQ(closed.ec, asio::error::eof);
}

TEST(MemoryStreamTest, PerOperationCancellationReadsNothing) {
  Pair p;
  std::array<char, 8> buf{};
  Completion read;
  asio::cancellation_signal signal;
  p.a->async_read_some(asio::buffer(buf),
                       asio::bind_cancellation_slot(signal.slot(), record(read)));
  EXPECT_EQ(p.a->pending_operations(), 1u);
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_EQ(p.a->pending_operations(), 0u);
  ASSERT_TRUE(p.b->send("kept"));
  p.poll();
  ASSERT_TRUE(read.called);
  EXPECT_EQ(read.ec, asio::error::operation_aborted);
  EXPECT_EQ(read.n, 0u);
  EXPECT_EQ(p.a->read_available(), "kept");
}

// The way the codecs use it: a read raced against a deadline (net/race.hpp) loses, and leaves
// nothing pending behind.
asio::awaitable<IoResult> read_briefly(ByteStream* s, StopSignal* stop, std::string* into) {
  into->resize(8);
  co_return co_await read_within(*s, asio::buffer(*into), std::chrono::milliseconds(1), *stop);
}

TEST(MemoryStreamTest, ARaceCancelsTheLosingRead) {
  Pair p;
  StopSignal stop(p.ctx.get_executor());
  std::string buf;
  std::optional<IoResult> got;
  spawn_into(p.ctx, read_briefly(p.a.get(), &stop, &buf), got);
  ASSERT_TRUE(run_until(p.ctx, [&] { return got.has_value(); }));
  EXPECT_EQ(got->first, asio::error::timed_out);
  EXPECT_EQ(p.a->pending_operations(), 0u);

  ASSERT_TRUE(p.b->send("late"));
  got.reset();
  spawn_into(p.ctx, read_briefly(p.a.get(), &stop, &buf), got);
  ASSERT_TRUE(run_until(p.ctx, [&] { return got.has_value(); }));
  EXPECT_FALSE(got->first);
  EXPECT_EQ(buf.substr(0, got->second), "late");
}

TEST(MemoryStreamTest, CancelAbortsAndShutdownBothWakes) {
  Pair p;
  Completion aborted, woken, writable;
  p.a->async_wait(ByteStream::Ready::read, record(aborted));
  p.a->cancel();
  p.poll();
  EXPECT_EQ(aborted.ec, asio::error::operation_aborted);
  EXPECT_TRUE(p.a->is_open());  // usable after

  p.a->set_send_capacity(0);
  p.a->async_wait(ByteStream::Ready::read, record(woken));
  p.a->async_wait(ByteStream::Ready::write, record(writable));
  p.a->shutdown_both();
  p.poll();
  EXPECT_TRUE(woken.called);
  EXPECT_FALSE(woken.ec);
  EXPECT_TRUE(writable.called);
  std::array<char, 1> buf{};
  error_code ec;
  p.a->read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(MemoryStreamTest, CloseAbortsItsOwnPendingOperations) {
  Pair p;
  Completion wait;
  p.a->async_wait_peer(record(wait));
  p.a->close();
  p.poll();
  EXPECT_EQ(wait.ec, asio::error::operation_aborted);
  Completion late;
  p.a->async_wait(ByteStream::Ready::read, record(late));
  p.poll();
  EXPECT_EQ(late.ec, asio::error::bad_descriptor);
}

// A coroutine left suspended on a pending read of a stream its own frame owns (a test that
// failed half-way) is destroyed with the io_context, as one on a socket would be; under
// LeakSanitizer the cycle (frame -> stream -> pending read -> frame) would fail the run.
asio::awaitable<std::size_t> wait_forever(std::unique_ptr<MemoryStream> s,
                                          [[maybe_unused]] std::unique_ptr<MemoryStream> peer) {
  std::array<char, 1> buf{};
  co_return co_await s->async_read_some(asio::buffer(buf), asio::use_awaitable);
}

TEST(MemoryStreamTest, APendingOperationDiesWithTheIoContext) {
  std::optional<std::size_t> never;
  {
    asio::io_context ctx;
    auto [mine, theirs] = MemoryStream::pair(ctx.get_executor());
    MemoryStream* watched = mine.get();
    spawn_into(ctx, wait_forever(std::move(mine), std::move(theirs)), never);
    ctx.poll();  // the coroutine starts, and waits
    EXPECT_EQ(watched->pending_operations(), 1u);
  }
  EXPECT_FALSE(never.has_value());
}

}  // namespace
}  // namespace sluice::test
