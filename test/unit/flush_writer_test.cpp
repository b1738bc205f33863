// FlushWriter (SPEC 24-28, L1, L2, L3), driven over a RecordingExchange: the flush schedule of
// each interval sign, and the stop that happens exactly once (docs/architecture.md, "The flush
// timer: stopped exactly once"). No socket: every write and flush the writer makes is a
// recorded call with its time and bytes.
#include "proxy/flush_writer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/nothrow.hpp"
#include "support/recording_exchange.hpp"

namespace sluice {

// Readable failure messages ("shutdown", not "4-byte object <04-00 00-00>"); found by ADL.
static void PrintTo(FlushStopReason reason, std::ostream* os) { *os << to_string(reason); }

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::RecordingExchange;
using test::run_to_end;
using Call = RecordingExchange::Call;
using Clock = std::chrono::steady_clock;

Response head_200() {
  Response res;
  res.status = 200;
  res.header.insert("Content-Type", "text/plain");
  res.content_length = 1000;
  return res;
}

// Deterministic: waits for the clock to move on, not for an event.
void let_time_pass(Clock::duration d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until)
    std::this_thread::sleep_until(until);
}

std::vector<Call::Kind> kinds(const RecordingExchange& ex) {
  std::vector<Call::Kind> out;
  for (const auto& c : ex.calls())
    out.push_back(c.kind);
  return out;
}

std::string describe(const RecordingExchange& ex) {
  std::string out;
  for (const auto& c : ex.calls()) {
    out += std::string(test::to_string(c.kind)) + "(" + std::to_string(c.bytes.size()) + " bytes" +
           (c.head ? ", head" : "") + (c.ec ? ", " + c.ec.message() : "") + ") ";
  }
  return out;
}

// A coroutine of its own (parameters by value: docs/architecture.md, GCC 12 conventions).
asio::awaitable<void> wait_on(asio::steady_timer* timer,
                              std::optional<boost::system::error_code>* waited) {
  auto [ec] = co_await timer->async_wait(use_nothrow);
  *waited = ec;
}

class FlushWriterTest : public testing::Test {
 protected:
  FlushWriterTest() {
    observer.flush_timer_started = [this](ResponseId id) { started.push_back(id); };
    observer.flush_timer_stopped = [this](ResponseId id, FlushStopReason reason) {
      stopped.emplace_back(id, reason);
    };
    observer.client_write = [this](ResponseId, std::size_t n) { client_bytes += n; };
    ex.set_observer(&observer);
    ex.begin_response(res);
  }

  std::error_code run(asio::awaitable<std::error_code> op) { return run_to_end(io, std::move(op)); }
  std::error_code write(FlushWriter& fw, std::string_view bytes) {
    return run(fw.write(asio::buffer(bytes.data(), bytes.size())));
  }

  asio::io_context io;
  Response res = head_200();
  RecordingExchange ex{io};
  const std::string head = RecordingExchange::head_text(res);
  Observer observer;
  std::vector<ResponseId> started;
  std::vector<std::pair<ResponseId, FlushStopReason>> stopped;
  std::size_t client_bytes = 0;
  std::atomic<std::int64_t> armed{0};
};

using StopList = std::vector<std::pair<ResponseId, FlushStopReason>>;

