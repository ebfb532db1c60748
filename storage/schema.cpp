#include "storage/schema.hpp"

#include <string>

namespace tlsrpt::storage {
namespace {

// Migration N takes user_version N-1 to N. Never edit a released migration: add one.
constexpr const char* kMigrations[] = {
    // 1: reports, their policies and failure details, raw submissions, the views.
    R"sql(
CREATE TABLE report (
  id                INTEGER PRIMARY KEY,
  organization_name TEXT NOT NULL,
  report_id         TEXT NOT NULL,
  content_sha256    TEXT NOT NULL,            -- of the canonical JSON
  status            TEXT NOT NULL CHECK (status IN ('counted', 'conflict')),
  contact_info      TEXT,
  start_datetime    TEXT NOT NULL,            -- RFC 3339, UTC
  end_datetime      TEXT NOT NULL,
  day               TEXT NOT NULL,            -- UTC date of start_datetime
  received_at       TEXT NOT NULL,
  transport         TEXT NOT NULL CHECK (transport IN ('https', 'smtp', 'lmtp', 'maildir', 'import')),
  source            TEXT NOT NULL,
  notes             TEXT NOT NULL,            -- JSON array of data-quality notes
  UNIQUE (organization_name, report_id, content_sha256)
) STRICT;
CREATE INDEX report_by_day ON report (day);

CREATE TABLE report_raw (
  report     INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE,
  media_type TEXT NOT NULL,
  bytes      BLOB NOT NULL                    -- exactly as submitted, for re-parsing
) STRICT;

CREATE TABLE policy (
  report              INTEGER NOT NULL REFERENCES report (id) ON DELETE CASCADE,
  idx                 INTEGER NOT NULL,
  policy_type         TEXT NOT NULL,
  policy_domain       TEXT NOT NULL,
  policy_strings      TEXT NOT NULL,          -- JSON array
  mx_hosts            TEXT NOT NULL,          -- JSON array
  successful_sessions INTEGER NOT NULL CHECK (successful_sessions >= 0),
  failed_sessions     INTEGER NOT NULL CHECK (failed_sessions >= 0),
  PRIMARY KEY (report, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX policy_by_domain ON policy (policy_domain);

CREATE TABLE failure (
  report                 INTEGER NOT NULL,
  policy_idx             INTEGER NOT NULL,
  idx                    INTEGER NOT NULL,
  result_type            TEXT NOT NULL,
  sending_mta_ip         TEXT,
  receiving_mx_hostname  TEXT,
  receiving_mx_helo      TEXT,
  receiving_ip           TEXT,
  failed_sessions        INTEGER NOT NULL CHECK (failed_sessions >= 0),
  additional_information TEXT,
  failure_reason_code    TEXT,
  PRIMARY KEY (report, policy_idx, idx),
  FOREIGN KEY (report, policy_idx) REFERENCES policy (report, idx) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The stable query interface (docs/architecture.md#storage-contract). Sums use TOTAL(): a sum
-- of many counts near 2^53 must not raise "integer overflow" and break every query.
CREATE VIEW reports AS
SELECT r.id, r.organization_name, r.report_id, r.contact_info, r.start_datetime, r.end_datetime,
       r.day, r.received_at, r.transport, r.source,
       CASE r.status WHEN 'counted' THEN 'stored' ELSE r.status END AS status,
       r.content_sha256, r.notes,
       (SELECT count(*) FROM policy p WHERE p.report = r.id) AS policies
FROM report r;

CREATE VIEW policy_daily AS
SELECT r.day, p.policy_domain, p.policy_type, r.organization_name,
       CAST(TOTAL(p.successful_sessions) AS INTEGER) AS successful_sessions,
       CAST(TOTAL(p.failed_sessions) AS INTEGER) AS failed_sessions,
       COUNT(DISTINCT r.id) AS reports
FROM report r JOIN policy p ON p.report = r.id
WHERE r.status = 'counted'
GROUP BY r.day, p.policy_domain, p.policy_type, r.organization_name;

CREATE VIEW failure_daily AS
SELECT r.day, p.policy_domain, p.policy_type, r.organization_name, f.result_type,
       f.receiving_mx_hostname, f.sending_mta_ip,
       CAST(TOTAL(f.failed_sessions) AS INTEGER) AS failed_sessions
FROM report r
JOIN policy p ON p.report = r.id
JOIN failure f ON f.report = p.report AND f.policy_idx = p.idx
WHERE r.status = 'counted'
GROUP BY r.day, p.policy_domain, p.policy_type, r.organization_name, f.result_type,
         f.receiving_mx_hostname, f.sending_mta_ip;
)sql",
    // 2: the headers of a mailed report (RFC 8460 §5.3), NULL for other channels.
    R"sql(
ALTER TABLE report ADD COLUMN tls_report_domain TEXT;     -- TLS-Report-Domain
ALTER TABLE report ADD COLUMN tls_report_submitter TEXT;  -- TLS-Report-Submitter
ALTER TABLE report ADD COLUMN mail_message_id TEXT;
ALTER TABLE report ADD COLUMN mail_from TEXT;
ALTER TABLE report ADD COLUMN mail_subject TEXT;
ALTER TABLE report ADD COLUMN mail_date TEXT;             -- as written by the sender
ALTER TABLE report ADD COLUMN mail_filename TEXT;         -- of the report part; a label, never a path
ALTER TABLE report ADD COLUMN mail_content_type TEXT;     -- of the report part, as labelled

DROP VIEW reports;
CREATE VIEW reports AS
SELECT r.id, r.organization_name, r.report_id, r.contact_info, r.start_datetime, r.end_datetime,
       r.day, r.received_at, r.transport, r.source,
       CASE r.status WHEN 'counted' THEN 'stored' ELSE r.status END AS status,
       r.content_sha256, r.notes,
       (SELECT count(*) FROM policy p WHERE p.report = r.id) AS policies,
       r.tls_report_domain, r.tls_report_submitter, r.mail_message_id, r.mail_from, r.mail_subject,
       r.mail_date, r.mail_filename, r.mail_content_type
FROM report r;
)sql",
    // 3: alerts (docs/architecture.md#5-alerts): how each report was authenticated, the alerts
    // with their lifecycle, the notification log behind the hourly cap, and the `alerts` view.
    R"sql(
CREATE TABLE report_auth (
  report        INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE,
  authenticated INTEGER NOT NULL CHECK (authenticated IN (0, 1))   -- 0: HTTPS, or mail that failed DKIM
) STRICT;

CREATE TABLE alert (
  id                INTEGER PRIMARY KEY,
  policy_domain     TEXT NOT NULL,
  kind              TEXT NOT NULL,
  policy_type       TEXT NOT NULL,
  severity          TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  status            TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  first_day         TEXT NOT NULL,            -- report days (UTC) the condition was seen on
  last_day          TEXT NOT NULL,
  opened_at         TEXT NOT NULL,            -- RFC 3339, UTC (wall clock)
  last_seen_at      TEXT NOT NULL,
  resolved_at       TEXT,
  resolved_day      TEXT,                     -- the clean report day that resolved it
  last_notified_at  TEXT,
  notified_severity TEXT,
  notifications     INTEGER NOT NULL DEFAULT 0,
  suppressed        INTEGER NOT NULL DEFAULT 0,  -- notifications held back (cooldown, hourly cap)
  seen              INTEGER NOT NULL DEFAULT 1,  -- evaluations that found the condition
  summary           TEXT NOT NULL,
  explanation       TEXT NOT NULL,
  evidence          TEXT NOT NULL             -- JSON object
) STRICT;
-- Deduplication: at most one open alert per policy domain and kind.
CREATE UNIQUE INDEX alert_open_key ON alert (policy_domain, kind) WHERE status = 'open';
CREATE INDEX alert_by_key ON alert (policy_domain, kind, last_notified_at);

CREATE TABLE alert_notification (
  at    TEXT NOT NULL,
  alert INTEGER REFERENCES alert (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX alert_notification_by_time ON alert_notification (at);

CREATE TABLE alert_throttle (
  id              INTEGER PRIMARY KEY CHECK (id = 1),
  pending         INTEGER NOT NULL,           -- held back by the hourly cap, not yet summarised
  last_summary_at TEXT
) STRICT;
INSERT INTO alert_throttle (id, pending) VALUES (1, 0);

CREATE VIEW alerts AS
SELECT id, kind || ':' || policy_domain AS key, policy_domain, kind, policy_type, severity, status,
       first_day, last_day, opened_at, last_seen_at, resolved_at, resolved_day, last_notified_at,
       notifications, suppressed, seen AS count, summary, explanation, evidence
FROM alert;
)sql",
    // 4: how each report was authenticated, and mailed reports held back (RFC 8460
    // §3: a report mail without a valid DKIM signature MUST be ignored; it is kept
    // here, not counted, so an admin can list it and release it later).
    R"sql(
ALTER TABLE report_auth ADD COLUMN method TEXT;   -- "https", "import", "dkim pass d=example.com", ...

CREATE TABLE held_report (
  id                INTEGER PRIMARY KEY,
  content_sha256    TEXT NOT NULL,
  organization_name TEXT NOT NULL,
  report_id         TEXT NOT NULL,
  received_at       TEXT NOT NULL,
  transport         TEXT NOT NULL,
  source            TEXT NOT NULL,
  reason            TEXT NOT NULL,             -- why it is not counted
  media_type        TEXT NOT NULL,
  raw               BLOB NOT NULL,             -- the whole submission (the mail)
  status            TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'discarded')),
  released_at       TEXT
) STRICT;
CREATE INDEX held_by_content ON held_report (content_sha256);

CREATE VIEW held_reports AS
SELECT id, organization_name, report_id, received_at, transport, source, reason, status, released_at,
       content_sha256, length(raw) AS bytes
FROM held_report;
)sql",
    // 5: the reporter identity (docs/receiver-rules.md#report-identity). A report
    // conflicts only with a report of the same reporter, organization-name and
    // report-id; the same content is one report whoever sent it. Existing rows keep
    // their status (nothing is re-counted): a DKIM-authenticated row gets its signing
    // domain from report_auth.method ("dkim pass d=example.com[ (..)| by ..]").
    // Policies without a policy-domain are kept but counted for no domain.
    R"sql(
ALTER TABLE report ADD COLUMN signing_domain TEXT;          -- the aligned DKIM d= that authenticated it
ALTER TABLE report ADD COLUMN reporter TEXT NOT NULL DEFAULT '';

UPDATE report SET signing_domain = (
  SELECT lower(CASE WHEN instr(rest, ' ') > 0 THEN substr(rest, 1, instr(rest, ' ') - 1) ELSE rest END)
  FROM (SELECT substr(a.method, 13) AS rest FROM report_auth a
        WHERE a.report = report.id AND a.authenticated = 1 AND a.method LIKE 'dkim pass d=%'));
UPDATE report SET reporter = CASE
  WHEN signing_domain IS NOT NULL AND signing_domain <> '' THEN 'dkim:' || signing_domain
  ELSE 'org:' || organization_name || ' <' || coalesce(contact_info, '') || '>' END;

-- The content is the duplicate test; the key lookup (organization_name, report_id,
-- reporter) is served by the UNIQUE index of migration 1 (its first two columns).
CREATE INDEX report_by_content ON report (content_sha256);

DROP VIEW reports;
CREATE VIEW reports AS
SELECT r.id, r.organization_name, r.report_id, r.contact_info, r.start_datetime, r.end_datetime,
       r.day, r.received_at, r.transport, r.source,
       CASE r.status WHEN 'counted' THEN 'stored' ELSE r.status END AS status,
       r.content_sha256, r.notes,
       (SELECT count(*) FROM policy p WHERE p.report = r.id) AS policies,
       r.tls_report_domain, r.tls_report_submitter, r.mail_message_id, r.mail_from, r.mail_subject,
       r.mail_date, r.mail_filename, r.mail_content_type,
       r.reporter, r.signing_domain
FROM report r;

DROP VIEW policy_daily;
CREATE VIEW policy_daily AS
SELECT r.day, p.policy_domain, p.policy_type, r.organization_name,
       CAST(TOTAL(p.successful_sessions) AS INTEGER) AS successful_sessions,
       CAST(TOTAL(p.failed_sessions) AS INTEGER) AS failed_sessions,
       COUNT(DISTINCT r.id) AS reports
FROM report r JOIN policy p ON p.report = r.id
WHERE r.status = 'counted' AND p.policy_domain <> ''
GROUP BY r.day, p.policy_domain, p.policy_type, r.organization_name;

DROP VIEW failure_daily;
CREATE VIEW failure_daily AS
SELECT r.day, p.policy_domain, p.policy_type, r.organization_name, f.result_type,
       f.receiving_mx_hostname, f.sending_mta_ip,
       CAST(TOTAL(f.failed_sessions) AS INTEGER) AS failed_sessions
FROM report r
JOIN policy p ON p.report = r.id
JOIN failure f ON f.report = p.report AND f.policy_idx = p.idx
WHERE r.status = 'counted' AND p.policy_domain <> ''
GROUP BY r.day, p.policy_domain, p.policy_type, r.organization_name, f.result_type,
         f.receiving_mx_hostname, f.sending_mta_ip;
)sql",
};

constexpr int kStaticMigrations = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);
static_assert(kStaticMigrations + 2 == kSchemaVersion);

