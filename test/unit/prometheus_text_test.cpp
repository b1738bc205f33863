// The strict Prometheus text reader of the test support (support/prometheus_text.hpp): it takes
// a valid exposition apart exactly, and it refuses each rule's violation, naming the line. A
// reader that let any of these through would let the metrics tests pass on a broken scrape.
#include "support/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/metrics.hpp"

namespace sluice::test::prometheus {
namespace {

// Every kind of line the format has: comments, escapes in HELP and label values, a timestamp,
// the special values, a histogram with two series (buckets listed out of order in one), a
// summary, an untyped family, empty braces, an empty line.
constexpr std::string_view kGood =
    "# A comment that is neither HELP nor TYPE.\n"
    "# HELP http_requests_total Requests\\\\answered,\\nby \"code\".\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
    "http_requests_total{method=\"post\",code=\"400\"} 3 1395066363000\n"
    "http_requests_total{path=\"C:\\\\dir\\\\\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 0\n"
    "\n"
    "# TYPE temperature gauge\n"
    "# HELP temperature Either order of HELP and TYPE is fine.\n"
    "temperature{where=\"out\"} -12.5e-1\n"
    "temperature{where=\"in\"} +Inf\n"
    "temperature{where=\"core\"} -Inf\n"
    "temperature{where=\"unknown\"} NaN\n"
    "temperature{} .5\n"
    "# HELP latency_seconds A histogram.\n"
    "# TYPE latency_seconds histogram\n"
    "latency_seconds_bucket{route=\"a\",le=\"0.05\"} 24054\n"
    "latency_seconds_bucket{route=\"a\",le=\"0.1\"} 33444\n"
    "latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 144320\n"
    "latency_seconds_sum{route=\"a\"} 53423\n"
    "latency_seconds_count{route=\"a\"} 144320\n"
    "latency_seconds_bucket{route=\"b\",le=\"+Inf\"} 2\n"
    "latency_seconds_bucket{route=\"b\",le=\"1e-3\"} 1\n"
    "latency_seconds_sum{route=\"b\"} 0.0025\n"
    "latency_seconds_count{route=\"b\"} 2\n"
    "# HELP rpc_seconds A summary.\n"
    "# TYPE rpc_seconds summary\n"
    "rpc_seconds{quantile=\"0.5\"} 4773\n"
    "rpc_seconds_sum 1.7560473e+07\n"
    "rpc_seconds_count 2693\n"
    "# HELP ns:metric_name Colons in a metric name.\n"
    "# TYPE ns:metric_name untyped\n"
    "ns:metric_name 7\n";

TEST(PrometheusText, TakesAValidExpositionApartExactly) {
  std::vector<Family> families;
  ASSERT_TRUE(parses_strictly(kGood, &families));
  ASSERT_EQ(families.size(), 5u);
  EXPECT_EQ(families[0].name, "http_requests_total");
  EXPECT_EQ(families[0].type, "counter");
  EXPECT_EQ(families[0].help, "Requests\\answered,\nby \"code\".");
  EXPECT_EQ(families[1].type, "gauge");
  EXPECT_EQ(families[2].type, "histogram");
  EXPECT_EQ(families[2].samples.size(), 9u);
  EXPECT_EQ(families[3].type, "summary");
  EXPECT_EQ(families[4].name, "ns:metric_name");

  EXPECT_EQ(value(families, "http_requests_total", {{"code", "200"}, {"method", "post"}}), 1027);
  EXPECT_EQ(value(families, "http_requests_total",
                  {{"path", "C:\\dir\\"}, {"quote", "say \"hi\""}, {"nl", "a\nb"}}),
            0)
      << "label values are unescaped";
  EXPECT_EQ(value(families, "http_requests_total", {{"code", "200"}}), std::nullopt)
      << "a label set matches exactly, not as a subset";
  EXPECT_EQ(value(families, "temperature", {{"where", "out"}}), -1.25);
  EXPECT_EQ(value(families, "temperature", {{"where", "in"}}), HUGE_VAL);
  EXPECT_EQ(value(families, "temperature", {{"where", "core"}}), -HUGE_VAL);
  EXPECT_TRUE(std::isnan(value(families, "temperature", {{"where", "unknown"}}).value_or(0)));
  EXPECT_EQ(value(families, "temperature"), 0.5);
  EXPECT_EQ(value(families, "latency_seconds_bucket", {{"route", "b"}, {"le", "1e-3"}}), 1);
  EXPECT_EQ(histogram_count(families, "latency_seconds", {{"route", "a"}}), 144320);
  EXPECT_EQ(histogram_count(families, "latency_seconds", {{"route", "b"}}), 2);
  EXPECT_EQ(histogram_count(families, "latency_seconds", {{"route", "c"}}), std::nullopt);
  EXPECT_EQ(histogram_count(families, "rpc_seconds"), std::nullopt) << "a summary";
  EXPECT_EQ(value(families, "rpc_seconds_sum"), 1.7560473e+07);
}

// sluice's own writer, with label values that need every escape: what the integration tests
// scrape is read by the same rules.
TEST(PrometheusText, AcceptsTheExpositionOfMetricsWithAwkwardNames) {
  MetricsLayout layout;
  layout.upstreams.push_back({"pool \"x\"", {"http://a:1/\\", "http://b:2/\n"}});
  layout.routes.push_back({"r\\1", 0});
  layout.routes.push_back({"r\"2\"", 0});
  layout.workers = 2;
  Metrics metrics(layout);
  metrics.add_collector([](std::string& out) {
    append_metric_header(out, "extra_gauge", "gauge", "A collector's help \\ with\na newline.");
    append_sample(out, "extra_gauge", "name=\"" + escape_label_value("a\"b\\c\nd") + "\"", 1.5);
  });
  std::vector<Family> families;
  ASSERT_TRUE(parses_strictly(metrics.expose(), &families));
  EXPECT_EQ(value(families, "sluice_upstream_requests_total",
                  {{"upstream", "pool \"x\""}, {"server", "http://b:2/\n"}}),
            0);
  EXPECT_EQ(histogram_count(families, "sluice_request_duration_seconds",
                            {{"route", "r\"2\""}, {"upstream", "pool \"x\""}}),
            0);
  EXPECT_EQ(value(families, "extra_gauge", {{"name", "a\"b\\c\nd"}}), 1.5);
  const Family* extra = find_family(families, "extra_gauge");
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(extra->help, "A collector's help \\ with\na newline.");
}

// One violation per case: the text, the line the error must name, and what it must say.
struct Bad {
  const char* name;
  std::string_view text;
  int line;
  std::string_view says;
};

void PrintTo(const Bad& bad, std::ostream* os) { *os << bad.name; }

class PrometheusTextRejects : public testing::TestWithParam<Bad> {};

TEST_P(PrometheusTextRejects, NamingTheLine) {
  const Bad& bad = GetParam();
  const ParseResult r = parse(bad.text);
  ASSERT_NE(r.error, "") << "accepted:\n" << bad.text;
  const std::string line = "line " + std::to_string(bad.line) + ": ";
  EXPECT_EQ(r.error.rfind(line, 0), 0u) << r.error;
  EXPECT_NE(r.error.find(bad.says), std::string::npos) << r.error;
  EXPECT_TRUE(r.families.empty());
}

// A valid counter family to put around a violation.
#define COUNTER_A "# HELP a A.\n# TYPE a counter\n"
#define HISTOGRAM_H "# HELP h H.\n# TYPE h histogram\n"

const Bad kBad[] = {
    {"NoHelp", "# TYPE a counter\na 1\n", 2, "before its # HELP"},
    {"NoType", "# HELP a A.\na 1\n", 2, "before its # TYPE"},
    {"NoTypeBeforeTheNextFamily", "# HELP a A.\n# HELP b B.\n# TYPE b gauge\nb 1\n", 2,
     "family a (from line 1) has no # TYPE"},
    {"NoHelpAtTheEnd", "# TYPE a counter\n", 1, "has no # HELP"},
    {"SampleBeforeAnyFamily", "a 1\n" COUNTER_A, 1, "before any # HELP"},
    {"HelpAfterSamples", "# TYPE a counter\na 1\n# HELP a A.\n", 2, "before its # HELP"},
    {"HelpTwice", COUNTER_A "# HELP a again\na 1\n", 3, "a second # HELP"},
    {"TypeTwice", COUNTER_A "# TYPE a counter\na 1\n", 3, "a second # TYPE"},
    {"FamilyLinesNotTogether",
     COUNTER_A "a{x=\"1\"} 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n", 7,
     "family a again (first at line 1)"},
    {"SampleOfAnotherFamily", COUNTER_A "a 1\n# HELP b B.\n# TYPE b gauge\na{x=\"2\"} 1\n", 6,
     "sample a is not of family b"},
    {"UnknownType", "# HELP a A.\n# TYPE a countr\na 1\n", 2, "unknown metric type"},
    {"MetricNameStartsWithADigit", "# HELP 1a A.\n# TYPE 1a counter\n", 1, "invalid metric name"},
    {"MetricNameWithADash", COUNTER_A "a-b 1\n", 3, "invalid metric name \"a-b\""},
    {"LabelNameWithAColon", COUNTER_A "a{x:y=\"1\"} 1\n", 3, "invalid label name \"x:y\""},
    {"LabelNameStartsWithADigit", COUNTER_A "a{1x=\"1\"} 1\n", 3, "invalid label name \"1x\""},
    {"LabelValueNotQuoted", COUNTER_A "a{x=1} 1\n", 3, "value not quoted"},
    {"LabelValueBadEscape", COUNTER_A "a{x=\"tab\\there\"} 1\n", 3, "escape \\t"},
    {"LabelValueNotClosed", COUNTER_A "a{x=\"open} 1\n", 3, "value not closed"},
    {"LabelTwice", COUNTER_A "a{x=\"1\",x=\"2\"} 1\n", 3, "label x twice"},
    {"TrailingCommaInLabels", COUNTER_A "a{x=\"1\",} 1\n", 3, "invalid label name \"\""},
    {"HelpBadEscape", "# HELP a tab\\there\n# TYPE a counter\n", 1, "HELP text escapes only"},
    {"ValueNotAFloat", COUNTER_A "a 1,5\n", 3, "the value \"1,5\" is not a float"},
    {"ValueLowercaseInf", COUNTER_A "a inf\n", 3, "is not a float"},
    {"ValueHex", COUNTER_A "a 0x10\n", 3, "is not a float"},
    {"ValueMissing", COUNTER_A "a{x=\"1\"}\n", 3, "no value"},
    {"TimestampNotAnInteger", COUNTER_A "a 1 12.5\n", 3, "timestamp"},
    {"SameSeriesTwice", COUNTER_A "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", 4,
     "written twice (first at line 3)"},
    {"CounterNegative", COUNTER_A "a -1\n", 3, "must not be negative"},
    {"CounterNaN", COUNTER_A "a NaN\n", 3, "must not be negative or NaN"},
    {"GaugeWithASuffix", "# HELP g G.\n# TYPE g gauge\ng_total 1\n", 3,
     "sample g_total is not of family g (gauge)"},
    {"HistogramForeignSample", HISTOGRAM_H "h_total 1\n", 3, "is not of family h (histogram)"},
    {"HistogramBucketWithoutLe", HISTOGRAM_H "h_bucket 1\n", 3, "bucket without le"},
    {"HistogramLeNotAFloat", HISTOGRAM_H "h_bucket{le=\"big\"} 1\n", 3, "is not a bound"},
    {"HistogramCountWithLe", HISTOGRAM_H "h_count{le=\"1\"} 1\n", 3, "with an le label"},
    {"HistogramBucketsNotCumulative",
     HISTOGRAM_H "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\nh_bucket{le=\"+Inf\"} 5\n"
                 "h_sum 1\nh_count 5\n",
     4, "buckets not cumulative"},
    {"HistogramNotCumulativeInLeOrder",
     HISTOGRAM_H "h_bucket{le=\"+Inf\"} 5\nh_bucket{le=\"2\"} 6\nh_bucket{le=\"1\"} 3\n"
                 "h_sum 1\nh_count 5\n",
     3, "buckets not cumulative"},
    {"HistogramNoInfBucket", HISTOGRAM_H "h_bucket{le=\"1\"} 5\nh_sum 1\nh_count 5\n", 3,
     "no le=\"+Inf\" bucket"},
    {"HistogramInfNotCount",
     HISTOGRAM_H "h_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 6\n", 6,
     "_count differs from the le=\"+Inf\" bucket"},
    {"HistogramNoCount", HISTOGRAM_H "h_bucket{le=\"+Inf\"} 5\nh_sum 1\n", 3, "no _count"},
    {"HistogramNoSum", HISTOGRAM_H "h_bucket{le=\"+Inf\"} 5\nh_count 5\n", 3, "no _sum"},
    {"HistogramOneSeriesOfTwoBroken",
     HISTOGRAM_H "h_bucket{r=\"a\",le=\"+Inf\"} 1\nh_sum{r=\"a\"} 1\nh_count{r=\"a\"} 1\n"
                 "h_bucket{r=\"b\",le=\"+Inf\"} 1\nh_sum{r=\"b\"} 1\nh_count{r=\"b\"} 2\n",
     8, "h{r=\"b\"}: _count differs"},
    {"HistogramCountNegative", HISTOGRAM_H "h_bucket{le=\"+Inf\"} -1\nh_sum 1\nh_count -1\n", 3,
     "must not be negative"},
    {"NoNewlineAtTheEnd", COUNTER_A "a 1", 3, "does not end with a newline"},
    {"Empty", "", 1, "empty"},
};

#undef COUNTER_A
#undef HISTOGRAM_H

INSTANTIATE_TEST_SUITE_P(Violations, PrometheusTextRejects, testing::ValuesIn(kBad),
                         [](const testing::TestParamInfo<Bad>& param) { return param.param.name; });

}  // namespace
}  // namespace sluice::test::prometheus
