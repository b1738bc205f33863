#include "support/proxy_harness.hpp"

#include <stdexcept>

namespace sluice::test {

ProxyHarness::ProxyHarness(const std::string& upstream_url, Configure configure,
                           sluice::ServerOptions options) {
  auto target = sluice::Url::parse(upstream_url);
  if (!target) throw std::invalid_argument("bad upstream url " + upstream_url);
  proxy_ = sluice::single_host(*target);
  auto sink = [this](std::string_view line) {
    std::lock_guard lock(log_mutex_);
    log_.emplace_back(line);
  };
  proxy_->error_log = sink;
  proxy_->observer = events_.observer();
  if (configure) configure(*proxy_);

  options.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
  options.log = sink;
  server_ = std::make_unique<sluice::Server>(
      options, [p = proxy_.get()](sluice::Exchange& ex) { return p->serve(ex); });
  server_->start();
}

ProxyHarness::~ProxyHarness() { stop(); }

void ProxyHarness::stop(std::chrono::nanoseconds grace) {
  if (server_) server_->stop(grace);
}

std::uint16_t ProxyHarness::port() const { return server_->local_endpoint().port(); }

std::vector<std::string> ProxyHarness::log_lines() const {
  std::lock_guard lock(log_mutex_);
  return log_;
}

bool ProxyHarness::log_contains(std::string_view text) const {
  std::lock_guard lock(log_mutex_);
  for (const auto& line : log_) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace sluice::test
