// `sluice check` beyond the loader (app/fleet_runtime.hpp, check_fleet_config): what start-up
// loads besides the text, the listeners' certificates and the upstreams' CA bundles, with
// relative names taken from the configuration file's folder and each failure at the position
// of what named the file; and the metrics layout a fleet gets.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "fleet_runtime.hpp"
#include "support/test_certs.hpp"

namespace sluice::test {
namespace {

using app::ConfigError;
using app::FleetConfig;

std::vector<ConfigError> errors_of(
    const std::variant<FleetConfig, std::vector<ConfigError>>& checked) {
  if (const auto* errors = std::get_if<std::vector<ConfigError>>(&checked)) return *errors;
  return {};
}

const char* const kUpstreams =
    "upstreams:\n"
    "  api:\n"
    "    servers:\n"
    "      - url: https://127.0.0.1:9001\n";

TEST(FleetCheck, CertificatesAreLoadedRelativeToTheConfigFile) {
  TestPki pki;
  const IssuedCert leaf = pki.issue({"localhost"}, "site");
  const std::string text = std::string(
                               "listeners:\n"
                               "  - listen: 127.0.0.1:0\n"
                               "    tls:\n"
                               "      - {cert: site.crt, key: site.key}\n") +
                           kUpstreams + "routes:\n  - upstream: api\n";
  const auto checked = app::check_fleet_config(text, pki.dir());
  EXPECT_TRUE(std::holds_alternative<FleetConfig>(checked))
      << (errors_of(checked).empty() ? "" : errors_of(checked).front().message);
  // From another folder the same names are missing files.
  const auto elsewhere = app::check_fleet_config(text, "/nonexistent-sluice-dir");
  const auto errors = errors_of(elsewhere);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at.line, 4);
  EXPECT_NE(errors[0].message.find("site.crt"), std::string::npos) << errors[0].message;
}

TEST(FleetCheck, AMissingCaBundleIsReportedAtItsUpstream) {
  const std::string text = std::string("listeners:\n  - listen: 127.0.0.1:0\n") + kUpstreams +
                           "    tls: {ca: missing-ca.pem}\n"
                           "routes:\n  - upstream: api\n";
  const auto errors = errors_of(app::check_fleet_config(text, "/tmp"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at.line, 4) << "the upstream's name";
  EXPECT_NE(errors[0].message.find("missing-ca.pem"), std::string::npos) << errors[0].message;
}

TEST(FleetCheck, LoaderErrorsComeFirstAndAloneWhenTheTextIsWrong) {
  // The build (files) runs only on a text that loaded: a typo is not drowned in file errors.
  const std::string text =
      "listeners:\n  - listen: 127.0.0.1:0\n    tls: [{cert: nope.pem, key: nope.key}]\n"
      "upstreams:\n  api:\n    servers: [{url: http://127.0.0.1:1}]\n"
      "routes:\n  - upsteam: api\n";
  const auto errors = errors_of(app::check_fleet_config(text, "/tmp"));
  ASSERT_FALSE(errors.empty());
  for (const ConfigError& e : errors) {
    EXPECT_EQ(e.message.find("nope.pem"), std::string::npos) << e.message;
  }
}

TEST(FleetCheck, MetricsLayoutNamesRoutesUpstreamsAndDnsEntries) {
  const std::string text =
      "listeners:\n  - listen: 127.0.0.1:0\n"
      "upstreams:\n"
      "  api:\n"
      "    servers:\n"
      "      - url: http://127.0.0.1:9002\n"
      "      - dns: api.internal:9000\n"
      "      - url: http://127.0.0.1:9001\n"
      "  web:\n"
      "    servers: [{url: http://127.0.0.1:9003}]\n"
      "routes:\n"
      "  - {name: v1, path_prefix: /v1, upstream: api}\n"
      "  - upstream: web\n";
  const auto checked = app::check_fleet_config(text, "/tmp");
  ASSERT_TRUE(std::holds_alternative<FleetConfig>(checked));
  const MetricsLayout layout = app::fleet_metrics_layout(std::get<FleetConfig>(checked), 2);
  ASSERT_EQ(layout.upstreams.size(), 2u);
  EXPECT_EQ(layout.upstreams[0].name, "api");
  EXPECT_EQ(layout.upstreams[0].servers,
            (std::vector<std::string>{"dns:api.internal:9000", "http://127.0.0.1:9001",
                                      "http://127.0.0.1:9002"}));
  ASSERT_EQ(layout.routes.size(), 2u);
  EXPECT_EQ(layout.routes[0].name, "v1");
  EXPECT_EQ(layout.routes[1].name, "1") << "an unnamed route is its index";
  EXPECT_EQ(layout.routes[1].upstream, 1u);
  EXPECT_EQ(layout.workers, 2u);
}

}  // namespace
}  // namespace sluice::test
