#include "config_yaml.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "common/duration.hpp"
#include "config.hpp"

namespace sluice::app {

namespace {

constexpr std::string_view kDurationHint = "(use 250ms, 5s, 1m)";

// Levenshtein distance, for "did you mean": keys are short, and the loop is bounded by them.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A scalar written without quotes: yaml-cpp tags it "?" (quoted ones get "!").
bool plain(const YAML::Node& node) { return node.Tag() == "?"; }

const char* kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null: return "empty";
    default: return "a value";
  }
}

}  // namespace

std::string quote_value(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

std::vector<ConfigError> ConfigErrors::take() {
  std::stable_sort(list_.begin(), list_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
  });
  return std::move(list_);
}

Position position_of(const YAML::Node& node, Position fallback) {
  if (!node.IsDefined() || node.IsNull()) return fallback;
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0 || mark.column < 0) return fallback;
  return {mark.line + 1, mark.column + 1};
}

MapReader::MapReader(const YAML::Node& node, Position at, std::string what, ConfigErrors& errors)
    : node_(node), at_(position_of(node, at)), what_(std::move(what)), errors_(errors) {
  if (!node.IsMap()) {
    errors_.add(at_, what_ + " must be a mapping (key: value lines), not " + kind_of(node));
    return;
  }
  ok_ = true;
  // yaml-cpp keeps every pair of a mapping, repeated keys included: find them here.
  std::unordered_map<std::string, Position> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: *it is a temporary
    const Position key_at = position_of(key, at_);
    if (!key.IsScalar()) {
      errors_.add(key_at, what_ + ": a key must be a plain name");
      continue;
    }
    const auto [first, inserted] = seen.emplace(key.Scalar(), key_at);
    if (!inserted) {
      errors_.add(key_at, what_ + ": duplicate key " + quote_value(key.Scalar()) +
                              " (first at line " + std::to_string(first->second.line) + ")");
    }
  }
}

namespace {

// Records where documents start, and nothing else.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;
};

}  // namespace

std::optional<Position> second_document(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentStarts documents;
  if (!parser.HandleNextDocument(documents) || !parser.HandleNextDocument(documents)) {
    return std::nullopt;
  }
  if (documents.starts.size() < 2 || documents.starts[1].is_null()) return Position{1, 1};
  return Position{documents.starts[1].line + 1, documents.starts[1].column + 1};
}

std::optional<Position> first_content(std::string_view text) {
  int line = 1;
  for (std::size_t at = 0; at < text.size(); ++line) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view row = text.substr(at, end - at);
    const std::size_t first = row.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && row[first] != '#' && row.substr(first) != "---" &&
        row.substr(first) != "...") {
      return Position{line, static_cast<int>(first) + 1};
    }
    at = end + 1;
  }
  return std::nullopt;
}

Field MapReader::field(std::string_view key) {
  known_.emplace_back(key);
  Field f{std::string(key), YAML::Node(YAML::NodeType::Undefined), at_};
  if (!ok_) return f;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const YAML::Node name = it->first;  // copies: *it is a temporary
    if (name.IsScalar() && name.Scalar() == key) {
      // Copy-constructed, never assigned: yaml-cpp's Node::operator= merges the two nodes'
      // memory holders, a copy of the whole document's node set, which made a file of N
      // routes cost O(N^2) to load (800 routes: 2.7 s).
      return Field{std::string(key), YAML::Node(it->second), position_of(name, at_)};
    }
  }
  return f;
}

Field MapReader::required(std::string_view key) {
  Field f = field(key);
  if (ok_ && !f.present()) errors_.add(at_, what_ + ": " + std::string(key) + " is required");
  return f;
}

void MapReader::finish() {
  if (!ok_ || any_key_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: *it is a temporary
    if (!key.IsScalar()) continue;
    const std::string name = key.Scalar();
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
    std::string message = what_ + ": unknown key " + quote_value(name);
    const std::string* nearest = nullptr;
    std::size_t best = 3;  // suggest only a near miss: at most two edits
    for (const auto& k : known_) {
      const std::size_t d = edit_distance(name, k);
      if (d < best) {
        best = d;
        nearest = &k;
      }
    }
    if (nearest != nullptr) message += " (did you mean \"" + *nearest + "\"?)";
    errors_.add(position_of(it->first, at_), message);
  }
}

std::optional<std::string> read_string(const Field& f, ConfigErrors& errors) {
  if (!f.value.IsScalar()) {
    errors.add(f.value_at(), f.name + " must be a value, not " + kind_of(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<bool> read_bool(const Field& f, ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  if (plain(f.value) && *text == "true") return true;
  if (plain(f.value) && *text == "false") return false;
  errors.add(f.value_at(),
             f.name + ": " + quote_value(*text) + " is not a boolean (use true or false)");
  return std::nullopt;
}

std::optional<std::uint64_t> read_uint(const Field& f, std::uint64_t min, std::uint64_t max,
                                       ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  std::uint64_t n = 0;
  const char* last = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), last, n);
  if (!plain(f.value) || text->empty() || ec != std::errc{} || ptr != last) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) + " is not a whole number");
    return std::nullopt;
  }
  if (n < min || n > max) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) + " is out of range (" +
                                 std::to_string(min) + " to " + std::to_string(max) + ")");
    return std::nullopt;
  }
  return n;
}

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<std::chrono::nanoseconds> read_timeout(const Field& f, ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  if (all_digits(*text) && *text != "0") {
    errors.add(f.value_at(),
               f.name + ": " + quote_value(*text) + " has no unit " + std::string(kDurationHint));
    return std::nullopt;
  }
  const auto d = parse_duration(*text);
  if (!d) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) + " is not a duration " +
                                 std::string(kDurationHint));
    return std::nullopt;
  }
  if (d->count() <= 0) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) + " must be positive " +
                                 std::string(kDurationHint));
    return std::nullopt;
  }
  return *d;
}

std::optional<std::chrono::nanoseconds> read_flush_interval(const Field& f, ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  if (all_digits(*text) && *text != "0") {
    errors.add(f.value_at(),
               f.name + ": " + quote_value(*text) + " has no unit (use 0, -1, or e.g. 100ms)");
    return std::nullopt;
  }
  const auto d = parse_duration(*text);
  if (!d || (d->count() < 0 && *text != "-1")) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) +
                                 " is not a flush interval (use 0, -1, or e.g. 100ms)");
    return std::nullopt;
  }
  return *d;
}

std::optional<boost::asio::ip::tcp::endpoint> read_endpoint(const Field& f, ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  auto ep = parse_listen(*text);
  if (!ep) {
    errors.add(f.value_at(), f.name + ": " + quote_value(*text) +
                                 " is not an address (use 127.0.0.1:8080 or [::1]:8080)");
  }
  return ep;
}

bool is_sequence(const Field& f, ConfigErrors& errors) {
  if (f.value.IsSequence()) return true;
  errors.add(f.value_at(),
             f.name + " must be a list (lines starting with \"- \"), not " + kind_of(f.value));
  return false;
}

}  // namespace sluice::app
