#include "transport/server_registry.hpp"

namespace sluice {

template <typename T>
void ServerRegistry::prune(std::map<std::string, std::weak_ptr<T>>& map) {
  std::erase_if(map, [](const auto& entry) { return entry.second.expired(); });
}

std::shared_ptr<UpstreamServer> ServerRegistry::server(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto kept = servers_[key].lock()) return kept;
  prune(servers_);
  auto made = std::make_shared<UpstreamServer>(key);
  servers_[key] = made;
  return made;
}

std::shared_ptr<Transport> ServerRegistry::transport(
    const std::string& server_key, const std::string& options_key,
    const std::function<std::shared_ptr<Transport>()>& make) {
  const std::string key = server_key + '\n' + options_key;
  std::lock_guard lock(mutex_);
  if (auto kept = transports_[key].lock()) return kept;
  prune(transports_);
  auto made = make();
  ++transports_made_;
  transports_[key] = made;
  return made;
}

std::shared_ptr<PoolCounters> ServerRegistry::counters(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& kept = counters_[name];
  if (!kept) kept = std::make_shared<PoolCounters>();
  return kept;
}

std::size_t ServerRegistry::transports_made() const {
  std::lock_guard lock(mutex_);
  return transports_made_;
}

}  // namespace sluice
