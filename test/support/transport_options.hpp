#pragma once
// Tests change one transport option at a time: the proxy gets a default HTTP/1 transport with
// that option set (on top of what an earlier call set).
#include "sluice/reverse_proxy.hpp"
#include "sluice/transport.hpp"

namespace sluice::test {

template <typename Field, typename Value>
void set_transport_option(sluice::ReverseProxy& p, Field sluice::TransportOptions::*field,
                          Value value) {
  sluice::TransportOptions options =
      p.transport ? p.transport->options() : sluice::TransportOptions{};
  options.*field = value;
  p.transport = sluice::make_http1_transport(options);
}

}  // namespace sluice::test
