// The alert store on a real SQLite file: migration 2 (also over a version 1
// database with reports in it), the row ids store_batch hands the hook, the detector
// input query, and the lifecycle writes behind the `alerts` view.
#include "storage/alert_store.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "parser/ingest.hpp"
#include "storage/schema.hpp"
#include "storage/store.hpp"
#include "test_support.hpp"

namespace tlsrpt::storage {
namespace {

struct Failure {
  std::string type, mx;
  int n;
};

// A one-policy report as a sender would write it.
std::string report_json(const std::string& org, const std::string& id, const std::string& day,
                        const std::string& domain, const std::string& type, const std::vector<std::string>& strings,
                        int ok, int failed, const std::vector<Failure>& failures = {}) {
  std::string s = R"({"organization-name":")" + org + R"(","date-range":{"start-datetime":")" + day +
                  R"(T00:00:00Z","end-datetime":")" + day + R"(T23:59:59Z"},"contact-info":"tlsrpt@example.net",)" +
                  R"("report-id":")" + id + R"(","policies":[{"policy":{"policy-type":")" + type + R"(","policy-string":[)";
  for (std::size_t i = 0; i < strings.size(); ++i) s += (i ? "," : "") + std::string("\"") + strings[i] + "\"";
  s += R"(],"policy-domain":")" + domain + R"("},"summary":{"total-successful-session-count":)" + std::to_string(ok) +
       R"(,"total-failure-session-count":)" + std::to_string(failed) + "}";
  if (!failures.empty()) {
    s += R"(,"failure-details":[)";
    for (std::size_t i = 0; i < failures.size(); ++i)
      s += (i ? "," : "") + std::string(R"({"result-type":")") + failures[i].type + R"(","receiving-mx-hostname":")" +
           failures[i].mx + R"(","failed-session-count":)" + std::to_string(failures[i].n) + "}";
    s += "]";
  }
  return s + "}]}";
}

const std::vector<std::string> kPolicy = {"version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 86400"};

class AlertStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void open() {
    store_.reset();
    auto s = Store::open((dir_.path() / "t.sqlite").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  // Stores reports in one batch; returns the row ids.
  std::vector<std::int64_t> store(const std::vector<std::string>& jsons, Transport t = Transport::import,
                                  std::optional<bool> authenticated = std::nullopt) {
    Ingestor ing;
    std::vector<Ingested> parsed;
    for (const auto& j : jsons) {
      auto r = ing.ingest(j);
      EXPECT_TRUE(r) << (r ? "" : r.error().text());
      parsed.push_back(std::move(*r));
    }
    Provenance prov;
    prov.transport = t;
    prov.source = "test";
    prov.authenticated = authenticated.value_or(t != Transport::https);  // as the channels set it
    std::vector<PendingReport> batch;
    for (std::size_t i = 0; i < parsed.size(); ++i) batch.push_back({&parsed[i], &prov, jsons[i]});
    std::vector<std::int64_t> ids;
    auto out = store_->store_batch(batch, &ids);
    EXPECT_TRUE(out) << (out ? "" : out.error().message);
    return ids;
  }
  AlertFields fields(std::string day, std::string severity = "warning", std::string summary = "s") {
    return AlertFields{"example.com", "starttls-failure", "sts", std::move(severity), std::move(day),
                       std::move(summary), "e", "{}"};
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(AlertStoreTest, SchemaVersionThreeHasTheAlertsView) {
  auto st = store_->db().prepare("PRAGMA user_version");
  ASSERT_TRUE(st);
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->int64(0), kSchemaVersion);
  auto view = store_->db().prepare(
      "SELECT id, key, policy_domain, kind, policy_type, severity, status, first_day, last_day, opened_at, "
      "last_seen_at, resolved_at, resolved_day, last_notified_at, notifications, suppressed, count, summary, "
      "explanation, evidence FROM alerts");
  EXPECT_TRUE(view) << (view ? "" : view.error().message);
}

TEST_F(AlertStoreTest, MigrationThreeAppliesToAVersionTwoDatabaseWithReports) {
  store({report_json("Google LLC", "r1", "2024-05-01", "example.com", "sts", kPolicy, 10, 0)});
  // Take the database back to version 2 (what an older tlsrptd left behind).
  ASSERT_TRUE(store_->db().exec(test::kUndoMigration5));
  ASSERT_TRUE(store_->db().exec("DROP VIEW alerts; DROP TABLE alert_throttle; DROP TABLE alert_notification; "
                                "DROP TABLE alert; DROP TABLE report_auth; DROP VIEW held_reports; DROP TABLE held_report; "
                                "PRAGMA user_version=2;"));
  open();
  AlertStore a(store_->db());
  auto rows = a.observations("example.com", "2024-04-01", "2024-05-31", false);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].successful_sessions, 10u);
  EXPECT_TRUE(a.list(false));
}

