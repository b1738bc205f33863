#pragma once
// Network faults are normal events on the data path: every co_await on I/O returns its error
// as a value (STYLE §4.2) instead of throwing.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice {
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);
}

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <system_error>

namespace sluice {
// Asio reports boost::system codes; the public API speaks std::error_code. Conversions kept in
// one place so comparisons across the two never silently fail.
inline std::error_code to_std(boost::system::error_code ec) { return ec; }
inline std::error_code aborted_error() { return to_std(boost::asio::error::operation_aborted); }
}  // namespace sluice
