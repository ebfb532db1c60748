// The systemd service protocol: readiness and watchdog notifications (sd_notify)
// and sockets passed by socket activation (sd_listen_fds). Without systemd every
// call is a no-op.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tlsrpt::daemon::systemd {

void notify(const std::string& state);  // "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..."
// The watchdog interval systemd expects, if WatchdogSec= is set.
std::optional<std::chrono::microseconds> watchdog_interval();
// Inherited listening sockets by FileDescriptorName= ("https", "admin", "smtp", ...;
// unnamed sockets are "https"). Takes them: a second call returns nothing.
std::map<std::string, std::vector<int>> listen_fds();

}  // namespace tlsrpt::daemon::systemd
