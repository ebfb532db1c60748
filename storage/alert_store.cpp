#include "storage/alert_store.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "parser/datetime.hpp"

namespace tlsrpt::storage {
namespace {

constexpr const char* kAlertColumns =
    "id, policy_domain, kind, policy_type, severity, status, first_day, last_day, opened_at, last_seen_at, "
    "resolved_at, resolved_day, last_notified_at, notified_severity, notifications, suppressed, seen, summary, "
    "explanation, evidence";

AlertRecord read_alert(const Stmt& st) {
  AlertRecord r;
  r.id = st.int64(0);
  r.policy_domain = st.text(1);
  r.kind = st.text(2);
  r.policy_type = st.text(3);
  r.severity = st.text(4);
  r.status = st.text(5);
  r.first_day = st.text(6);
  r.last_day = st.text(7);
  r.opened_at = st.text(8);
  r.last_seen_at = st.text(9);
  r.resolved_at = st.opt_text(10);
  r.resolved_day = st.opt_text(11);
  r.last_notified_at = st.opt_text(12);
  r.notified_severity = st.opt_text(13);
  r.notifications = st.int64(14);
  r.suppressed = st.int64(15);
  r.count = st.int64(16);
  r.summary = st.text(17);
  r.explanation = st.text(18);
  r.evidence_json = st.text(19);
  return r;
}

std::expected<std::vector<AlertRecord>, StoreError> read_alerts(Stmt& st) {
  std::vector<AlertRecord> out;
  for (;;) {
    auto row = st.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(read_alert(st));
  }
  return out;
}

Count count_of(const Stmt& st, int col) {
  std::int64_t v = st.int64(col);
  return v < 0 ? 0 : static_cast<Count>(v);
}

}  // namespace

std::expected<void, StoreError> AlertStore::begin() { return db_.exec("BEGIN IMMEDIATE"); }
std::expected<void, StoreError> AlertStore::commit() { return db_.exec("COMMIT"); }
void AlertStore::rollback() {
  if (!sqlite3_get_autocommit(db_.handle())) (void)db_.exec("ROLLBACK");
}

std::expected<void, StoreError> AlertStore::record_authentication(std::span<const std::int64_t> report_ids,
                                                                  bool authenticated) {
  // The store records it with the report; this keeps the method it wrote, and only
  // ever raises the flag (a row evaluated again must not lose what vouched for it).
  auto st = db_.cached("INSERT INTO report_auth (report, authenticated) SELECT id, ?2 FROM report WHERE id = ?1 "
                        "ON CONFLICT (report) DO UPDATE SET authenticated = "
                        "max(report_auth.authenticated, excluded.authenticated)");
  if (!st) return std::unexpected(st.error());
  for (std::int64_t id : report_ids) {
    st->bind(1, id).bind(2, authenticated ? 1 : 0);
    if (auto r = st->run(); !r) return r;
  }
  return {};
}

std::expected<AlertStore::Pending, StoreError> AlertStore::pending() {
  auto st = db_.cached(
      "SELECT q.report, COALESCE(a.authenticated, CASE r.transport WHEN 'https' THEN 0 ELSE 1 END) "
      "FROM alert_pending q JOIN report r ON r.id = q.report LEFT JOIN report_auth a ON a.report = q.report "
      "ORDER BY q.report");
  if (!st) return std::unexpected(st.error());
  Pending out;
  for (;;) {
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    (st->int64(1) ? out.authenticated : out.unauthenticated).push_back(st->int64(0));
  }
  return out;
}

std::expected<void, StoreError> AlertStore::clear_pending(std::span<const std::int64_t> report_ids) {
  auto st = db_.cached("DELETE FROM alert_pending WHERE report = ?1");
  if (!st) return std::unexpected(st.error());
  for (std::int64_t id : report_ids) {
    st->bind(1, id);
    if (auto r = st->run(); !r) return r;
  }
  return {};
}

std::expected<std::vector<std::pair<std::string, std::string>>, StoreError> AlertStore::affected(
    std::span<const std::int64_t> report_ids) {
  auto st = db_.cached(
      "SELECT DISTINCT p.policy_domain, r.day FROM report r JOIN policy p ON p.report = r.id "
      "WHERE r.id = ?1 AND r.status = 'counted' AND p.policy_domain <> ''");
  if (!st) return std::unexpected(st.error());
  std::set<std::pair<std::string, std::string>> pairs;  // (day, domain): day order
  for (std::int64_t id : report_ids) {
    st->bind(1, id);
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      pairs.emplace(st->text(1), st->text(0));
    }
    st->reset();
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [day, domain] : pairs) out.emplace_back(domain, day);
  return out;
}

