#include "alerts/sinks/log_sink.hpp"

#include "parser/text.hpp"

namespace tlsrpt::alerts {

// Longest log line (before escaping grows it): a summary longer than this is cut.
inline constexpr std::size_t kMaxLogField = 1024;

std::string log_line(const Alert& a) {
  std::string line = "alert " + std::string(to_token(a.severity)) + " " + escape_line(a.kind, 64) + " " +
                     escape_line(a.policy_domain.empty() ? "-" : a.policy_domain, 256) + " " +
                     escape_line(a.policy_type.empty() ? "-" : a.policy_type, 64) + " day=" + escape_line(a.day, 16) +
                     " (" + escape_line(a.notification, 16) + ")";
  if (a.id) line += " id=" + std::to_string(a.id);
  line += ": " + escape_line(a.summary, kMaxLogField);
  if (a.evidence.sources == "unauthenticated" || a.evidence.sources == "mixed")
    line += " [sources: " + a.evidence.sources + "]";
  if (!a.evidence.reporters.empty()) {  // "Google Inc. (signed by google.com)": who vouched for it
    std::string by;
    for (const auto& r : a.evidence.reporters) by += (by.empty() ? "" : ", ") + r;
    line += " [reported by: " + escape_line(by, kMaxLogField) + "]";
  }
  return line;
}

std::expected<void, DeliveryError> LogSink::deliver(const Alert& a, std::stop_token) {
  write_(log_line(a));
  return {};
}

}  // namespace tlsrpt::alerts