// SPEC L3: a negative interval sends the head at start(), even if no body ever comes, then
// flushes after every write.
TEST_F(FlushWriterTest, NegativeIntervalFlushesAtStartAndAfterEveryWrite) {
  FlushWriter fw(ex, -1ns, observer, armed);
  EXPECT_TRUE(ex.calls().size() == 1 && ex.wire().empty()) << describe(ex);

  EXPECT_FALSE(run(fw.start()));
  EXPECT_EQ(started, std::vector<ResponseId>{ex.id()});
  EXPECT_EQ(armed.load(), 1);
  ASSERT_EQ(kinds(ex), (std::vector<Call::Kind>{Call::begin, Call::flush})) << describe(ex);
  EXPECT_TRUE(ex.calls()[1].head);
  EXPECT_EQ(ex.calls()[1].bytes, head);
  EXPECT_EQ(ex.wire(), head);
  EXPECT_FALSE(fw.flush_due()) << "nothing is scheduled: every write flushes";

  EXPECT_FALSE(write(fw, "abc"));
  EXPECT_FALSE(write(fw, "de"));
  ASSERT_EQ(kinds(ex), (std::vector<Call::Kind>{Call::begin, Call::flush, Call::write_body,
                                                Call::flush, Call::write_body, Call::flush}))
      << describe(ex);
  EXPECT_EQ(ex.calls()[2].bytes, "abc");
  EXPECT_EQ(ex.calls()[3].bytes, "abc");
  EXPECT_EQ(ex.calls()[4].bytes, "de");
  EXPECT_EQ(ex.calls()[5].bytes, "de");
  EXPECT_LE(ex.calls()[2].at, ex.calls()[3].at);
  EXPECT_EQ(ex.wire(), head + "abcde");
  EXPECT_EQ(ex.pending(), "");
  EXPECT_EQ(client_bytes, ex.wire().size());

  fw.stop(FlushStopReason::complete);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::complete}}));
  EXPECT_EQ(armed.load(), 0);
}

// Go's -1: the head goes out at once, and body bytes already there go with it. start(false)
// (the first body bytes came with the head) flushes nothing and schedules nothing; the first
// write, flushed at once, carries the head: one flush for a small response, not two.
TEST_F(FlushWriterTest, NegativeIntervalWithTheBodyHereSendsTheHeadWithIt) {
  FlushWriter fw(ex, -1ns, observer, armed);
  EXPECT_FALSE(run(fw.start(/*body_follows=*/false)));
  EXPECT_EQ(started, std::vector<ResponseId>{ex.id()});
  ASSERT_EQ(kinds(ex), (std::vector<Call::Kind>{Call::begin})) << describe(ex);
  EXPECT_FALSE(fw.flush_due()) << "no flush of the head alone is scheduled";

  EXPECT_FALSE(write(fw, "hello"));
  ASSERT_EQ(kinds(ex), (std::vector<Call::Kind>{Call::begin, Call::write_body, Call::flush}))
      << describe(ex);
  EXPECT_TRUE(ex.calls()[2].head);
  EXPECT_EQ(ex.calls()[2].bytes, head + "hello") << "head and body in one flush";
  EXPECT_EQ(ex.wire(), head + "hello");
  fw.stop(FlushStopReason::complete);
}

// SPEC 26: a positive interval makes a flush due one interval after start(), so the head goes
// out within one interval even when the body is late; start() itself flushes nothing.
TEST_F(FlushWriterTest, PositiveIntervalMakesAFlushDueOneIntervalAfterStart) {
  constexpr auto kInterval = 50ms;
  FlushWriter fw(ex, kInterval, observer, armed);
  const auto before = Clock::now();
  EXPECT_FALSE(run(fw.start()));
  const auto after = Clock::now();
  EXPECT_EQ(started, std::vector<ResponseId>{ex.id()});
  EXPECT_EQ(armed.load(), 1);
  EXPECT_EQ(ex.count(Call::flush), 0u) << describe(ex);
  EXPECT_EQ(ex.pending(), head);
  const auto due = fw.flush_due();
  ASSERT_TRUE(due);
  EXPECT_GE(*due, before + kInterval);
  EXPECT_LE(*due, after + kInterval);

  // A write before the due flush does not move it (max latency).
  let_time_pass(2ms);
  EXPECT_FALSE(write(fw, "x"));
  EXPECT_EQ(fw.flush_due(), due);
  EXPECT_EQ(ex.count(Call::flush), 0u) << describe(ex);

  EXPECT_FALSE(run(fw.flush_now()));
  ASSERT_EQ(ex.count(Call::flush), 1u) << describe(ex);
  EXPECT_TRUE(ex.calls().back().head);
  EXPECT_EQ(ex.wire(), head + "x");
  EXPECT_FALSE(fw.flush_due()) << "the flush that fell due was done";

  // Nothing due: flush_now() does nothing.
  EXPECT_FALSE(run(fw.flush_now()));
  EXPECT_EQ(ex.count(Call::flush), 1u) << describe(ex);
}