// 6 (its sums and triggers are gone again in 7; alert_pending stays): the
// observations the drift detectors read (docs/architecture.md#5-alerts), kept
// summed per policy domain, day, reporter, policy and authentication by triggers, so
// evaluating a (domain, day) reads a few rows whatever the history holds. A policy
// block counts when its report is counted and it names a policy domain; a report's
// authentication is report_auth's flag, or by transport when it has none (HTTPS: no).
// (Until migration 7, the store added each policy block and failure row it inserted
// itself, with the values in hand.) Every other statement that changes a counted row moves its contribution by
// trigger: subtracted before the change, added after it (rows summed to nothing are kept with rows = 0
// and ignored by readers). Sums are REAL: exact to 2^53, and no overflow error can
// fail a store transaction. Written out by a function because the same add and
// subtract statements serve eleven triggers.
constexpr const char* kObsKey =
    "policy_domain, day, organization_name, reporter, policy_type, policy_strings, mx_hosts, authenticated";
constexpr const char* kObsKeyOfRow =
    "p.policy_domain, r.day, r.organization_name, r.reporter, p.policy_type, p.policy_strings, p.mx_hosts, "
    "COALESCE(a.authenticated, CASE r.transport WHEN 'https' THEN 0 ELSE 1 END)";
constexpr const char* kObsKeyOfRowNamed =
    "p.policy_domain AS policy_domain, r.day AS day, r.organization_name AS organization_name, "
    "r.reporter AS reporter, p.policy_type AS policy_type, p.policy_strings AS policy_strings, "
    "p.mx_hosts AS mx_hosts, COALESCE(a.authenticated, CASE r.transport WHEN 'https' THEN 0 ELSE 1 END) AS "
    "authenticated";