TEST_F(AlertStoreTest, StoreBatchReturnsRowIdsAndZeroForADuplicate) {
  auto first = store({report_json("G", "r1", "2024-05-01", "example.com", "sts", kPolicy, 10, 0),
                      report_json("G", "r2", "2024-05-01", "example.com", "sts", kPolicy, 10, 0)});
  ASSERT_EQ(first.size(), 2u);
  EXPECT_GT(first[0], 0);
  EXPECT_GT(first[1], first[0]);
  auto again = store({report_json("G", "r1", "2024-05-01", "example.com", "sts", kPolicy, 10, 0)});
  EXPECT_EQ(again, std::vector<std::int64_t>{0});
}

TEST_F(AlertStoreTest, ObservationsAreSummedPerDayReporterPolicyAndAuthentication) {
  auto ids = store({
      report_json("Google LLC", "g1", "2024-05-01", "example.com", "sts", kPolicy, 100, 5,
                  {{"starttls-not-supported", "mx1.example.com", 5}}),
      report_json("Google LLC", "g2", "2024-05-01", "example.com", "sts", kPolicy, 50, 2,
                  {{"starttls-not-supported", "mx1.example.com", 2}}),
      report_json("Google LLC", "g3", "2024-05-02", "example.com", "sts", kPolicy, 70, 0),
      report_json("Google LLC", "g4", "2024-05-02", "other.example", "sts", kPolicy, 70, 0),
      report_json("Google LLC", "g5", "2024-04-20", "example.com", "sts", kPolicy, 70, 0),
  });
  AlertStore a(store_->db());
  auto rows = a.observations("example.com", "2024-04-25", "2024-05-02", false);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  const PolicySum& d1 = (*rows)[0];
  EXPECT_EQ(d1.day, "2024-05-01");
  EXPECT_EQ(d1.reporter, "Google LLC");
  EXPECT_EQ(d1.policy_type, "sts");
  EXPECT_EQ(d1.policy_strings, kPolicy);
  EXPECT_TRUE(d1.authenticated);
  EXPECT_EQ(d1.reports, 2u);
  EXPECT_EQ(d1.successful_sessions, 150u);
  EXPECT_EQ(d1.failed_sessions, 7u);
  ASSERT_EQ(d1.failures.size(), 1u);
  EXPECT_EQ(d1.failures[0].result_type, "starttls-not-supported");
  EXPECT_EQ(d1.failures[0].receiving_mx_hostname, "mx1.example.com");
  EXPECT_EQ(d1.failures[0].failed_sessions, 7u);
  EXPECT_EQ((*rows)[1].day, "2024-05-02");

  auto pairs = a.affected(ids);
  ASSERT_TRUE(pairs);
  EXPECT_EQ(*pairs, (std::vector<std::pair<std::string, std::string>>{{"example.com", "2024-04-20"},
                                                                      {"example.com", "2024-05-01"},
                                                                      {"example.com", "2024-05-02"},
                                                                      {"other.example", "2024-05-02"}}));
}

std::int64_t scalar(Db& db, const std::string& sql) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st) << sql;
  if (!st) return -1;
  auto row = st->step();
  EXPECT_TRUE(row && *row) << sql;
  return st->int64(0);
}

// One line per observation of example.com on 2024-05-01 (unauthenticated included):
// "organization reporter auth reports ok/failed [failures]".
std::vector<std::string> seen(AlertStore& a, const std::string& domain = "example.com") {
  auto rows = a.observations(domain, "2024-05-01", "2024-05-01", true);
  EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
  std::vector<std::string> out;
  if (!rows) return out;
  for (const PolicySum& p : *rows) {
    std::string line = p.reporter + " " + p.reporter_id + (p.authenticated ? " auth " : " unauth ") +
                       std::to_string(p.reports) + " " + std::to_string(p.successful_sessions) + "/" +
                       std::to_string(p.failed_sessions);
    for (const FailureSum& f : p.failures)
      line += " " + f.result_type + "@" + f.receiving_mx_hostname.value_or("-") + "=" + std::to_string(f.failed_sessions);
    out.push_back(line);
  }
  return out;
}