// SPEC 25, 26: after a write a flush is due one interval later, unless one is already due: a
// second write does not push it back (max latency, not debounce).
TEST_F(FlushWriterTest, PositiveIntervalWriteMakesAFlushDueOneIntervalLaterAndASecondWriteKeepsIt) {
  constexpr auto kInterval = 100ms;
  FlushWriter fw(ex, kInterval, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  EXPECT_FALSE(run(fw.flush_now()));  // the head, due from start()
  ASSERT_FALSE(fw.flush_due());

  const auto before = Clock::now();
  EXPECT_FALSE(write(fw, "a"));
  const auto after = Clock::now();
  const auto due = fw.flush_due();
  ASSERT_TRUE(due);
  EXPECT_GE(*due, before + kInterval);
  EXPECT_LE(*due, after + kInterval);
  EXPECT_EQ(ex.count(Call::flush), 1u) << "a positive interval never flushes inside write()";

  let_time_pass(5ms);
  EXPECT_FALSE(write(fw, "b"));
  EXPECT_EQ(fw.flush_due(), due) << "the second write pushed the due flush back (debounce)";
  EXPECT_EQ(ex.count(Call::flush), 1u);
  EXPECT_EQ(ex.pending(), "ab");

  EXPECT_FALSE(run(fw.flush_now()));
  EXPECT_EQ(ex.calls().back().kind, Call::flush);
  EXPECT_EQ(ex.calls().back().bytes, "ab");
  EXPECT_EQ(ex.wire(), head + "ab");
  EXPECT_FALSE(fw.flush_due());

  // The next write schedules a new flush, one interval after it.
  const auto before_c = Clock::now();
  EXPECT_FALSE(write(fw, "c"));
  const auto due_c = fw.flush_due();
  ASSERT_TRUE(due_c);
  EXPECT_GE(*due_c, before_c + kInterval);
  fw.stop(FlushStopReason::complete);
  EXPECT_EQ(armed.load(), 0);
}

// SPEC 24: zero never flushes on a schedule; no timer starts, so no timer events either.
TEST_F(FlushWriterTest, ZeroIntervalNeverFlushesOnASchedule) {
  FlushWriter fw(ex, 0ns, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  EXPECT_TRUE(started.empty());
  EXPECT_EQ(armed.load(), 0);
  EXPECT_FALSE(fw.flush_due());
  EXPECT_FALSE(write(fw, "abc"));
  EXPECT_FALSE(write(fw, "def"));
  EXPECT_FALSE(fw.flush_due());
  EXPECT_FALSE(run(fw.flush_now()));
  EXPECT_EQ(ex.count(Call::flush), 0u) << describe(ex);
  EXPECT_EQ(ex.count(Call::write_body), 2u);
  EXPECT_EQ(ex.pending(), head + "abcdef");
  EXPECT_EQ(ex.wire(), "");
  fw.stop(FlushStopReason::complete);
  EXPECT_TRUE(stopped.empty()) << "stopped fired for a timer that never started";
  EXPECT_EQ(armed.load(), 0);
}

// SPEC L1: stop() is idempotent; the first reason is the one reported, once.
TEST_F(FlushWriterTest, StopIsIdempotentAndFiresOnceWithItsReason) {
  for (const auto reason : {FlushStopReason::complete, FlushStopReason::upstream_error,
                            FlushStopReason::upstream_timeout, FlushStopReason::client_gone,
                            FlushStopReason::shutdown}) {
    SCOPED_TRACE(to_string(reason));
    stopped.clear();
    RecordingExchange one(io);
    one.begin_response(res);
    {
      FlushWriter fw(one, 10ms, observer, armed);
      EXPECT_FALSE(run(fw.start()));
      EXPECT_EQ(armed.load(), 1);
      fw.stop(reason);
      EXPECT_EQ(armed.load(), 0);
      EXPECT_FALSE(fw.flush_due());
      fw.stop(FlushStopReason::complete);
      fw.stop(FlushStopReason::shutdown);
      EXPECT_EQ(armed.load(), 0);
    }  // and the destructor does not stop it again
    EXPECT_EQ(stopped, (StopList{{one.id(), reason}}));
    EXPECT_EQ(armed.load(), 0);
  }
}

// Go's flushPending guard: after stop(), write() and flush_now() write nothing, not even what
// was buffered and due before the stop.
TEST_F(FlushWriterTest, AfterStopWriteAndFlushNowWriteNothing) {
  FlushWriter fw(ex, 10ms, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  EXPECT_FALSE(write(fw, "before"));
  ASSERT_TRUE(fw.flush_due());
  const auto calls_before = ex.calls().size();
  fw.stop(FlushStopReason::client_gone);
  EXPECT_FALSE(fw.flush_due());

  EXPECT_TRUE(write(fw, "after")) << "write() after stop must report that nothing was written";
  let_time_pass(11ms);  // the flush that was due before the stop is past due now
  EXPECT_FALSE(run(fw.flush_now()));
  EXPECT_EQ(ex.calls().size(), calls_before) << describe(ex);
  EXPECT_EQ(ex.wire(), "");
  EXPECT_EQ(ex.pending(), head + "before");
  EXPECT_EQ(client_bytes, 0u);
}

TEST_F(FlushWriterTest, AfterStopANegativeIntervalWriterWritesNothing) {
  FlushWriter fw(ex, -1ns, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  const auto calls_before = ex.calls().size();
  const auto wire_before = ex.wire();
  fw.stop(FlushStopReason::upstream_error);
  EXPECT_TRUE(write(fw, "after"));
  EXPECT_FALSE(run(fw.flush_now()));
  EXPECT_EQ(ex.calls().size(), calls_before) << describe(ex);
  EXPECT_EQ(ex.wire(), wire_before);
}

// stop() cancels the response's timer: a wait on it (inside the pump's race) ends at once.
TEST_F(FlushWriterTest, StopCancelsTheTimer) {
  FlushWriter fw(ex, 10ms, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  fw.timer().expires_at(Clock::time_point::max());
  std::optional<boost::system::error_code> waited;
  asio::co_spawn(io, wait_on(&fw.timer(), &waited), asio::detached);
  io.restart();
  io.poll();  // the wait is pending now
  ASSERT_FALSE(waited);
  fw.stop(FlushStopReason::shutdown);
  io.restart();
  io.run_for(test::kDeadline);
  ASSERT_TRUE(waited) << "the timer wait did not end after stop()";
  EXPECT_EQ(*waited, asio::error::operation_aborted);
}

// The frame torn down without an explicit stop (server stop, exception): the destructor stops
// the writer with `shutdown`, once, and gives its armed count back.
TEST_F(FlushWriterTest, DestructorStopsWithShutdownWhenNobodyDid) {
  {
    FlushWriter fw(ex, 10ms, observer, armed);
    EXPECT_FALSE(run(fw.start()));
    EXPECT_FALSE(write(fw, "abc"));
    EXPECT_EQ(armed.load(), 1);
    EXPECT_TRUE(stopped.empty());
  }
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::shutdown}}));
  EXPECT_EQ(armed.load(), 0);
}

TEST_F(FlushWriterTest, DestructorOfAWriterThatNeverStartedFiresNothing) {
  { FlushWriter fw(ex, 10ms, observer, armed); }
  {
    FlushWriter zero(ex, 0ns, observer, armed);
    EXPECT_FALSE(run(zero.start()));
  }
  EXPECT_TRUE(started.empty());
  EXPECT_TRUE(stopped.empty());
  EXPECT_EQ(armed.load(), 0);
}

// events.hpp: callbacks must not throw, and one that does is contained. start() still starts
// (the head still goes out), the counter is right, and the stop still comes once.
TEST_F(FlushWriterTest, ThrowingStartedObserverIsContained) {
  int calls = 0;
  observer.flush_timer_started = [&calls](ResponseId) {
    ++calls;
    throw std::runtime_error("observer bug");
  };
  FlushWriter fw(ex, -1ns, observer, armed);
  std::error_code ec;
  EXPECT_NO_THROW(ec = run(fw.start()));
  EXPECT_FALSE(ec);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(armed.load(), 1);
  EXPECT_EQ(ex.wire(), head) << "the head was not flushed after the observer threw";
  EXPECT_FALSE(write(fw, "abc"));
  EXPECT_EQ(ex.wire(), head + "abc");
  fw.stop(FlushStopReason::complete);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::complete}}));
  EXPECT_EQ(armed.load(), 0);
}