constexpr const char* kObsFrom =
    " FROM report r JOIN policy p ON p.report = r.id LEFT JOIN report_auth a ON a.report = r.id ";
constexpr const char* kObsFailureFrom =
    " FROM report r JOIN policy p ON p.report = r.id JOIN failure f ON f.report = p.report AND f.policy_idx = p.idx "
    "LEFT JOIN report_auth a ON a.report = r.id ";
constexpr const char* kObsCounted = " r.status = 'counted' AND p.policy_domain <> '' ";
constexpr const char* kObsFailureKey = "result_type, has_mx, receiving_mx";
constexpr const char* kObsFailureKeyOfRow =
    "f.result_type, f.receiving_mx_hostname IS NOT NULL, COALESCE(f.receiving_mx_hostname, '')";
constexpr const char* kObsFailureKeyOfRowNamed =
    "f.result_type AS result_type, f.receiving_mx_hostname IS NOT NULL AS has_mx, "
    "COALESCE(f.receiving_mx_hostname, '') AS receiving_mx";

std::string key_match(const char* table, const std::string& cols) {
  std::string out;
  std::size_t start = 0;
  while (start < cols.size()) {
    std::size_t end = cols.find(',', start);
    if (end == std::string::npos) end = cols.size();
    std::string c = cols.substr(start, end - start);
    while (!c.empty() && c.front() == ' ') c.erase(0, 1);
    if (!out.empty()) out += " AND ";
    out += std::string(table) + "." + c + " = s." + c;
    start = end + 1;
  }
  return out;
}

