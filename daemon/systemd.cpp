#include "daemon/systemd.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace tlsrpt::daemon::systemd {

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

std::map<std::string, std::vector<int>> listen_fds() {
  std::map<std::string, std::vector<int>> out;
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);  // 1: unset LISTEN_* so children don't inherit them
  for (int i = 0; i < n; ++i) {
    std::string name = names && names[i] ? names[i] : "https";
    if (name == "unknown" || name.empty()) name = "https";
    out[name].push_back(SD_LISTEN_FDS_START + i);
  }
  if (names) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
  return out;
}

}  // namespace tlsrpt::daemon::systemd
