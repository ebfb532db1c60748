// The alerts' side of the database: the rows behind the `alerts` view and their
// lifecycle (open, seen again, notified, held back, resolved), the hourly notification
// log, each report's authentication, and the query that gathers a policy domain's
// observations for the drift detectors. SQL with bound parameters only. The rules
// deciding what to write live in alerts/lifecycle; this file only reads and writes.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "parser/report.hpp"
#include "storage/sqlite.hpp"

namespace tlsrpt::storage {

// One row of the `alerts` view.
struct AlertRecord {
  std::int64_t id = 0;
  std::string policy_domain, kind, policy_type, severity, status;
  std::string first_day, last_day, opened_at, last_seen_at;
  std::optional<std::string> resolved_at, resolved_day, last_notified_at, notified_severity;
  std::int64_t notifications = 0, suppressed = 0, count = 0;
  std::string summary, explanation, evidence_json;
};

// What an evaluation found, as written to an alert row.
struct AlertFields {
  std::string policy_domain, kind, policy_type, severity, day;
  std::string summary, explanation, evidence_json;
};

// Failed sessions of one result type at one MX, summed over an observation's reports.
struct FailureSum {
  std::string result_type;
  std::optional<std::string> receiving_mx_hostname;
  Count failed_sessions = 0;
};

// The counted policy blocks of one day, reporter, policy (type, strings, mx-host) and
// authentication, summed.
struct PolicySum {
  std::string day;
  std::string reporter;     // organization-name
  std::string reporter_id;  // the report's reporter identity: "dkim:<d>" or "org:<name> <<contact>>"
  std::string policy_type;
  std::vector<std::string> policy_strings;
  std::vector<std::string> mx_hosts;
  bool authenticated = true;
  Count reports = 0, successful_sessions = 0, failed_sessions = 0;
  std::vector<FailureSum> failures;
};

// One notification of the last hour and what it was about, for the per-reporter and
// per-domain shares of the hourly cap: the alert's policy domain and the reporter
// identities (evidence "reporter_ids") behind it; both empty for a summary notice.
struct NotificationSource {
  std::string policy_domain;
  std::vector<std::string> reporter_ids;
};

inline constexpr int kMaxObservationDays = 400;

class AlertStore {
 public:
  explicit AlertStore(Db& db) : db_(db) {}

  // One IMMEDIATE transaction around a whole evaluation.
  std::expected<void, StoreError> begin();
  std::expected<void, StoreError> commit();
  void rollback();

  // Remembers how these reports arrived. Reports without a row count as authenticated
  // unless they came over HTTPS (RFC 8460 §7: HTTPS reports are unauthenticated).
  std::expected<void, StoreError> record_authentication(std::span<const std::int64_t> report_ids, bool authenticated);
  // Reports whose evaluation never committed (alert_pending): a crash, or an import
  // killed before its end. By authentication as the store recorded it.
  struct Pending {
    std::vector<std::int64_t> authenticated, unauthenticated;
  };
  std::expected<Pending, StoreError> pending();
  // Inside the evaluation's transaction: these reports are evaluated.
  std::expected<void, StoreError> clear_pending(std::span<const std::int64_t> report_ids);
  // The (policy domain, day) pairs of these reports' counted policies, sorted by day.
  std::expected<std::vector<std::pair<std::string, std::string>>, StoreError> affected(
      std::span<const std::int64_t> report_ids);
  // Every counted observation of `domain` on days since..until (inclusive, at most
  // kMaxObservationDays of them), ordered by day; unauthenticated ones only when
  // `include_unauthenticated`.
  std::expected<std::vector<PolicySum>, StoreError> observations(const std::string& domain, const std::string& since,
                                                                 const std::string& until, bool include_unauthenticated);
  // The statements observations() runs (the policy blocks; with `failures`, their
  // failure rows), for EXPLAIN QUERY PLAN in tests: ?1 domain, ?2 JSON array of days,
  // ?3 whether unauthenticated observations count.
  static std::string observations_sql(bool failures);

  std::expected<std::optional<AlertRecord>, StoreError> find_open(const std::string& domain, const std::string& kind);
  std::expected<std::vector<AlertRecord>, StoreError> open_for_domain(const std::string& domain);
  // The latest notification for this domain and kind, from any of its alerts: (at, severity).
  std::expected<std::optional<std::pair<std::string, std::string>>, StoreError> last_notification(
      const std::string& domain, const std::string& kind);

  std::expected<std::int64_t, StoreError> open_alert(const AlertFields& f, const std::string& now);
  // Seen again: last seen, last day (the later one), count, and the latest text.
  std::expected<void, StoreError> seen_again(std::int64_t id, const AlertFields& f, const std::string& now);
  std::expected<void, StoreError> mark_notified(std::int64_t id, const std::string& severity, const std::string& now);
  std::expected<void, StoreError> mark_suppressed(std::int64_t id);
  // `day`: the clean report day that resolved it; nullopt when it lapsed without one.
  std::expected<void, StoreError> resolve(std::int64_t id, const std::optional<std::string>& day,
                                          const std::string& now);

  // The hourly cap: notifications logged since `since` (RFC 3339); the log keeps a day.
  std::expected<std::int64_t, StoreError> notifications_since(const std::string& since);
  std::expected<std::vector<NotificationSource>, StoreError> notification_sources(const std::string& since);
  std::expected<void, StoreError> log_notification(std::optional<std::int64_t> alert_id, const std::string& now);
  std::expected<void, StoreError> prune_notifications(const std::string& before);
  // Held back by the cap and not yet summarised; when the last summary went out.
  std::expected<std::pair<std::int64_t, std::optional<std::string>>, StoreError> throttle();
  std::expected<void, StoreError> set_throttle(std::int64_t pending, const std::optional<std::string>& last_summary_at);

  // `tlsrptd alerts list`: newest first.
  std::expected<std::vector<AlertRecord>, StoreError> list(bool open_only);

 private:
  std::expected<std::vector<std::string>, StoreError> json_strings(const std::string& json);
  Db& db_;
};

}  // namespace tlsrpt::storage
