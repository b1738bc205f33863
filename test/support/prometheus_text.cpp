// The strict Prometheus text reader (prometheus_text.hpp): one pass over the lines, families
// checked as they close.
#include "support/prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>

namespace sluice::test::prometheus {

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool metric_name(std::string_view s) {
  if (s.empty() || !(name_start(s[0]) || s[0] == ':')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return name_start(c) || digit(c) || c == ':'; });
}

// [a-zA-Z_][a-zA-Z0-9_]*
bool label_name(std::string_view s) {
  if (s.empty() || !name_start(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return name_start(c) || digit(c); });
}

// A float as the format writes one: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?,
// or +Inf, -Inf, Inf, NaN. Nothing else (no hex, no "inf", no blanks).
std::optional<double> parse_float(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::size_t number_start = i;
  std::size_t digits = 0;
  while (i < s.size() && digit(s[i])) {
    ++i;
    ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && digit(s[i])) {
      ++i;
      ++digits;
    }
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t exponent_start = i;
    while (i < s.size() && digit(s[i]))
      ++i;
    if (i == exponent_start) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double v = 0;
  // from_chars takes no leading '+'; the sign is applied below.
  const char* first = s.data() + number_start;
  const auto [end, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return s[0] == '-' ? -v : v;
}

// -?digits (milliseconds since the epoch), fitting an int64.
bool timestamp(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && s[0] != '+' && ec == std::errc{} && end == s.data() + s.size();
}

// The label set as one unambiguous string (values re-escaped), for map keys and messages.
std::string render(const Labels& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + "}";
}

struct Failure {
  std::size_t line;
  std::string what;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  ParseResult run() {
    ParseResult result;
    if (auto failure = parse_all()) {
      result.error = "line " + std::to_string(failure->line) + ": " + failure->what;
      const std::string_view bad = line_text(failure->line);
      if (!bad.empty()) result.error += ": " + std::string(bad);
      return result;
    }
    result.families = std::move(families_);
    return result;
  }

 private:
  // The bookkeeping of the family being read, beyond what Family holds.
  struct Open {
    std::size_t first_line = 0;
    bool help = false;
    bool type = false;
    std::vector<std::size_t> sample_lines;  // parallel to Family::samples
  };

  std::optional<Failure> parse_all() {
    // Split into lines; the text must end with one.
    std::size_t start = 0;
    std::size_t number = 0;
    while (start < text_.size()) {
      const auto nl = text_.find('\n', start);
      lines_.push_back(text_.substr(start, nl == std::string_view::npos ? nl : nl - start));
      if (nl == std::string_view::npos) {
        return Failure{lines_.size(), "the text does not end with a newline"};
      }
      start = nl + 1;
    }
    if (lines_.empty()) return Failure{1, "the text is empty (not even a newline at its end)"};
    for (const std::string_view line : lines_) {
      ++number;
      if (line.empty()) continue;  // the format ignores empty lines
      auto bad = line[0] == '#' ? comment(line, number) : sample(line, number);
      if (bad) return bad;
    }
    return close_family(lines_.size());
  }

  std::string_view line_text(std::size_t number) const {
    return number >= 1 && number <= lines_.size() ? lines_[number - 1] : std::string_view{};
  }

  // "# HELP name text", "# TYPE name type", or any other comment (ignored).
  std::optional<Failure> comment(std::string_view line, std::size_t number) {
    const auto keyword = [line](std::string_view k) {
      return line == k || (line.starts_with(k) && line[k.size()] == ' ');
    };
    const bool help = keyword("# HELP");
    const bool type = keyword("# TYPE");
    if (!help && !type) return std::nullopt;
    const std::string_view after = line.size() > 7 ? line.substr(7) : std::string_view{};
    if (auto failure = enter_family(after.substr(0, after.find(' ')), number)) {
      return failure;
    }
    if (auto bad = metadata(line, help)) return Failure{number, *bad};
    return std::nullopt;
  }

  std::optional<std::string> metadata(std::string_view line, bool help) {
    std::string_view rest = line.substr(6);
    if (rest.empty() || rest[0] != ' ') return "no metric name after # HELP or # TYPE";
    rest.remove_prefix(1);
    const auto sp = rest.find(' ');
    const std::string_view name = rest.substr(0, sp);
    if (!metric_name(name)) return "invalid metric name \"" + std::string(name) + "\"";
    const std::string_view arg =
        sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    Family& f = families_.back();
    Open& o = open_;
    if (help) {
      if (o.help) return "a second # HELP for " + std::string(name);
      if (!f.samples.empty()) return "# HELP for " + std::string(name) + " after its samples";
      o.help = true;
      for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] != '\\') {
          f.help += arg[i];
        } else if (i + 1 < arg.size() && arg[i + 1] == '\\') {
          f.help += '\\';
          ++i;
        } else if (i + 1 < arg.size() && arg[i + 1] == 'n') {
          f.help += '\n';
          ++i;
        } else {
          return "HELP text escapes only \\\\ and \\n";
        }
      }
      return std::nullopt;
    }
    if (o.type) return "a second # TYPE for " + std::string(name);
    if (!f.samples.empty()) return "# TYPE for " + std::string(name) + " after its samples";
    static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary",
                                                  "untyped"};
    if (std::find(std::begin(kTypes), std::end(kTypes), arg) == std::end(kTypes)) {
      return "unknown metric type \"" + std::string(arg) + "\"";
    }
    o.type = true;
    f.type = std::string(arg);
    return std::nullopt;
  }

  // A HELP or TYPE line for `name`: the current family, or the start of a new one (which ends
  // the current one). An invalid name is left to metadata() to report.
  std::optional<Failure> enter_family(std::string_view name, std::size_t number) {
    if (!metric_name(name)) return std::nullopt;
    if (!families_.empty() && families_.back().name == name) return std::nullopt;
    if (auto failure = close_family(number)) return failure;
    if (const auto it = seen_.find(std::string(name)); it != seen_.end()) {
      return Failure{number, "family " + std::string(name) + " again (first at line " +
                                 std::to_string(it->second) +
                                 "): a family's lines must be together"};
    }
    seen_.emplace(name, number);
    families_.push_back(Family{std::string(name), {}, {}, {}});
    open_ = Open{number, false, false, {}};
    return std::nullopt;
  }

  // The family being read ends (another begins at line `number`, or the text ends): it must
  // have had its HELP and TYPE, and its histogram series must add up.
  std::optional<Failure> close_family(std::size_t number) {
    if (families_.empty()) return std::nullopt;
    const Family& f = families_.back();
    if (!open_.help || !open_.type) {
      return Failure{number, "family " + f.name + " (from line " +
                                 std::to_string(open_.first_line) + ") has no # " +
                                 (open_.help ? "TYPE" : "HELP")};
    }
    if (f.type == "histogram") return check_histogram(f);
    return std::nullopt;
  }

  std::optional<Failure> check_histogram(const Family& f) const {
    struct Bucket {
      double le;
      double count;
      std::size_t line;
    };
    struct Series {
      std::vector<Bucket> buckets;
      std::optional<double> count;
      std::size_t count_line = 0;
      bool sum = false;
      std::size_t first_line = 0;
    };
    std::map<std::string, Series> series;
    for (std::size_t i = 0; i < f.samples.size(); ++i) {
      const Sample& s = f.samples[i];
      const std::size_t line = open_.sample_lines[i];
      Labels labels = s.labels;
      const auto le = labels.find("le");
      std::optional<double> bound;
      if (le != labels.end()) {
        bound = parse_float(le->second);  // checked to parse when the sample was read
        labels.erase(le);
      }
      Series& one = series[render(labels)];
      if (one.first_line == 0) one.first_line = line;
      if (s.name == f.name + "_bucket") {
        one.buckets.push_back(Bucket{bound.value_or(0), s.value, line});
      } else if (s.name == f.name + "_count") {
        one.count = s.value;
        one.count_line = line;
      } else {
        one.sum = true;
      }
    }
    for (auto& [labels, one] : series) {
      const std::string what = f.name + labels;
      std::stable_sort(one.buckets.begin(), one.buckets.end(),
                       [](const Bucket& a, const Bucket& b) { return a.le < b.le; });
      for (std::size_t i = 1; i < one.buckets.size(); ++i) {
        if (one.buckets[i].count < one.buckets[i - 1].count) {
          return Failure{one.buckets[i].line,
                         what + ": buckets not cumulative (fewer than in the bucket below)"};
        }
      }
      if (one.buckets.empty() || !std::isinf(one.buckets.back().le)) {
        return Failure{one.first_line, what + ": no le=\"+Inf\" bucket"};
      }
      if (!one.count) return Failure{one.first_line, what + ": no _count"};
      if (!one.sum) return Failure{one.first_line, what + ": no _sum"};
      if (*one.count != one.buckets.back().count) {
        return Failure{one.count_line, what + ": _count differs from the le=\"+Inf\" bucket"};
      }
    }
    return std::nullopt;
  }

  // name[{labels}] value [timestamp]
  std::optional<Failure> sample(std::string_view line, std::size_t number) {
    if (auto bad = read_sample(line, number)) return Failure{number, *bad};
    return std::nullopt;
  }

  std::optional<std::string> read_sample(std::string_view line, std::size_t number) {
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    s.name = std::string(line.substr(0, i));
    if (!metric_name(s.name)) return "invalid metric name \"" + s.name + "\"";
    if (i < line.size() && line[i] == '{') {
      if (auto bad = labels(line, ++i, s.labels)) return bad;
    }
    if (i >= line.size() || line[i] != ' ') return "no value after the metric name and labels";
    std::string_view rest = line.substr(i + 1);
    const auto sp = rest.find(' ');
    const auto v = parse_float(rest.substr(0, sp));
    if (!v) return "the value \"" + std::string(rest.substr(0, sp)) + "\" is not a float";
    s.value = *v;
    if (sp != std::string_view::npos && !timestamp(rest.substr(sp + 1))) {
      return "the timestamp \"" + std::string(rest.substr(sp + 1)) + "\" is not an integer";
    }

    if (families_.empty()) return "sample before any # HELP and # TYPE";
    Family& f = families_.back();
    if (!open_.help || !open_.type) {
      return "sample of " + f.name + " before its # " + (open_.help ? "TYPE" : "HELP");
    }
    if (auto bad = belongs(f, s)) return bad;
    const std::string key = s.name + render(s.labels);
    if (const auto [it, fresh] = series_.emplace(key, number); !fresh) {
      return "series " + key + " written twice (first at line " + std::to_string(it->second) + ")";
    }
    f.samples.push_back(std::move(s));
    open_.sample_lines.push_back(number);
    return std::nullopt;
  }

  // `i` is just past '{'; on success it is just past '}'. label="value" pairs, comma-separated.
  static std::optional<std::string> labels(std::string_view line, std::size_t& i, Labels& out) {
    if (i < line.size() && line[i] == '}') {
      ++i;
      return std::nullopt;
    }
    for (;;) {
      const std::size_t start = i;
      while (i < line.size() && line[i] != '=' && line[i] != '}' && line[i] != ',')
        ++i;
      const std::string name(line.substr(start, i - start));
      if (!label_name(name)) return "invalid label name \"" + name + "\"";
      if (i >= line.size() || line[i] != '=') return "no '=' after label " + name;
      if (++i >= line.size() || line[i] != '"') return "label " + name + ": value not quoted";
      std::string value;
      for (++i;; ++i) {
        if (i >= line.size()) return "label " + name + ": value not closed";
        if (line[i] == '"') break;
        if (line[i] != '\\') {
          value += line[i];
          continue;
        }
        if (++i >= line.size()) return "label " + name + ": value not closed";
        if (line[i] == '\\' || line[i] == '"') {
          value += line[i];
        } else if (line[i] == 'n') {
          value += '\n';
        } else {
          return "label " + name + ": escape \\" + line[i] + " (only \\\\ \\\" \\n exist)";
        }
      }
      ++i;  // past the closing quote
      if (!out.emplace(name, std::move(value)).second) return "label " + name + " twice";
      if (i < line.size() && line[i] == '}') {
        ++i;
        return std::nullopt;
      }
      if (i >= line.size() || line[i] != ',') return "no ',' or '}' after label " + name;
      ++i;
    }
  }

  // Is `s` a sample of `f`, of the shape its type wants?
  static std::optional<std::string> belongs(const Family& f, const Sample& s) {
    const auto not_ours = [&] {
      return "sample " + s.name + " is not of family " + f.name + " (" + f.type + ")";
    };
    const auto non_negative = [&]() -> std::optional<std::string> {
      if (s.value >= 0) return std::nullopt;
      return s.name + ": a count must not be negative or NaN";
    };
    const bool has_le = s.labels.count("le") > 0;
    if (f.type == "histogram") {
      if (s.name == f.name + "_bucket") {
        if (!has_le) return "histogram bucket without le";
        const auto le = parse_float(s.labels.at("le"));
        if (!le || std::isnan(*le)) return "le=\"" + s.labels.at("le") + "\" is not a bound";
        return non_negative();
      }
      if (s.name == f.name + "_sum" || s.name == f.name + "_count") {
        if (has_le) return s.name + " with an le label";
        return s.name == f.name + "_count" ? non_negative() : std::nullopt;
      }
      return not_ours();
    }
    if (f.type == "summary") {
      const bool has_quantile = s.labels.count("quantile") > 0;
      if (s.name == f.name) {
        if (!has_quantile) return "summary sample without quantile";
        return std::nullopt;
      }
      if (s.name == f.name + "_sum" || s.name == f.name + "_count") {
        if (has_quantile) return s.name + " with a quantile label";
        return s.name == f.name + "_count" ? non_negative() : std::nullopt;
      }
      return not_ours();
    }
    if (s.name != f.name) return not_ours();
    if (f.type == "counter") return non_negative();
    return std::nullopt;
  }

  std::string_view text_;
  std::vector<std::string_view> lines_;
  std::vector<Family> families_;
  Open open_;                                  // the bookkeeping of families_.back()
  std::map<std::string, std::size_t> seen_;    // family name -> its first line
  std::map<std::string, std::size_t> series_;  // name{labels} -> its line
};

}  // namespace

ParseResult parse(std::string_view text) { return Parser(text).run(); }

testing::AssertionResult parses_strictly(std::string_view text, std::vector<Family>* out) {
  ParseResult r = parse(text);
  if (!r.error.empty()) {
    return testing::AssertionFailure() << "not a valid exposition: " << r.error << "\n--- text:\n"
                                       << text << "--- end";
  }
  if (out) *out = std::move(r.families);
  return testing::AssertionSuccess();
}

const Family* find_family(const std::vector<Family>& families, std::string_view name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> value(const std::vector<Family>& families, std::string_view name,
                            const Labels& labels) {
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

std::optional<double> histogram_count(const std::vector<Family>& families, std::string_view family,
                                      const Labels& labels) {
  const Family* f = find_family(families, family);
  if (!f || f->type != "histogram") return std::nullopt;
  const std::string count = std::string(family) + "_count";
  for (const auto& s : f->samples) {
    if (s.name == count && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace sluice::test::prometheus
