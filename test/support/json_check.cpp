#include "support/json_check.hpp"

#include <optional>
#include <regex>
#include <utility>

namespace sluice::test {

namespace {

class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  // The object, or nullopt with error() saying where the text broke the grammar.
  std::optional<JsonObject> object() {
    JsonObject out;
    for (const char c : s_) {
      if (static_cast<unsigned char>(c) >= 0x80) return fail("not ASCII");
    }
    if (!eat('{')) return fail("no '{'");
    if (!eat('}')) {
      do {
        auto key = string();
        if (!key || !eat(':')) return fail("bad key");
        auto value = scalar();
        if (!value) return fail("bad value for " + *key);
        if (!out.emplace(*key, std::move(*value)).second) return fail("duplicate " + *key);
      } while (eat(','));
      if (!eat('}')) return fail("no '}'");
    }
    if (pos_ != s_.size()) return fail("text after the object");
    return out;
  }
  const std::string& error() const { return error_; }

 private:
  std::nullopt_t fail(std::string why) {
    if (error_.empty()) error_ = why + " at " + std::to_string(pos_);
    return std::nullopt;
  }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<JsonValue> scalar() {
    if (s_.substr(pos_, 4) == "null") {
      pos_ += 4;
      return JsonValue{nullptr};
    }
    if (pos_ < s_.size() && s_[pos_] == '"') {
      auto s = string();
      if (!s) return std::nullopt;
      return JsonValue{std::move(*s)};
    }
    auto n = number();
    if (!n) return std::nullopt;
    return JsonValue{JsonNumber{std::move(*n)}};
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) return std::nullopt;
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return std::nullopt;
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            const int digit = (h >= '0' && h <= '9')   ? h - '0'
                              : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                              : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                       : -1;
            if (digit < 0) return std::nullopt;
            code = code * 16 + static_cast<unsigned>(digit);
          }
          if (code > 0xff) return std::nullopt;  // valid JSON, but never written by the log
          out += static_cast<char>(code);
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string> number() {
    static const std::regex grammar(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
    std::size_t end = pos_;
    while (end < s_.size() &&
           std::string_view("-+.eE0123456789").find(s_[end]) != std::string_view::npos) {
      ++end;
    }
    std::string text(s_.substr(pos_, end - pos_));
    if (!std::regex_match(text, grammar)) return std::nullopt;
    pos_ = end;
    return text;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace

testing::AssertionResult parse_json_object(std::string_view text, JsonObject& out) {
  JsonReader r(text);
  auto o = r.object();
  if (!o)
    return testing::AssertionFailure() << "not a flat JSON object: " << r.error() << ": " << text;
  out = std::move(*o);
  return testing::AssertionSuccess();
}

std::string json_string(const JsonObject& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || !std::holds_alternative<std::string>(it->second)) return "<no string>";
  return std::get<std::string>(it->second);
}

std::string json_number(const JsonObject& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || !std::holds_alternative<JsonNumber>(it->second)) return "<no number>";
  return std::get<JsonNumber>(it->second).text;
}

bool json_null(const JsonObject& o, std::string_view key) {
  const auto it = o.find(key);
  return it != o.end() && std::holds_alternative<std::nullptr_t>(it->second);
}

}  // namespace sluice::test
