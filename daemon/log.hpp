// The daemon's log: one line per event to stderr, with the journald/syslog priority
// prefix ("<6>") so journald files each line at its level. Values that come from the
// network are escaped by the caller with escape_line() (parser/text.hpp). Thread-safe.
#pragma once

#include <atomic>
#include <string_view>

namespace tlsrpt::daemon {

enum class LogLevel { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

std::string_view to_token(LogLevel l);
bool log_level_from_token(std::string_view s, LogLevel& out);

void set_log_level(LogLevel l);
bool log_enabled(LogLevel l);
// Writes "<N>message\n" in one write(2), so concurrent lines never interleave.
void log_line(LogLevel l, std::string_view message);

inline void log_error(std::string_view m) { log_line(LogLevel::error, m); }
inline void log_warning(std::string_view m) { log_line(LogLevel::warning, m); }
inline void log_notice(std::string_view m) { log_line(LogLevel::notice, m); }
inline void log_info(std::string_view m) { log_line(LogLevel::info, m); }
inline void log_debug(std::string_view m) { log_line(LogLevel::debug, m); }

}  // namespace tlsrpt::daemon
