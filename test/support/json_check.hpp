#pragma once
// A tiny strict JSON reader for the one shape the access log writes (--access-log json): a flat
// object whose values are strings, numbers or null. RFC 8259: no control characters in strings,
// only the listed escapes, the number grammar of §6, no whitespace, nothing after the object.
// It also insists on ASCII, which the log promises. Strings decode \u00XX to the byte XX, so a
// test can compare them with the bytes that went in. Used by access_log_test (the formatter)
// and admin_binary_test (the lines the binary writes).
#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>

namespace sluice::test {

// A number as written (its text), so that a test can check the exact digits.
struct JsonNumber {
  std::string text;
};
using JsonValue = std::variant<std::nullptr_t, JsonNumber, std::string>;
using JsonObject = std::map<std::string, JsonValue, std::less<>>;

// Parses `text` as one flat object into `out`. On failure the message says where the text broke
// the grammar and shows the text.
testing::AssertionResult parse_json_object(std::string_view text, JsonObject& out);

// The value of `key` if it is a string, else "<no string>".
std::string json_string(const JsonObject& o, std::string_view key);
// The text of `key`'s value if it is a number, else "<no number>".
std::string json_number(const JsonObject& o, std::string_view key);
// True if `key` is there and null.
bool json_null(const JsonObject& o, std::string_view key);

}  // namespace sluice::test