std::expected<std::vector<std::string>, StoreError> AlertStore::json_strings(const std::string& json) {
  // The policy strings are stored as JSON arrays (migration 1); SQLite's json_each
  // reads them back without another JSON parser here.
  auto st = db_.cached("SELECT value FROM json_each(?1) WHERE type = 'text' ORDER BY key");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(json));
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(st->text(0));
  }
  return out;
}

// Read from the policy and failure rows themselves, through policy_by_domain_day
// (schema 7): one index seek per day of the window, so the cost is the number of
// policy blocks in the window, not the history behind them. A policy block counts
// when its report is counted; a report's authentication is report_auth's flag, or by
// transport when it has none (HTTPS: no). Sums in SQL are TOTAL (REAL): no overflow
// error, exact to 2^53.
std::string AlertStore::observations_sql(bool failures) {
  const std::string authenticated = "COALESCE(a.authenticated, CASE r.transport WHEN 'https' THEN 0 ELSE 1 END)";
  const std::string key =
      "p.day, r.organization_name, r.reporter, p.policy_type, p.policy_strings, p.mx_hosts, " + authenticated;
  // The joins name the policy row's report outright: the planner starts from the
  // index and looks the report and its authentication up by their keys.
  const std::string from =
      " FROM policy p JOIN report r ON r.id = p.report LEFT JOIN report_auth a ON a.report = p.report ";
  const std::string where =
      " WHERE p.policy_domain = ?1 AND ?1 <> '' AND p.day IN (SELECT value FROM json_each(?2)) "
      "AND r.status = 'counted' AND (?3 OR " + authenticated + " = 1) ";
  if (!failures)
    return "SELECT " + key +
           ", COUNT(*), CAST(TOTAL(p.successful_sessions) AS INTEGER), CAST(TOTAL(p.failed_sessions) AS INTEGER)" +
           from + where + "GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7";
  const std::string mx = "f.receiving_mx_hostname IS NOT NULL, COALESCE(f.receiving_mx_hostname, '')";
  return "SELECT " + key + ", f.result_type, f.receiving_mx_hostname, CAST(TOTAL(f.failed_sessions) AS INTEGER)" +
         from + "JOIN failure f ON f.report = p.report AND f.policy_idx = p.idx" + where +
         "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, " + mx + " ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, " + mx;
}

std::expected<std::vector<PolicySum>, StoreError> AlertStore::observations(const std::string& domain,
                                                                           const std::string& since,
                                                                           const std::string& until,
                                                                           bool include_unauthenticated) {
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string, std::string, bool>;
  std::string days = "[";
  {
    auto d = parse_date(since);
    auto last = parse_date(until);
    for (int n = 0; d && last && *d <= *last && n < kMaxObservationDays; ++n, *d += std::chrono::days(1))
      days += (n ? ",\"" : "\"") + format_date(*d) + "\"";
  }
  days += "]";
  auto bind = [&](Stmt& st) {
    st.bind(1, std::string_view(domain)).bind(2, std::string_view(days)).bind(3, include_unauthenticated ? 1 : 0);
  };
  std::map<Key, std::size_t> index;
  std::vector<PolicySum> out;
  std::vector<std::pair<std::string, std::string>> raw;  // strings / mx JSON per row
  {
    static const std::string kSql = observations_sql(false);
    auto st = db_.cached(kSql);
    if (!st) return std::unexpected(st.error());
    bind(*st);
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      PolicySum p;
      p.day = st->text(0);
      p.reporter = st->text(1);
      p.reporter_id = st->text(2);
      p.policy_type = st->text(3);
      p.authenticated = st->int64(6) != 0;
      p.reports = count_of(*st, 7);
      p.successful_sessions = count_of(*st, 8);
      p.failed_sessions = count_of(*st, 9);
      index[Key{p.day, p.reporter, p.reporter_id, p.policy_type, st->text(4), st->text(5), p.authenticated}] =
          out.size();
      raw.emplace_back(st->text(4), st->text(5));
      out.push_back(std::move(p));
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto strings = json_strings(raw[i].first);
    if (!strings) return std::unexpected(strings.error());
    auto mx = json_strings(raw[i].second);
    if (!mx) return std::unexpected(mx.error());
    out[i].policy_strings = std::move(*strings);
    out[i].mx_hosts = std::move(*mx);
  }
  {
    static const std::string kSql = observations_sql(true);
    auto st = db_.cached(kSql);
    if (!st) return std::unexpected(st.error());
    bind(*st);
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto it = index.find(
          Key{st->text(0), st->text(1), st->text(2), st->text(3), st->text(4), st->text(5), st->int64(6) != 0});
      if (it == index.end()) continue;
      out[it->second].failures.push_back(FailureSum{st->text(7), st->opt_text(8), count_of(*st, 9)});
    }
  }
  return out;
}