TEST_F(FlushWriterTest, ThrowingStoppedObserverIsContained) {
  int calls = 0;
  observer.flush_timer_stopped = [&calls, this](ResponseId id, FlushStopReason reason) {
    ++calls;
    stopped.emplace_back(id, reason);
    throw std::runtime_error("observer bug");
  };
  FlushWriter fw(ex, 10ms, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  EXPECT_NO_THROW(fw.stop(FlushStopReason::upstream_timeout));
  EXPECT_NO_THROW(fw.stop(FlushStopReason::complete));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::upstream_timeout}}));
  EXPECT_EQ(armed.load(), 0);
  EXPECT_TRUE(write(fw, "after"));
  EXPECT_EQ(ex.count(Call::write_body), 0u);
}

// The destructor's stop with a throwing observer: nothing escapes the destructor (which would
// terminate the process).
TEST_F(FlushWriterTest, ThrowingStoppedObserverInTheDestructorIsContained) {
  int calls = 0;
  observer.flush_timer_stopped = [&calls, this](ResponseId id, FlushStopReason reason) {
    ++calls;
    stopped.emplace_back(id, reason);
    throw std::runtime_error("observer bug");
  };
  {
    FlushWriter fw(ex, -1ns, observer, armed);
    EXPECT_FALSE(run(fw.start()));
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::shutdown}}));
  EXPECT_EQ(armed.load(), 0);
}

