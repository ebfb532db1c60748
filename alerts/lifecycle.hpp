// When an alert opens, is re-sent, escalates or resolves, and how many may be sent
// per hour (README.md#alerts, docs/guarantees.md#output-side): pure rules over the stored
// state the daemon passes in. The state itself lives in storage/alert_store.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/alert.hpp"
#include "alerts/detectors.hpp"

namespace tlsrpt::alerts {

using SysSeconds = std::chrono::sys_seconds;

struct LifecycleConfig {
  // At most one notification per policy domain and kind within this time, except an
  // escalation to a higher severity backed by an authenticated report.
  std::chrono::seconds cooldown{std::chrono::hours(12)};
  // Alerts about report days that ended longer ago than this are recorded, not sent
  // (importing an archive must not page anyone).
  std::chrono::seconds stale_after{std::chrono::hours(24 * 4)};
};

// The latest notification sent for a policy domain and kind (any alert row).
struct LastNotification {
  SysSeconds at;
  Severity severity = Severity::info;
};

enum class Action { ignore, open, update };

struct Decision {
  Action action = Action::ignore;
  bool notify = false;
  std::string notification;    // "new", "reminder" or "escalation" when notify
  std::string_view held_back;  // "", "stale" or "cooldown" when !notify
};

// `open`: an alert with the finding's domain and kind is open.
Decision decide(const Finding& f, bool open, const std::optional<LastNotification>& last, SysSeconds now,
                const LifecycleConfig& cfg);

// The report day (YYYY-MM-DD) ended more than stale_after before `now`. A day that
// does not parse counts as stale.
bool is_stale(std::string_view day, SysSeconds now, std::chrono::seconds stale_after);

// An open alert last seen on `alert_last_day` resolves when a later day's reports show
// its kind clean.
bool resolves(std::string_view kind, std::string_view alert_last_day, std::string_view day,
              const std::vector<std::string>& clean_kinds);

// An open alert last seen on `alert_last_day` has lapsed when `day` is more than
// `baseline_days` later: nothing was reported in between to keep it open or resolve
// it, so a new finding starts a new alert instead of extending an old one.
bool lapsed(std::string_view alert_last_day, std::string_view day, int baseline_days);

// The global cap: at most `max_per_hour` notifications in any rolling hour.
class HourlyCap {
 public:
  HourlyCap(int max_per_hour, long long sent_in_last_hour) : left_(max_per_hour - sent_in_last_hour) {}
  // True (and counts one) while the cap has room.
  bool take() {
    if (left_ <= 0) return false;
    --left_;
    return true;
  }

 private:
  long long left_;
};

// The hourly cap with its shares (README.md#alerts): in any rolling hour at most
// `per_hour` notifications in all, `per_domain` about one served domain (its
// subdomains included) and `per_reporter` that one reporter identity is behind. A
// report signed by a stranger's own domain about f0..f19.<served domain> spends that
// stranger's share and part of that domain's, never what a real reporter needs.
struct BudgetConfig {
  int per_hour = 20;
  int per_reporter = 5;
  int per_domain = 10;
};

class AlertBudget {
 public:
  explicit AlertBudget(BudgetConfig cfg) : cfg_(cfg) {}
  // One notification already sent in the last hour, about `served_domain` ("" for a
  // summary notice), behind which were `reporters` (identities, "dkim:<d>" / "org:...").
  void spent(std::string_view served_domain, const std::vector<std::string>& reporters);
  // True, and charged to the domain and to each of the reporters, while the cap, the
  // domain's share and the share of at least one of its reporters have room. One
  // reporter that used up its share cannot hold back an alert another reporter backs.
  bool take(std::string_view served_domain, const std::vector<std::string>& reporters);

 private:
  BudgetConfig cfg_;
  long long sent_ = 0;
  std::map<std::string, int, std::less<>> by_domain_, by_reporter_;
};

// The "N more alerts suppressed" notice sent when the cap held alerts back.
Alert suppressed_notice(std::uint64_t suppressed, int max_per_hour, std::string_view day);

}  // namespace tlsrpt::alerts