// The detectors read the stored rows themselves (schema 7), so every way a stored row
// changes shows at once: a report authenticated later, re-attributed to a signer,
// turned into a conflict, a policy given or losing its domain, rows deleted.
TEST_F(AlertStoreTest, ObservationsFollowEveryChangeOfTheRowsBehindThem) {
  Db& db = store_->db();
  auto https = store({report_json("Google LLC", "h1", "2024-05-01", "example.com", "sts", kPolicy, 10, 3,
                                  {{"starttls-not-supported", "mx1.example.com", 2}, {"certificate-expired", "", 1}}),
                      report_json("Google LLC", "h2", "2024-05-01", "example.com", "sts", kPolicy, 5, 1,
                                  {{"starttls-not-supported", "mx1.example.com", 1}})},
                     Transport::https);
  store({report_json("Microsoft", "i1", "2024-05-01", "example.com", "sts", kPolicy, 7, 2,
                     {{"certificate-expired", "mx2.example.com", 2}})});
  const std::string google = "Google LLC org:Google LLC <tlsrpt@example.net>";
  const std::string microsoft = "Microsoft org:Microsoft <tlsrpt@example.net> auth 1 7/2 certificate-expired@mx2.example.com=2";
  AlertStore a(db);
  EXPECT_EQ(seen(a), (std::vector<std::string>{
                         google + " unauth 2 15/4 certificate-expired@-=1 starttls-not-supported@mx1.example.com=3",
                         microsoft}));
  ASSERT_TRUE(a.record_authentication(https, true));
  EXPECT_EQ(seen(a), (std::vector<std::string>{
                         google + " auth 2 15/4 certificate-expired@-=1 starttls-not-supported@mx1.example.com=3",
                         microsoft}));
  ASSERT_TRUE(db.exec("UPDATE report SET signing_domain = 'google.com', reporter = 'dkim:google.com' "
                      "WHERE report_id = 'h1'"));
  ASSERT_TRUE(db.exec("UPDATE report SET status = 'conflict' WHERE report_id = 'h2'"));
  EXPECT_EQ(seen(a), (std::vector<std::string>{
                         "Google LLC dkim:google.com auth 1 10/3 certificate-expired@-=1 "
                         "starttls-not-supported@mx1.example.com=2",
                         microsoft}));
  ASSERT_TRUE(db.exec("UPDATE policy SET policy_domain = '' WHERE report = (SELECT id FROM report WHERE report_id = 'i1')"));
  EXPECT_EQ(seen(a).size(), 1u);
  ASSERT_TRUE(db.exec("UPDATE policy SET policy_domain = 'example.net' WHERE policy_domain = ''"));
  EXPECT_EQ(seen(a, "example.net"), (std::vector<std::string>{microsoft}));
  ASSERT_TRUE(db.exec("DELETE FROM failure WHERE result_type = 'certificate-expired' AND receiving_mx_hostname IS NULL"));
  ASSERT_TRUE(db.exec("DELETE FROM report WHERE report_id = 'h1'"));
  EXPECT_TRUE(seen(a).empty());
}