// A client write that fails is reported by write(), and nothing is flushed after it.
TEST_F(FlushWriterTest, AFailedWriteIsReportedAndNotFlushed) {
  FlushWriter fw(ex, -1ns, observer, armed);
  EXPECT_FALSE(run(fw.start()));
  ex.fail_next_write();
  EXPECT_EQ(write(fw, "abc"), std::make_error_code(std::errc::broken_pipe));
  EXPECT_EQ(ex.calls().back().kind, Call::write_body) << describe(ex);
  EXPECT_EQ(ex.count(Call::flush), 1u) << "flushed after a failed write: " << describe(ex);

  ex.fail_next_flush();
  EXPECT_EQ(write(fw, "def"), std::make_error_code(std::errc::broken_pipe));
  EXPECT_EQ(ex.wire(), head);
  fw.stop(FlushStopReason::client_gone);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::client_gone}}));
}

// A negative interval's start() flush that fails is start()'s error (the pump then ends as
// client_gone); the timer still counts as started until stopped.
TEST_F(FlushWriterTest, AFailedFlushAtStartIsStartsError) {
  FlushWriter fw(ex, -1ns, observer, armed);
  ex.fail_next_flush();
  EXPECT_EQ(run(fw.start()), std::make_error_code(std::errc::broken_pipe));
  EXPECT_EQ(armed.load(), 1);
  fw.stop(FlushStopReason::client_gone);
  EXPECT_EQ(armed.load(), 0);
  EXPECT_EQ(stopped, (StopList{{ex.id(), FlushStopReason::client_gone}}));
}

}  // namespace
}  // namespace sluice