std::expected<std::optional<AlertRecord>, StoreError> AlertStore::find_open(const std::string& domain,
                                                                            const std::string& kind) {
  auto st = db_.cached(std::string("SELECT ") + kAlertColumns +
                        " FROM alert WHERE policy_domain = ?1 AND kind = ?2 AND status = 'open'");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(domain)).bind(2, std::string_view(kind));
  auto rows = read_alerts(*st);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<AlertRecord>();
  return std::optional<AlertRecord>(std::move(rows->front()));
}

std::expected<std::vector<AlertRecord>, StoreError> AlertStore::open_for_domain(const std::string& domain) {
  auto st = db_.cached(std::string("SELECT ") + kAlertColumns +
                        " FROM alert WHERE policy_domain = ?1 AND status = 'open' ORDER BY id");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(domain));
  return read_alerts(*st);
}

std::expected<std::optional<std::pair<std::string, std::string>>, StoreError> AlertStore::last_notification(
    const std::string& domain, const std::string& kind) {
  auto st = db_.cached(
      "SELECT last_notified_at, notified_severity FROM alert WHERE policy_domain = ?1 AND kind = ?2 "
      "AND last_notified_at IS NOT NULL ORDER BY last_notified_at DESC, id DESC LIMIT 1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(domain)).bind(2, std::string_view(kind));
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::pair<std::string, std::string>>();
  return std::optional<std::pair<std::string, std::string>>(std::pair{st->text(0), st->text(1)});
}

std::expected<std::int64_t, StoreError> AlertStore::open_alert(const AlertFields& f, const std::string& now) {
  auto st = db_.cached(
      "INSERT INTO alert (policy_domain, kind, policy_type, severity, status, first_day, last_day, opened_at, "
      "last_seen_at, summary, explanation, evidence) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?5, ?6, ?6, ?7, ?8, ?9)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(f.policy_domain))
      .bind(2, std::string_view(f.kind))
      .bind(3, std::string_view(f.policy_type))
      .bind(4, std::string_view(f.severity))
      .bind(5, std::string_view(f.day))
      .bind(6, std::string_view(now))
      .bind(7, std::string_view(f.summary))
      .bind(8, std::string_view(f.explanation))
      .bind(9, std::string_view(f.evidence_json));
  if (auto r = st->run(); !r) return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(db_.handle());
}

std::expected<void, StoreError> AlertStore::seen_again(std::int64_t id, const AlertFields& f, const std::string& now) {
  // The text follows the latest day seen; an older day arriving late only counts.
  auto st = db_.cached(
      "UPDATE alert SET last_seen_at = ?2, seen = seen + 1, "
      "policy_type = CASE WHEN ?3 >= last_day THEN ?4 ELSE policy_type END, "
      "severity = CASE WHEN ?3 >= last_day THEN ?5 ELSE severity END, "
      "summary = CASE WHEN ?3 >= last_day THEN ?6 ELSE summary END, "
      "explanation = CASE WHEN ?3 >= last_day THEN ?7 ELSE explanation END, "
      "evidence = CASE WHEN ?3 >= last_day THEN ?8 ELSE evidence END, "
      "first_day = MIN(first_day, ?3), last_day = MAX(last_day, ?3) WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id)
      .bind(2, std::string_view(now))
      .bind(3, std::string_view(f.day))
      .bind(4, std::string_view(f.policy_type))
      .bind(5, std::string_view(f.severity))
      .bind(6, std::string_view(f.summary))
      .bind(7, std::string_view(f.explanation))
      .bind(8, std::string_view(f.evidence_json));
  return st->run();
}

std::expected<void, StoreError> AlertStore::mark_notified(std::int64_t id, const std::string& severity,
                                                          const std::string& now) {
  auto st = db_.cached(
      "UPDATE alert SET last_notified_at = ?2, notified_severity = ?3, notifications = notifications + 1 "
      "WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id).bind(2, std::string_view(now)).bind(3, std::string_view(severity));
  return st->run();
}

std::expected<void, StoreError> AlertStore::mark_suppressed(std::int64_t id) {
  auto st = db_.cached("UPDATE alert SET suppressed = suppressed + 1 WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id);
  return st->run();
}

std::expected<void, StoreError> AlertStore::resolve(std::int64_t id, const std::optional<std::string>& day,
                                                    const std::string& now) {
  auto st = db_.cached(
      "UPDATE alert SET status = 'resolved', resolved_at = ?2, resolved_day = ?3 WHERE id = ?1 AND status = 'open'");
  if (!st) return std::unexpected(st.error());
  st->bind(1, id).bind(2, std::string_view(now)).bind(3, day);
  return st->run();
}

std::expected<std::int64_t, StoreError> AlertStore::notifications_since(const std::string& since) {
  auto st = db_.cached("SELECT count(*) FROM alert_notification WHERE at > ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(since));
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  return st->int64(0);
}

std::expected<std::vector<NotificationSource>, StoreError> AlertStore::notification_sources(const std::string& since) {
  auto st = db_.cached(
      "SELECT n.rowid, coalesce(a.policy_domain, ''), j.value FROM alert_notification n "
      "LEFT JOIN alert a ON a.id = n.alert "
      "LEFT JOIN json_each(a.evidence, '$.reporter_ids') j WHERE n.at > ?1 ORDER BY n.rowid, j.key");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(since));
  std::vector<NotificationSource> out;
  std::int64_t last = -1;
  for (;;) {
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (st->int64(0) != last) out.push_back(NotificationSource{st->text(1), {}});
    last = st->int64(0);
    if (auto id = st->opt_text(2)) out.back().reporter_ids.push_back(std::move(*id));
  }
  return out;
}

std::expected<void, StoreError> AlertStore::log_notification(std::optional<std::int64_t> alert_id,
                                                             const std::string& now) {
  auto st = db_.cached("INSERT INTO alert_notification (at, alert) VALUES (?1, ?2)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(now));
  if (alert_id) st->bind(2, *alert_id);
  else st->bind_null(2);
  return st->run();
}

std::expected<void, StoreError> AlertStore::prune_notifications(const std::string& before) {
  auto st = db_.cached("DELETE FROM alert_notification WHERE at < ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, std::string_view(before));
  return st->run();
}

std::expected<std::pair<std::int64_t, std::optional<std::string>>, StoreError> AlertStore::throttle() {
  auto st = db_.cached("SELECT pending, last_summary_at FROM alert_throttle WHERE id = 1");
  if (!st) return std::unexpected(st.error());
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::pair<std::int64_t, std::optional<std::string>>{0, std::nullopt};
  return std::pair<std::int64_t, std::optional<std::string>>{st->int64(0), st->opt_text(1)};
}

std::expected<void, StoreError> AlertStore::set_throttle(std::int64_t pending,
                                                         const std::optional<std::string>& last_summary_at) {
  auto st = db_.cached("INSERT OR REPLACE INTO alert_throttle (id, pending, last_summary_at) VALUES (1, ?1, ?2)");
  if (!st) return std::unexpected(st.error());
  st->bind(1, pending).bind(2, last_summary_at);
  return st->run();
}

std::expected<std::vector<AlertRecord>, StoreError> AlertStore::list(bool open_only) {
  auto st = db_.cached(std::string("SELECT ") + kAlertColumns +
                        " FROM alert WHERE (?1 = 0 OR status = 'open') ORDER BY last_day DESC, id DESC");
  if (!st) return std::unexpected(st.error());
  st->bind(1, open_only ? 1 : 0);
  return read_alerts(*st);
}

}  // namespace tlsrpt::storage