// Evaluating a (domain, day) costs the same whatever the history holds: both
// statements seek the window through policy_by_domain_day and look every other row up
// by its key; none scans a table.
TEST_F(AlertStoreTest, ObservationsSeekTheWindowThroughTheDomainDayIndex) {
  for (bool failures : {false, true}) {
    auto st = store_->db().prepare("EXPLAIN QUERY PLAN " + AlertStore::observations_sql(failures));
    ASSERT_TRUE(st) << st.error().message;
    std::string plan;
    for (;;) {
      auto row = st->step();
      ASSERT_TRUE(row);
      if (!*row) break;
      plan += st->text(3) + "\n";
    }
    EXPECT_NE(plan.find("SEARCH p USING INDEX policy_by_domain_day (policy_domain=? AND day=?)"), std::string::npos)
        << plan;
    EXPECT_NE(plan.find("SEARCH r USING INTEGER PRIMARY KEY (rowid=?)"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("SCAN p"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("SCAN r"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("SCAN f"), std::string::npos) << plan;
  }
}

// Migration 7 drops migration 6's sums and triggers and gives every policy row its
// report's day; the observations are what they were.
TEST_F(AlertStoreTest, MigrationSevenDropsTheSumsAndDatesThePolicies) {
  store({report_json("Google LLC", "h1", "2024-05-01", "example.com", "sts", kPolicy, 10, 3,
                     {{"starttls-not-supported", "mx1.example.com", 2}, {"certificate-expired", "", 1}})},
        Transport::https);
  store({report_json("Microsoft", "i1", "2024-05-02", "example.com", "sts", kPolicy, 7, 2,
                     {{"certificate-expired", "mx2.example.com", 2}})});
  Db& before = store_->db();
  ASSERT_TRUE(before.exec(test::kUndoMigration7));
  // What schema 6 had on top (the shape is enough: migration 7 drops it by name).
  ASSERT_TRUE(before.exec("CREATE TABLE obs_policy (x); CREATE TABLE obs_failure (x); "
                          "CREATE TRIGGER obs_policy_bd BEFORE DELETE ON policy BEGIN SELECT 1; END; "
                          "CREATE TRIGGER obs_auth_ai AFTER INSERT ON report_auth BEGIN SELECT 1; END; "
                          "PRAGMA user_version=6"));
  open();
  Db& db = store_->db();
  EXPECT_EQ(scalar(db, "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'obs\\_%' ESCAPE '\\'"), 0);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('report_by_content', 'policy_by_domain')"), 0);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM policy p JOIN report r ON r.id = p.report WHERE p.day = r.day"), 2);
  AlertStore a(db);
  auto rows = a.observations("example.com", "2024-04-01", "2024-05-31", true);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].day, "2024-05-01");
  EXPECT_EQ((*rows)[0].failures.size(), 2u);
  EXPECT_EQ((*rows)[1].day, "2024-05-02");
  EXPECT_EQ((*rows)[1].successful_sessions, 7u);
}

TEST_F(AlertStoreTest, UnauthenticatedReportsAreLeftOutUnlessAskedFor) {
  auto https = store({report_json("Forger", "f1", "2024-05-01", "example.com", "sts", kPolicy, 0, 9)}, Transport::https);
  // A mail whose DKIM failed (dkim = "record").
  store({report_json("Spoofer", "s1", "2024-05-01", "example.com", "sts", kPolicy, 0, 9)}, Transport::smtp, false);
  store({report_json("Google LLC", "g1", "2024-05-01", "example.com", "sts", kPolicy, 10, 0)});
  AlertStore a(store_->db());
  auto trusted = a.observations("example.com", "2024-05-01", "2024-05-01", false);
  ASSERT_TRUE(trusted);
  ASSERT_EQ(trusted->size(), 1u);  // HTTPS without a row counts as unauthenticated
  EXPECT_EQ((*trusted)[0].reporter, "Google LLC");
  auto all = a.observations("example.com", "2024-05-01", "2024-05-01", true);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(std::count_if(all->begin(), all->end(), [](const PolicySum& p) { return !p.authenticated; }), 2);
  // An HTTPS report the channel vouches for (a row says so) counts as authenticated;
  // being evaluated again as unauthenticated never takes that away.
  ASSERT_TRUE(a.record_authentication(https, true));
  EXPECT_EQ(a.observations("example.com", "2024-05-01", "2024-05-01", false)->size(), 2u);
  ASSERT_TRUE(a.record_authentication(https, false));
  EXPECT_EQ(a.observations("example.com", "2024-05-01", "2024-05-01", false)->size(), 2u);
}