// The policy blocks selected by `where` (over r, p) added to / taken from obs_policy.
std::string add_policies(const std::string& where) {
  return std::string("INSERT INTO obs_policy (") + kObsKey + ", reports, successful_sessions, failed_sessions) SELECT " +
         kObsKeyOfRow + ", 1, p.successful_sessions, p.failed_sessions" + kObsFrom + "WHERE " + where + " AND" +
         kObsCounted + "ON CONFLICT (" + kObsKey +
         ") DO UPDATE SET reports = reports + excluded.reports, "
         "successful_sessions = successful_sessions + excluded.successful_sessions, "
         "failed_sessions = failed_sessions + excluded.failed_sessions;\n";
}
// `before_auth_row`: the rows as they counted before their report_auth row existed
// (authenticated by transport), for the trigger after that row's insert.
std::string row_key_named(bool before_auth_row) {
  std::string k = kObsKeyOfRowNamed;
  if (before_auth_row) {
    const std::string from = "COALESCE(a.authenticated, CASE r.transport WHEN 'https' THEN 0 ELSE 1 END)";
    k.replace(k.find(from), from.size(), "CASE r.transport WHEN 'https' THEN 0 ELSE 1 END");
  }
  return k;
}

std::string sub_policies(const std::string& where, bool before_auth_row = false) {
  const std::string key = kObsKey;
  return std::string("UPDATE obs_policy SET reports = reports - s.n, successful_sessions = "
                     "successful_sessions - s.ok, failed_sessions = failed_sessions - s.bad FROM (SELECT ") +
         row_key_named(before_auth_row) +
         ", COUNT(*) AS n, TOTAL(p.successful_sessions) AS ok, TOTAL(p.failed_sessions) AS bad" +
         kObsFrom + "WHERE " + where + " AND" + kObsCounted + "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) AS s WHERE " +
         key_match("obs_policy", key) + ";\n";
}
// The failure rows selected by `where` (over r, p, f) added to / taken from obs_failure.
std::string add_failures(const std::string& where) {
  return std::string("INSERT INTO obs_failure (") + kObsKey + ", " + kObsFailureKey +
         ", rows, failed_sessions) SELECT " + kObsKeyOfRow + ", " + kObsFailureKeyOfRow + ", 1, f.failed_sessions" +
         kObsFailureFrom + "WHERE " + where + " AND" + kObsCounted + "ON CONFLICT (" + kObsKey + ", " +
         kObsFailureKey +
         ") DO UPDATE SET rows = rows + excluded.rows, failed_sessions = failed_sessions + excluded.failed_sessions;\n";
}
std::string sub_failures(const std::string& where, bool before_auth_row = false) {
  const std::string key = std::string(kObsKey) + ", " + kObsFailureKey;
  return std::string("UPDATE obs_failure SET rows = rows - s.n, failed_sessions = failed_sessions - s.bad "
                     "FROM (SELECT ") +
         row_key_named(before_auth_row) + ", " + kObsFailureKeyOfRowNamed +
         ", COUNT(*) AS n, TOTAL(f.failed_sessions) AS bad" +
         kObsFailureFrom + "WHERE " + where + " AND" + kObsCounted +
         "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) AS s WHERE " + key_match("obs_failure", key) + ";\n";
}

