#pragma once
// A strict reader of the Prometheus text exposition format 0.0.4, for tests of what
// Metrics::expose() and its collectors write. A scraper accepts a lot that dashboards then get
// wrong (a histogram whose buckets shrink, a series written twice, a sample of one family inside
// another); this reader refuses all of it and names the line, so that a scrape which parses here
// is one Prometheus reads the way sluice meant it.
//
// What it enforces, beyond the grammar (`name{label="value",...} value [timestamp]`):
//  - every family has one `# HELP` and one `# TYPE` line, both before its first sample, and its
//    lines are together (a family never reappears after another began);
//  - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; a label
//    appears once per sample; label values are quoted and use only the escapes \\ \" \n (HELP
//    text only \\ and \n);
//  - values are floats (decimal, or +Inf, -Inf, Inf, NaN); a timestamp is an integer;
//  - no series twice (same sample name and the same label set);
//  - a sample's name is its family's, or for a histogram <family>_bucket (with `le`), _sum,
//    _count (for a summary: <family> with `quantile`, _sum, _count);
//  - each histogram series (its labels without `le`) has buckets cumulative in ascending `le`,
//    a `le="+Inf"` bucket equal to its _count, and a _sum and a _count;
//  - counters, bucket counts and _count values are neither negative nor NaN;
//  - the text ends with a newline.
// Stricter than Prometheus itself where the format is loose and sluice never writes it: no
// blanks inside `{...}`, no trailing comma there, one blank between the tokens of a line.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test::prometheus {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;  // as written: a histogram's samples are <family>_bucket, _sum, _count
  Labels labels;     // values unescaped
  double value = 0;
};

struct Family {
  std::string name;
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;  // unescaped
  std::vector<Sample> samples;
};

struct ParseResult {
  std::vector<Family> families;
  // "" when the text is valid; else "line N: what is wrong: <the line>".
  std::string error;
};

ParseResult parse(std::string_view text);

// gtest form: success with the families in *out, or a failure that shows the error and the text.
testing::AssertionResult parses_strictly(std::string_view text, std::vector<Family>* out = nullptr);

// The value of the sample `name` with exactly `labels`, if there is one.
std::optional<double> value(const std::vector<Family>& families, std::string_view name,
                            const Labels& labels = {});
// The _count of the histogram series `family`{labels} (labels without `le`), if there is one.
std::optional<double> histogram_count(const std::vector<Family>& families, std::string_view family,
                                      const Labels& labels = {});
// The family called `name`, or null.
const Family* find_family(const std::vector<Family>& families, std::string_view name);

}  // namespace sluice::test::prometheus