TEST_F(AlertStoreTest, OneOpenAlertPerDomainAndKind) {
  AlertStore a(store_->db());
  auto id = a.open_alert(fields("2024-05-01"), "2024-05-02T06:00:00Z");
  ASSERT_TRUE(id) << id.error().message;
  auto dup = a.open_alert(fields("2024-05-01"), "2024-05-02T06:00:01Z");
  EXPECT_FALSE(dup);  // the partial unique index
  auto open = a.find_open("example.com", "starttls-failure");
  ASSERT_TRUE(open && *open);
  EXPECT_EQ((**open).id, *id);
  EXPECT_EQ((**open).status, "open");
  EXPECT_EQ((**open).count, 1);
  // Resolved, the same condition may open a new alert.
  ASSERT_TRUE(a.resolve(*id, std::optional<std::string>("2024-05-03"), "2024-05-04T06:00:00Z"));
  EXPECT_FALSE(*a.find_open("example.com", "starttls-failure"));
  auto second = a.open_alert(fields("2024-05-05"), "2024-05-06T06:00:00Z");
  ASSERT_TRUE(second);
  auto all = a.list(false);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, *second);  // newest first
  EXPECT_EQ((*all)[1].resolved_day, "2024-05-03");
  EXPECT_EQ((*all)[1].resolved_at, "2024-05-04T06:00:00Z");
  EXPECT_EQ(a.list(true)->size(), 1u);
}

TEST_F(AlertStoreTest, SeenAgainKeepsTheLatestDaysText) {
  AlertStore a(store_->db());
  auto id = *a.open_alert(fields("2024-05-02", "warning", "day two"), "2024-05-03T01:00:00Z");
  ASSERT_TRUE(a.seen_again(id, fields("2024-05-03", "critical", "day three"), "2024-05-04T01:00:00Z"));
  ASSERT_TRUE(a.seen_again(id, fields("2024-05-01", "info", "late day one"), "2024-05-04T02:00:00Z"));
  auto r = **a.find_open("example.com", "starttls-failure");
  EXPECT_EQ(r.first_day, "2024-05-01");
  EXPECT_EQ(r.last_day, "2024-05-03");
  EXPECT_EQ(r.summary, "day three");
  EXPECT_EQ(r.severity, "critical");
  EXPECT_EQ(r.count, 3);
  EXPECT_EQ(r.last_seen_at, "2024-05-04T02:00:00Z");
}

TEST_F(AlertStoreTest, NotificationsAndTheHourlyLog) {
  AlertStore a(store_->db());
  auto id = *a.open_alert(fields("2024-05-01"), "2024-05-02T06:00:00Z");
  EXPECT_FALSE(*a.last_notification("example.com", "starttls-failure"));
  ASSERT_TRUE(a.mark_notified(id, "warning", "2024-05-02T06:00:00Z"));
  ASSERT_TRUE(a.log_notification(id, "2024-05-02T06:00:00Z"));
  ASSERT_TRUE(a.log_notification(id, "2024-05-02T07:30:00Z"));
  ASSERT_TRUE(a.mark_notified(id, "critical", "2024-05-02T07:30:00Z"));
  ASSERT_TRUE(a.mark_suppressed(id));
  auto last = *a.last_notification("example.com", "starttls-failure");
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, (std::pair<std::string, std::string>{"2024-05-02T07:30:00Z", "critical"}));
  EXPECT_EQ(*a.notifications_since("2024-05-02T06:30:00Z"), 1);
  EXPECT_EQ(*a.notifications_since("2024-05-02T05:00:00Z"), 2);
  ASSERT_TRUE(a.prune_notifications("2024-05-02T07:00:00Z"));
  EXPECT_EQ(*a.notifications_since("2024-05-01T00:00:00Z"), 1);
  auto r = **a.find_open("example.com", "starttls-failure");
  EXPECT_EQ(r.notifications, 2);
  EXPECT_EQ(r.suppressed, 1);

  auto t = *a.throttle();
  EXPECT_EQ(t.first, 0);
  EXPECT_FALSE(t.second);
  ASSERT_TRUE(a.set_throttle(4, std::optional<std::string>("2024-05-02T07:30:00Z")));
  t = *a.throttle();
  EXPECT_EQ(t.first, 4);
  EXPECT_EQ(t.second, "2024-05-02T07:30:00Z");
}

TEST_F(AlertStoreTest, ReportFieldsAreStoredByteExact) {
  // Bound parameters only: hostile text round-trips unchanged and breaks nothing.
  AlertStore a(store_->db());
  AlertFields f = fields("2024-05-01");
  f.summary = "x'); DROP TABLE report;--\r\n\x1b[2J";
  auto id = a.open_alert(f, "2024-05-02T06:00:00Z");
  ASSERT_TRUE(id);
  EXPECT_EQ((**a.find_open("example.com", "starttls-failure")).summary, f.summary);
  EXPECT_TRUE(store_->db().prepare("SELECT count(*) FROM report"));
}

}  // namespace
}  // namespace tlsrpt::storage