std::string trigger(const std::string& name, const std::string& when, const std::string& body) {
  return "CREATE TRIGGER " + name + " " + when + " BEGIN\n" + body + "END;\n";
}

std::string migration_6() {
  std::string sql = std::string(R"sql(
CREATE TABLE obs_policy (
  policy_domain       TEXT NOT NULL,
  day                 TEXT NOT NULL,
  organization_name   TEXT NOT NULL,
  reporter            TEXT NOT NULL,
  policy_type         TEXT NOT NULL,
  policy_strings      TEXT NOT NULL,
  mx_hosts            TEXT NOT NULL,
  authenticated       INTEGER NOT NULL,
  reports             INTEGER NOT NULL,       -- counted policy blocks summed here
  successful_sessions REAL NOT NULL,
  failed_sessions     REAL NOT NULL,
  PRIMARY KEY (day, policy_domain, organization_name, reporter, policy_type, policy_strings, mx_hosts, authenticated)
) STRICT, WITHOUT ROWID;

CREATE TABLE obs_failure (
  policy_domain     TEXT NOT NULL,
  day               TEXT NOT NULL,
  organization_name TEXT NOT NULL,
  reporter          TEXT NOT NULL,
  policy_type       TEXT NOT NULL,
  policy_strings    TEXT NOT NULL,
  mx_hosts          TEXT NOT NULL,
  authenticated     INTEGER NOT NULL,
  result_type       TEXT NOT NULL,
  has_mx            INTEGER NOT NULL,         -- receiving-mx-hostname given
  receiving_mx      TEXT NOT NULL,
  rows              INTEGER NOT NULL,         -- failure rows summed here
  failed_sessions   REAL NOT NULL,
  PRIMARY KEY (day, policy_domain, organization_name, reporter, policy_type, policy_strings, mx_hosts, authenticated,
               result_type, has_mx, receiving_mx)
) STRICT, WITHOUT ROWID;

-- Reports stored (or made to count by a later copy) whose alert evaluation has not
-- committed yet: written in the store's transaction, cleared in the evaluation's, so
-- a crash in between leaves them here and the next serve or report import
-- evaluates them.
CREATE TABLE alert_pending (
  report INTEGER PRIMARY KEY REFERENCES report (id) ON DELETE CASCADE
) STRICT;
)sql");
  // What is already stored.
  sql += std::string("INSERT INTO obs_policy SELECT ") + kObsKeyOfRow +
         ", COUNT(*), TOTAL(p.successful_sessions), TOTAL(p.failed_sessions)" + kObsFrom + "WHERE" + kObsCounted +
         "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;\n";
  sql += std::string("INSERT INTO obs_failure SELECT ") + kObsKeyOfRow + ", " + kObsFailureKeyOfRow +
         ", COUNT(*), TOTAL(f.failed_sessions)" + kObsFailureFrom + "WHERE" + kObsCounted +
         "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11;\n";

  // Every scope names each table's key outright (r.id, p.report, f.report ...): the
  // planner does not carry a constant through the join's equalities, and without
  // them it scans `report` once per inserted row.
  auto whole_report = [](const std::string& id) {
    const std::string p = "r.id = " + id + " AND p.report = " + id;
    const std::string f = p + " AND f.report = " + id;
    return std::pair{sub_policies(p) + sub_failures(f), add_policies(p) + add_failures(f)};
  };
  auto one_policy = [](const char* row) {
    const std::string r(row);
    const std::string p = "r.id = " + r + ".report AND p.report = " + r + ".report AND p.idx = " + r + ".idx";
    const std::string f = p + " AND f.report = " + r + ".report AND f.policy_idx = " + r + ".idx";
    return std::pair{sub_policies(p) + sub_failures(f), add_policies(p) + add_failures(f)};
  };
  auto one_failure = [](const char* row) {
    const std::string r(row);
    const std::string f = "r.id = " + r + ".report AND p.report = " + r + ".report AND p.idx = " + r +
                          ".policy_idx AND f.report = " + r + ".report AND f.policy_idx = " + r +
                          ".policy_idx AND f.idx = " + r + ".idx";
    return std::pair{sub_failures(f), add_failures(f)};
  };
  const std::string report_changed =
      "WHEN OLD.status IS NOT NEW.status OR OLD.reporter IS NOT NEW.reporter OR OLD.day IS NOT NEW.day OR "
      "OLD.organization_name IS NOT NEW.organization_name OR OLD.transport IS NOT NEW.transport";
  const std::string report_cols = "OF status, reporter, day, organization_name, transport ON report ";
  sql += trigger("obs_report_bu", "BEFORE UPDATE " + report_cols + report_changed, whole_report("OLD.id").first);
  sql += trigger("obs_report_au", "AFTER UPDATE " + report_cols + report_changed, whole_report("NEW.id").second);
  sql += trigger("obs_report_bd", "BEFORE DELETE ON report", whole_report("OLD.id").first);

  // A report's authentication. An insert moves the report's rows from the flag its
  // transport implied to the row's (no BEFORE INSERT trigger: an upsert that turns
  // into an update fires it too, and then no AFTER INSERT); an update (upserts
  // included) moves them from the old flag to the new. report_auth rows are never
  // written with INSERT OR REPLACE, whose hidden delete no trigger would see.
  {
    const std::string w = "r.id = NEW.report AND p.report = NEW.report";
    const std::string wf = w + " AND f.report = NEW.report";
    sql += trigger("obs_auth_ai",
                   "AFTER INSERT ON report_auth WHEN NEW.authenticated IS NOT (SELECT CASE transport WHEN 'https' "
                   "THEN 0 ELSE 1 END FROM report WHERE id = NEW.report)",
                   sub_policies(w, true) + sub_failures(wf, true) + add_policies(w) + add_failures(wf));
  }
  const std::string auth_changed = "OF authenticated ON report_auth WHEN OLD.authenticated IS NOT NEW.authenticated";
  sql += trigger("obs_auth_bu", "BEFORE UPDATE " + auth_changed, whole_report("OLD.report").first);
  sql += trigger("obs_auth_au", "AFTER UPDATE " + auth_changed, whole_report("NEW.report").second);
  sql += trigger("obs_auth_bd", "BEFORE DELETE ON report_auth", whole_report("OLD.report").first);
  sql += trigger("obs_auth_ad", "AFTER DELETE ON report_auth", whole_report("OLD.report").second);

  sql += trigger("obs_policy_bu", "BEFORE UPDATE ON policy", one_policy("OLD").first);
  sql += trigger("obs_policy_au", "AFTER UPDATE ON policy", one_policy("NEW").second);
  sql += trigger("obs_policy_bd", "BEFORE DELETE ON policy", one_policy("OLD").first);

  sql += trigger("obs_failure_bu", "BEFORE UPDATE ON failure", one_failure("OLD").first);
  sql += trigger("obs_failure_au", "AFTER UPDATE ON failure", one_failure("NEW").second);
  sql += trigger("obs_failure_bd", "BEFORE DELETE ON failure", one_failure("OLD").first);
  return sql;
}

