#pragma once
// Running a test's io_context, bounded, on the test thread: the coroutines under test are
// co_spawned, the io_context runs until what the test waits for holds, and the test asserts on
// the results after. No thread, no sleep: a wait ends on its event, or at kDeadline when the
// test is broken.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "support/deadline.hpp"

namespace sluice::test {

// Runs `ctx` until `done()` holds; false if kDeadline (or `limit`) passed first, or the io_context
// ran out of work (then nothing can make `done()` true any more).
template <typename Done>
bool run_until(boost::asio::io_context& ctx, Done done,
               std::chrono::steady_clock::duration limit = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + limit;
  // Bounded by the deadline: each round runs one handler or waits for the next timer.
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    if (ctx.stopped()) ctx.restart();
    if (ctx.run_one_until(end) == 0 && ctx.stopped()) return done();
  }
  return true;
}

// co_spawns `op` on `ctx`; its result lands in `out` (which must outlive the run). An exception
// escaping it fails the test. `running`, when given, counts the coroutines not finished yet: a
// fixture runs the io_context until it is 0 before it destroys what they use.
template <typename T>
void spawn_into(boost::asio::io_context& ctx, boost::asio::awaitable<T> op, std::optional<T>& out,
                int* running = nullptr) {
  if (running) ++*running;
  boost::asio::co_spawn(ctx, std::move(op), [&out, running](std::exception_ptr e, T value) {
    if (running) --*running;
    if (!e) {
      out = std::move(value);
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      ADD_FAILURE() << "a test coroutine threw: " << x.what();
    } catch (...) {
      ADD_FAILURE() << "a test coroutine threw";
    }
  });
}

}  // namespace sluice::test
