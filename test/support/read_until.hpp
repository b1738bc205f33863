#pragma once
// The read-until-a-condition loop of the test clients, over any of the test sockets
// (detail::Socket, detail::TlsSocket): each has buffer(), fill(deadline) -> an Io enum with
// `ok` and `timeout`, and describe(io).
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

#include "support/http_wire.hpp"

namespace sluice::test::detail {

// Fills `socket.buffer()` until pred(buffer) holds; fails at the deadline or when the peer ends
// first, the message (prefixed with `who`) showing the bytes received.
template <typename TestSocket>
testing::AssertionResult read_until_on(TestSocket& socket,
                                       const std::function<bool(std::string_view)>& pred,
                                       std::chrono::milliseconds deadline, std::string_view who) {
  const auto until = Clock::now() + deadline;
  // Each round appends bytes or ends: the deadline bounds it.
  while (true) {
    if (pred(socket.buffer())) return testing::AssertionSuccess();
    const auto io = socket.fill(until);
    using IoKind = std::remove_const_t<decltype(io)>;
    if (io == IoKind::ok) continue;
    auto failure = testing::AssertionFailure() << who << ": ";
    if (io == IoKind::timeout) {
      failure << "deadline of " << format_ms(deadline) << " passed before the condition held";
    } else {
      failure << "condition never held: " << socket.describe(io);
    }
    return failure << "; " << socket.buffer().size() << " bytes received:\n"
                   << printable(socket.buffer());
  }
}

}  // namespace sluice::test::detail
