#pragma once
// Strict reading of YAML nodes for the configuration file (fleet_config.cpp): a mapping whose
// keys must all be known and none repeated, and scalars read as exactly one kind of value.
// yaml-cpp alone is lenient where a proxy's config must not be: it keeps duplicate keys,
// converts `yes`, `on` and `y` to true, and has no notion of an unknown key. Every problem is
// appended to an error list with the node's position, and reading goes on, so that one pass
// reports every error in the file.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleet_config.hpp"

namespace sluice::app {

class ConfigErrors {
 public:
  void add(Position at, std::string message) { list_.push_back({at, std::move(message)}); }
  bool empty() const { return list_.empty(); }
  std::size_t size() const { return list_.size(); }
  std::vector<ConfigError> take();  // sorted by position

 private:
  std::vector<ConfigError> list_;
};

// 1-based; a node without a mark (a missing or null value) gets `fallback`.
Position position_of(const YAML::Node& node, Position fallback = {1, 1});

// A key and its value, as found in a mapping.
struct Field {
  std::string name;  // the key as written, for messages
  YAML::Node value;  // undefined when the key is absent
  Position key_at;   // where the key is (or the mapping, when absent)

  bool present() const { return value.IsDefined(); }
  Position value_at() const { return position_of(value, key_at); }
};

// One mapping, read key by key. Duplicates are reported at construction; keys never asked for
// with field() are reported by finish() as unknown, with the nearest known key suggested.
class MapReader {
 public:
  // `what` names the mapping in messages: "listener", "upstream 'api'"...
  MapReader(const YAML::Node& node, Position at, std::string what, ConfigErrors& errors);

  // False when the node was not a mapping (already reported); field() then finds nothing.
  bool ok() const { return ok_; }
  Field field(std::string_view key);
  // A key that must be present: reports it missing.
  Field required(std::string_view key);
  // Every key is known (a mapping of names, like upstreams:), so finish() reports none.
  void allow_any_key() { any_key_ = true; }
  void finish();

 private:
  YAML::Node node_;
  Position at_;
  std::string what_;
  ConfigErrors& errors_;
  bool ok_ = false;
  bool any_key_ = false;
  std::vector<std::string> known_;
};

// The position of a second YAML document in `text`, if it has one. YAML::LoadAll is not used: on
// some inputs (a stray ',' at the top level) yaml-cpp 0.7 returns an empty document again and
// again without consuming anything, and LoadAll never ends. This asks for two documents at most.
// May throw YAML::Exception, as parsing does.
std::optional<Position> second_document(std::string_view text);

// The first character of `text` that is not blank, a comment or a document marker ("---",
// "..."): where a file that parsed as empty has content yaml-cpp ignored.
std::optional<Position> first_content(std::string_view text);

// A value as a message quotes it: cut when long, control bytes shown as '?'.
std::string quote_value(std::string_view text);

// Scalar readers: each reports what is wrong with the value, naming the field, and returns
// nullopt then. Plain (unquoted) scalars only for numbers and booleans.
std::optional<std::string> read_string(const Field& f, ConfigErrors& errors);
std::optional<bool> read_bool(const Field& f, ConfigErrors& errors);
std::optional<std::uint64_t> read_uint(const Field& f, std::uint64_t min, std::uint64_t max,
                                       ConfigErrors& errors);
// A positive duration with a unit ("5s"); a bare number other than 0 is "without a unit".
std::optional<std::chrono::nanoseconds> read_timeout(const Field& f, ConfigErrors& errors);
// The flush interval: 0, -1 or a positive duration.
std::optional<std::chrono::nanoseconds> read_flush_interval(const Field& f, ConfigErrors& errors);
std::optional<boost::asio::ip::tcp::endpoint> read_endpoint(const Field& f, ConfigErrors& errors);
// One of a fixed set of words, e.g. balance: least_conn.
template <typename T>
std::optional<T> read_choice(const Field& f,
                             std::initializer_list<std::pair<std::string_view, T>> choices,
                             ConfigErrors& errors) {
  const auto text = read_string(f, errors);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (*text == name) return value;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  errors.add(f.value_at(), f.name + ": " + quote_value(*text) + " is not one of " + names);
  return std::nullopt;
}

// A sequence; a mapping or scalar in its place is reported.
bool is_sequence(const Field& f, ConfigErrors& errors);

}  // namespace sluice::app
