#include "daemon/log.hpp"

#include <unistd.h>

#include <string>

namespace tlsrpt::daemon {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
}

std::string_view to_token(LogLevel l) {
  switch (l) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::notice: return "notice";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "info";
}

bool log_level_from_token(std::string_view s, LogLevel& out) {
  for (LogLevel l : {LogLevel::error, LogLevel::warning, LogLevel::notice, LogLevel::info, LogLevel::debug}) {
    if (to_token(l) == s) {
      out = l;
      return true;
    }
  }
  return false;
}

void set_log_level(LogLevel l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }
bool log_enabled(LogLevel l) { return static_cast<int>(l) <= g_level.load(std::memory_order_relaxed); }

void log_line(LogLevel l, std::string_view message) {
  if (!log_enabled(l)) return;
  std::string line;
  line.reserve(message.size() + 5);
  line += '<';
  line += static_cast<char>('0' + static_cast<int>(l));
  line += '>';
  // A message must stay one line whatever the caller passed.
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;  // nowhere to report a failing log
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace tlsrpt::daemon