// 7: the detectors read the policy rows themselves, through an index on (policy
// domain, day): evaluating a (domain, day) reads the window's rows whatever the
// history holds, as the sums of migration 6 did, without writing a second, wider copy
// of every policy block and failure row. Measured on the pipeline benchmark, the
// sums took about a third of the store's time, and their rows were one per policy
// row: a reporter sends one report per domain and day, so there was little to sum.
// The policy rows take their report's day; the content hash loses its own index (the
// dedupe lookup names organization-name and report-id too, which the UNIQUE index of
// migration 1 serves: equal content has equal ones).
constexpr const char* kMigration7 = R"sql(
DROP TRIGGER IF EXISTS obs_report_bu;
DROP TRIGGER IF EXISTS obs_report_au;
DROP TRIGGER IF EXISTS obs_report_bd;
DROP TRIGGER IF EXISTS obs_auth_ai;
DROP TRIGGER IF EXISTS obs_auth_bu;
DROP TRIGGER IF EXISTS obs_auth_au;
DROP TRIGGER IF EXISTS obs_auth_bd;
DROP TRIGGER IF EXISTS obs_auth_ad;
DROP TRIGGER IF EXISTS obs_policy_bu;
DROP TRIGGER IF EXISTS obs_policy_au;
DROP TRIGGER IF EXISTS obs_policy_bd;
DROP TRIGGER IF EXISTS obs_failure_bu;
DROP TRIGGER IF EXISTS obs_failure_au;
DROP TRIGGER IF EXISTS obs_failure_bd;
DROP TABLE IF EXISTS obs_policy;
DROP TABLE IF EXISTS obs_failure;
DROP INDEX IF EXISTS report_by_content;

