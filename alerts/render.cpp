#include "alerts/render.hpp"

#include <cstdio>

#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

std::string value(std::string_view s) { return escape_line(s, kMaxShownValue); }

std::string ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", r * 100.0);
  return buf;
}

std::string notice(const Alert& a) {
  if (a.notification == "reminder") return "still happening (reminder after the cooldown)";
  if (a.notification == "escalation") return "severity went up since the last message";
  if (a.notification == "summary") return "summary of alerts not sent";
  return "new alert";
}

void list(std::string& out, std::string_view title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out += std::string(title) + ":\n";
  for (const auto& i : items) out += "  " + value(i) + "\n";
}

void counts(std::string& out, std::string_view title, const std::vector<NamedCount>& items) {
  if (items.empty()) return;
  out += std::string(title) + ":\n";
  for (const auto& i : items) out += "  " + value(i.name) + ": " + std::to_string(i.sessions) + "\n";
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + value(x);
  return s;
}

}  // namespace

std::string wrap(std::string_view text, std::size_t width) {
  std::string out, line;
  auto flush = [&] {
    out += line;
    out += '\n';
    line.clear();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view word = text.substr(i, j - i);
    i = j;
    if (word.empty()) continue;
    while (word.size() > kMaxBodyLine) {  // a word no line can hold: split it
      if (!line.empty()) flush();
      std::string_view head = cut_utf8(word, kMaxBodyLine);
      if (head.empty()) head = word.substr(0, kMaxBodyLine);
      line = std::string(head);
      flush();
      word.remove_prefix(head.size());
    }
    if (!line.empty() && line.size() + 1 + word.size() > width) flush();
    if (!line.empty()) line += ' ';
    line += word;
  }
  if (!line.empty()) flush();
  return out;
}

std::string render_text(const Alert& a) {
  const Evidence& e = a.evidence;
  std::string out = wrap(flatten_line(a.summary)) + "\n";
  if (!a.policy_domain.empty()) out += "Domain:       " + value(a.policy_domain) + "\n";
  out += "Alert:        " + std::string(kind_title(a.kind)) + " (" + a.kind + "), severity " +
         std::string(to_token(a.severity)) + "\n";
  if (!a.day.empty()) out += "Report day:   " + value(a.day) + " (UTC)\n";
  if (!a.policy_type.empty()) out += "Policy type:  " + value(a.policy_type) + "\n";
  out += "This message: " + notice(a) + "\n\n";
  out += "What this means and what to do\n";
  out += wrap(flatten_line(a.explanation)) + "\n";

  out += "Evidence\n";
  list(out, "Reported by (" + value(e.sources) + " reports)", e.reporters);
  if (e.suppressed) out += "Alerts not sent: " + std::to_string(e.suppressed) + "\n";
  if (a.kind != kAlertsSuppressed)
    out += "Sessions that day: " + std::to_string(e.successful_sessions) + " successful, " +
           std::to_string(e.failed_sessions) + " failed\n";
  if (e.failure_ratio)
    out += "Failure ratio: " + ratio(*e.failure_ratio) + " (baseline " + ratio(e.baseline_failure_ratio.value_or(0)) +
           ")\n";
  if (e.first_report) out += "First report for this domain: nothing earlier to compare with.\n";
  else if (a.kind != kAlertsSuppressed) out += "Compared with: " + std::to_string(e.baseline_days) + " earlier day(s) of reports\n";
  counts(out, "Failed sessions by result type", e.result_types);
  counts(out, "Failed sessions by receiving MX", e.mx_hosts);
  list(out, "Policy before", e.old_policy);
  list(out, "Policy now", e.new_policy);
  list(out, "Added", e.added);
  list(out, "Removed", e.removed);
  out += "\n-- \nSent by tlsrptd, the TLS-RPT (RFC 8460) report receiver.\n"
         "`tlsrptd alerts list --open` shows every open alert.\n";
  return out;
}

std::string render_chat(const Alert& a) {
  const Evidence& e = a.evidence;
  std::string out = "[tlsrptd] " + std::string(to_token(a.severity)) + ": " +
                    (a.policy_domain.empty() ? std::string() : value(a.policy_domain) + ": ") +
                    flatten_line(a.summary) + "\n" + flatten_line(a.explanation) + "\n";
  if (!e.reporters.empty()) out += "Reported by: " + joined(e.reporters) + " (" + value(e.sources) + ")\n";
  if (!e.result_types.empty()) {
    out += "Failed sessions:";
    for (const auto& r : e.result_types) out += " " + value(r.name) + "=" + std::to_string(r.sessions);
    out += "\n";
  }
  if (!e.mx_hosts.empty()) {
    out += "MX hosts:";
    for (const auto& r : e.mx_hosts) out += " " + value(r.name) + "=" + std::to_string(r.sessions);
    out += "\n";
  }
  if (!a.day.empty()) out += "Report day: " + value(a.day) + " (" + a.kind + ")";
  return out;
}

}  // namespace tlsrpt::alerts
