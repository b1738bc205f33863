#pragma once
// The fleet's servers and their transports, keyed so that a reload finds what it keeps:
//   - an UpstreamServer (health, active requests) per server URL ("http://10.0.0.1:9001");
//   - a Transport (and so its keep-alive pools) per server URL and transport options, so a
//     server whose options did not change keeps its idle connections: no reconnect storm.
// The registry holds them weakly: the route tables that use them own them, so a server that no
// reload mentions again lives until the last request on the old table ends, and then its
// transport is destroyed, which closes its pooled connections.
//
// Used where configurations are built (the main thread), never on a request's path.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "sluice/transport.hpp"
#include "transport/balancing_transport.hpp"
#include "transport/upstream_server.hpp"

namespace sluice {

class ServerRegistry {
 public:
  // The server for `key`: the one already in use, or a new one (up, no requests).
  std::shared_ptr<UpstreamServer> server(const std::string& key);

  // The transport to `server_key` with options described by `options_key` (a text that differs
  // whenever the options do): the one in use, or make()'s.
  std::shared_ptr<Transport> transport(const std::string& server_key,
                                       const std::string& options_key,
                                       const std::function<std::shared_ptr<Transport>()>& make);

  // The counters of the upstream pool `name`, kept for the process's life (metrics counters
  // must not go back to zero on a reload).
  std::shared_ptr<PoolCounters> counters(const std::string& name);

  // Transports made so far (a reload that keeps every server makes none).
  std::size_t transports_made() const;

 private:
  template <typename T>
  static void prune(std::map<std::string, std::weak_ptr<T>>& map);

  mutable std::mutex mutex_;
  std::map<std::string, std::weak_ptr<UpstreamServer>> servers_;
  std::map<std::string, std::weak_ptr<Transport>> transports_;
  std::map<std::string, std::shared_ptr<PoolCounters>> counters_;
  std::size_t transports_made_ = 0;
};

}  // namespace sluice
