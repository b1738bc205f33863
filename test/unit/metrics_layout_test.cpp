// A MetricsLayout whose label sets would collide is refused when the Metrics is made: two
// series with one label set would make every scrape invalid.
#include <gtest/gtest.h>

#include <stdexcept>

#include "sluice/metrics.hpp"

namespace sluice::test {
namespace {

MetricsLayout two_routes() {
  MetricsLayout layout;
  layout.upstreams.push_back({"api", {"http://10.0.0.1:80", "http://10.0.0.2:80"}});
  layout.upstreams.push_back({"web", {"http://10.0.0.3:80"}});
  layout.routes.push_back({"api", 0});
  layout.routes.push_back({"web", 1});
  return layout;
}

TEST(MetricsLayout, DistinctNamesAreAccepted) { EXPECT_NO_THROW(Metrics{two_routes()}); }

TEST(MetricsLayout, TwoRoutesWithOneNameAreRefused) {
  auto layout = two_routes();
  layout.routes[1].name = "api";
  EXPECT_THROW(Metrics{layout}, std::invalid_argument);
}

TEST(MetricsLayout, TwoUpstreamsWithOneNameAreRefused) {
  auto layout = two_routes();
  layout.upstreams[1].name = "api";
  EXPECT_THROW(Metrics{layout}, std::invalid_argument);
}

TEST(MetricsLayout, OneServerTwiceInAnUpstreamIsRefused) {
  auto layout = two_routes();
  layout.upstreams[0].servers[1] = layout.upstreams[0].servers[0];
  EXPECT_THROW(Metrics{layout}, std::invalid_argument);
}

TEST(MetricsLayout, ARouteToAMissingUpstreamIsRefused) {
  auto layout = two_routes();
  layout.routes[1].upstream = 2;
  EXPECT_THROW(Metrics{layout}, std::invalid_argument);
}

}  // namespace
}  // namespace sluice::test
