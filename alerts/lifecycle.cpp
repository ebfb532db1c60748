#include "alerts/lifecycle.hpp"

#include <algorithm>

#include "parser/datetime.hpp"
#include "parser/org_domain.hpp"

namespace tlsrpt::alerts {

bool is_stale(std::string_view day, SysSeconds now, std::chrono::seconds stale_after) {
  auto d = parse_date(day);
  if (!d) return true;
  // RFC 8460 §4.1: a report covers the whole UTC day; it is "old" from its end.
  SysSeconds end = std::chrono::time_point_cast<std::chrono::seconds>(*d + std::chrono::days(1));
  return now - end > stale_after;
}

Decision decide(const Finding& f, bool open, const std::optional<LastNotification>& last, SysSeconds now,
                const LifecycleConfig& cfg) {
  Decision d;
  if (!open && !f.opens) return d;  // a condition the baseline already had: not news
  d.action = open ? Action::update : Action::open;
  if (is_stale(f.alert.day, now, cfg.stale_after)) {
    d.held_back = "stale";
    return d;
  }
  const bool escalation = last && f.alert.severity > last->severity;
  if (!last || now - last->at >= cfg.cooldown) {
    d.notify = true;
  } else if (escalation && f.authenticated) {
    // Forged reports may not buy a second notification inside the cooldown.
    d.notify = true;
  } else {
    d.held_back = "cooldown";
    return d;
  }
  d.notification = !open ? "new" : escalation ? "escalation" : "reminder";
  return d;
}

bool resolves(std::string_view kind, std::string_view alert_last_day, std::string_view day,
              const std::vector<std::string>& clean_kinds) {
  return day > alert_last_day && std::find(clean_kinds.begin(), clean_kinds.end(), kind) != clean_kinds.end();
}

bool lapsed(std::string_view alert_last_day, std::string_view day, int baseline_days) {
  auto last = parse_date(alert_last_day);
  auto now = parse_date(day);
  if (!last || !now) return false;
  return *now - *last > std::chrono::days(baseline_days);
}

std::string budget_reporter(std::string_view reporter_id) {
  if (!reporter_id.starts_with("dkim:")) return std::string(reporter_id);
  return "dkim:" + organizational_domain(reporter_id.substr(5));
}

namespace {

std::vector<std::string> budget_reporters(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) out.push_back(budget_reporter(id));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string pair_key(std::string_view served_domain, std::string_view reporter) {
  return std::string(served_domain) + " " + std::string(reporter);
}

}  // namespace

int AlertBudget::used(const Counts& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

void AlertBudget::spent(std::string_view served_domain, const std::vector<std::string>& reporters) {
  ++sent_;
  if (!served_domain.empty()) ++by_domain_[std::string(served_domain)];
  for (const auto& r : budget_reporters(reporters)) {
    ++by_reporter_[r];
    if (!served_domain.empty()) ++by_pair_[pair_key(served_domain, r)];
  }
}

// One reporter's view of the three limits (lifecycle.hpp): only a signing organization
// can pass the domain's share or the hour's cap on its first alert.
bool AlertBudget::admits(std::string_view served_domain, const std::string& reporter) const {
  const int own = used(by_reporter_, reporter);
  if (own >= cfg_.per_reporter) return false;
  const bool signs = reporter.starts_with("dkim:");
  const bool first_here = signs && used(by_pair_, pair_key(served_domain, reporter)) == 0;
  if (used(by_domain_, served_domain) >= cfg_.per_domain && !first_here) return false;
  return sent_ < cfg_.per_hour || (signs && own == 0 && sent_ < cfg_.ceiling);
}

bool AlertBudget::take(std::string_view served_domain, const std::vector<std::string>& reporters) {
  const auto keys = budget_reporters(reporters);
  const bool room = keys.empty() ? sent_ < cfg_.per_hour && used(by_domain_, served_domain) < cfg_.per_domain
                                 : std::any_of(keys.begin(), keys.end(),
                                               [&](const auto& r) { return admits(served_domain, r); });
  if (!room) return false;
  spent(served_domain, reporters);
  return true;
}

Alert suppressed_notice(std::uint64_t suppressed, int max_per_hour, std::string_view day) {
  Alert a;
  a.kind = std::string(kAlertsSuppressed);
  a.severity = Severity::warning;
  a.day = std::string(day);
  a.notification = "summary";
  a.summary = std::string(kind_title(kAlertsSuppressed)) + " \xE2\x80\x94 " + std::to_string(suppressed) +
              (suppressed == 1 ? " more alert was" : " more alerts were") + " not sent (limit " +
              std::to_string(max_per_hour) + " per hour)";
  a.explanation =
      "More alerts were raised than the hourly limit ([alerts] max_per_hour) or its shares per reporter "
      "(max_per_hour_per_reporter) and per served domain (max_per_hour_per_domain) allow, so the rest were "
      "recorded but not sent. This can mean a real outage affecting many domains, or a flood of forged reports. "
      "Run `tlsrptd alerts list --open` to see every open alert; those still happening are sent again after the "
      "cooldown.";
  a.evidence.sources = "authenticated";
  a.evidence.suppressed = suppressed;
  return a;
}

}  // namespace tlsrpt::alerts
