#include "service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <ctime>

namespace sluice::app {

namespace {

// sd_notify's result is deliberately ignored: a manager that does not listen is not an error
// of the proxy, and there is nothing to retry.
void send(const std::string& state) { static_cast<void>(sd_notify(0, state.c_str())); }

unsigned long long monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
         static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
}

}  // namespace

void notify_ready(const std::string& status) { send("READY=1\nSTATUS=" + status); }

void notify_reloading() {
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) + "\nSTATUS=reloading");
}

void notify_stopping() { send("STOPPING=1\nSTATUS=stopping"); }

}  // namespace sluice::app
