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

// The hourly cap with its shares (README.md#alerts, docs/guarantees.md#output-side).
// Reporters are counted by budget_reporter(): a DKIM signer by its organizational
// domain, so a.evil.example and b.evil.example are one reporter. An alert is sent when
// one reporter behind it passes all three:
// - its own share: at most `per_reporter` alerts an hour;
// - the served domain's share: at most `per_domain` alerts an hour about one served
//   domain (subdomains included), except that a signing organization's first alert of
//   the hour about that domain always passes it, so strangers filling the share block
//   no one else's first alert;
// - the hour's cap: at most `per_hour`; past it, only a signing organization that has
//   sent nothing this hour gets its first alert through, up to `ceiling` in all.
// An attacker with K signing organizations gets at most K x per_reporter alerts; it
// blocks a reporter's first alert of the hour only once the ceiling is spent, which
// takes ceil(per_hour / per_reporter) + (ceiling - per_hour) organizations (24 by
// default). Unsigned identities (org:...) cost nothing to invent: they have their share
// but never pass the domain's share or the hour's cap.
struct BudgetConfig {
  int per_hour = 20;
  int per_reporter = 5;
  int per_domain = 10;
  int ceiling = 40;
};

// The identity a reporter's share is counted under: "dkim:<organizational domain of the
// signer>" for "dkim:<signer>", anything else as given.
std::string budget_reporter(std::string_view reporter_id);

class AlertBudget {
 public:
  explicit AlertBudget(BudgetConfig cfg) : cfg_(cfg) {}
  // One notification already sent in the last hour, about `served_domain` ("" for a
  // summary notice), behind which were `reporters` (identities, "dkim:<d>" / "org:...").
  void spent(std::string_view served_domain, const std::vector<std::string>& reporters);
  // True, and charged to the domain and to each of the reporters, when one of the
  // reporters passes its share, the domain's share and the hour's cap (above). One
  // reporter that used up its share cannot hold back an alert another reporter backs.
  bool take(std::string_view served_domain, const std::vector<std::string>& reporters);

 private:
  using Counts = std::map<std::string, int, std::less<>>;
  bool admits(std::string_view served_domain, const std::string& reporter) const;
  static int used(const Counts& m, std::string_view key);

  BudgetConfig cfg_;
  long long sent_ = 0;
  Counts by_domain_, by_reporter_;
  Counts by_pair_;  // "<served domain> <reporter>": what a reporter sent about a domain
};

// The "N more alerts suppressed" notice sent when the cap held alerts back.
Alert suppressed_notice(std::uint64_t suppressed, int max_per_hour, std::string_view day);

}  // namespace tlsrpt::alerts