ALTER TABLE policy ADD COLUMN day TEXT NOT NULL DEFAULT '';   -- its report's day
UPDATE policy SET day = COALESCE((SELECT r.day FROM report r WHERE r.id = policy.report), '');
DROP INDEX IF EXISTS policy_by_domain;
CREATE INDEX policy_by_domain_day ON policy (policy_domain, day);
)sql";

std::string migration_sql(int n) {
  if (n <= kStaticMigrations) return kMigrations[n - 1];
  return n == 6 ? migration_6() : kMigration7;
}

std::expected<int, StoreError> user_version(Db& db) {
  auto st = db.prepare("PRAGMA user_version");
  if (!st) return std::unexpected(st.error());
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  return static_cast<int>(st->int64(0));
}

}  // namespace

std::expected<void, StoreError> configure_connection(Db& db, int busy_timeout_ms) {
  sqlite3_busy_timeout(db.handle(), busy_timeout_ms);
  sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_ENABLE_FKEY, 1, nullptr);
  // WAL: readers never block the writer. FULL: every COMMIT is fsynced before it
  // returns, which is what makes "acknowledge after commit" a durability promise.
  {
    auto st = db.prepare("PRAGMA journal_mode=WAL");
    if (!st) return std::unexpected(st.error());
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (st->text(0) != "wal")
      return std::unexpected(StoreError{"could not switch the database to WAL mode", SQLITE_ERROR});
  }
  if (auto r = db.exec("PRAGMA synchronous=FULL"); !r) return r;
  return {};
}

std::expected<int, StoreError> migrate(Db& db) {
  auto v = user_version(db);
  if (!v) return v;
  if (*v > kSchemaVersion)
    return std::unexpected(StoreError{"database schema version " + std::to_string(*v) +
                                          " is newer than this tlsrptd understands (" +
                                          std::to_string(kSchemaVersion) + ")",
                                      SQLITE_ERROR});
  for (int next = *v + 1; next <= kSchemaVersion; ++next) {
    if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
    // Another process may have migrated while we waited for the lock.
    auto now = user_version(db);
    if (!now) {
      (void)db.exec("ROLLBACK");
      return now;
    }
    if (*now >= next) {
      (void)db.exec("COMMIT");
      continue;
    }
    auto r = db.exec(migration_sql(next).c_str());
    if (r) r = db.exec(("PRAGMA user_version=" + std::to_string(next)).c_str());
    if (r) r = db.exec("COMMIT");
    if (!r) {
      (void)db.exec("ROLLBACK");
      return std::unexpected(StoreError{"schema migration " + std::to_string(next) + " failed: " + r.error().message,
                                        r.error().code});
    }
  }
  return kSchemaVersion;
}

}  // namespace tlsrpt::storage
