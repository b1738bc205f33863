#pragma once
// Small text helpers the tests share.
#include <string_view>

namespace sluice::test {

// std::string_view::contains is C++23.
inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace sluice::test
