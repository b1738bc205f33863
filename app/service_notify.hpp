#pragma once
// The systemd service protocol (sd_notify(3)) for `Type=notify` units: tells the service
// manager when sluice is ready, reloading and stopping. Without NOTIFY_SOCKET in the environment
// (not started by systemd) every call does nothing.
//
// Called from the main thread only (the one that waits for signals), never from a worker: the
// send is a datagram to a local socket, but it is still a system call that could wait.
#include <string>

namespace sluice::app {

// READY=1, once every listener is bound and accepting. `status` is what `systemctl status`
// shows, e.g. "listening on http://127.0.0.1:8080 -> http://127.0.0.1:9000".
void notify_ready(const std::string& status);

// RELOADING=1 (with MONOTONIC_USEC, which newer systemd versions require) when a SIGHUP
// reload starts; notify_ready() again when it is done.
void notify_reloading();

// STOPPING=1, as the graceful stop begins (before the drain).
void notify_stopping();

}  // namespace sluice::app
