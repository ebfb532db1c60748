// storage/store.cpp on real SQLite files: one transaction per batch, dedupe on the
// content, conflicts within one reporter kept and flagged, raw bytes kept, the
// views of docs/architecture.md#storage-contract with their columns.
#include "storage/store.hpp"

#include <gtest/gtest.h>

#include "storage/schema.hpp"
#include "test_support.hpp"

namespace tlsrpt::storage {
namespace {

std::string report_json(const std::string& org, const std::string& id, int ok, int failed,
                        const std::string& day = "2024-03-01", const std::string& domain = "example.com") {
  return R"({"organization-name":")" + org + R"(","date-range":{"start-datetime":")" + day +
         R"(T00:00:00Z","end-datetime":")" + day + R"(T23:59:59Z"},"contact-info":"r@reporter.example","report-id":")" +
         id + R"(","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx.)" +
         domain + R"(","max_age: 86400"],"policy-domain":")" + domain + R"("},"summary":{"total-successful-session-count":)" +
         std::to_string(ok) + R"(,"total-failure-session-count":)" + std::to_string(failed) +
         R"(},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.)" +
         domain + R"(","failed-session-count":)" + std::to_string(failed) + "}]}]}";
}

struct Submitted {
  std::string raw;
  Ingested ingested;
  Provenance provenance;
};

Submitted make(const std::string& json) {
  Ingestor ing;
  auto r = ing.ingest(json);
  EXPECT_TRUE(r) << (r ? "" : r.error().text());
  Submitted s{json, r ? std::move(*r) : Ingested{}, {}};
  s.provenance.transport = Transport::https;
  s.provenance.source = "192.0.2.200";
  s.provenance.media_type = "application/tlsrpt+json";
  s.provenance.received_at = std::chrono::sys_days{std::chrono::year{2024} / 3 / 2};
  return s;
}

std::vector<StoreOutcome> store(Store& st, std::vector<Submitted>& subs) {
  std::vector<PendingReport> p;
  for (auto& s : subs) p.push_back({&s.ingested, &s.provenance, s.raw});
  auto r = st.store_batch(p);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<StoreOutcome>{};
}

std::int64_t scalar(Db& db, const char* sql) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st) << sql;
  auto row = st->step();
  EXPECT_TRUE(row && *row) << sql;
  return st->int64(0);
}

class StoreTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::string path = (dir.path() / "sub" / "t.sqlite").string();
  std::unique_ptr<Store> st;
  void SetUp() override {
    auto s = Store::open(path);
    ASSERT_TRUE(s) << s.error().message;
    st = std::move(*s);
  }
};

TEST_F(StoreTest, CreatesTheFileAndSchema) {
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(scalar(st->db(), "PRAGMA user_version"), kSchemaVersion);
  auto mode = st->db().prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode && *mode->step());
  EXPECT_EQ(mode->text(0), "wal");
  EXPECT_EQ(scalar(st->db(), "PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(scalar(st->db(), "PRAGMA foreign_keys"), 1);
}

TEST_F(StoreTest, StoresAndCountsOnce) {
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "r1", 10, 2)));
  EXPECT_EQ(store(*st, a), std::vector<StoreOutcome>{StoreOutcome::stored});
  // The same report again, pretty-printed and gzipped: a duplicate, counted once.
  std::vector<Submitted> b;
  b.push_back(make(report_json("Org", "r1", 10, 2)));
  b[0].raw = test::gzip(b[0].raw);
  EXPECT_EQ(store(*st, b), std::vector<StoreOutcome>{StoreOutcome::duplicate});
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports"), 1);
  EXPECT_EQ(scalar(st->db(), "SELECT successful_sessions FROM policy_daily"), 10);
  EXPECT_EQ(scalar(st->db(), "SELECT failed_sessions FROM policy_daily"), 2);
  EXPECT_EQ(scalar(st->db(), "SELECT failed_sessions FROM failure_daily"), 2);
}

TEST_F(StoreTest, SameKeyDifferentContentIsAFlaggedConflictNotCounted) {
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "r1", 10, 2)));
  a.push_back(make(report_json("Org", "r1", 999, 0)));  // squatting the report-id
  a.push_back(make(report_json("Other Org", "r1", 5, 0)));  // another reporter: not a duplicate
  EXPECT_EQ(store(*st, a), (std::vector<StoreOutcome>{StoreOutcome::stored, StoreOutcome::conflict, StoreOutcome::stored}));
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports"), 3);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports WHERE status = 'conflict'"), 1);
  EXPECT_EQ(scalar(st->db(), "SELECT sum(successful_sessions) FROM policy_daily"), 15);
  // Re-submitting the conflicting content is a duplicate of the conflict, not a new row.
  std::vector<Submitted> b;
  b.push_back(make(report_json("Org", "r1", 999, 0)));
  EXPECT_EQ(store(*st, b), std::vector<StoreOutcome>{StoreOutcome::duplicate});
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports"), 3);
}

// docs/receiver-rules.md#report-identity, one row per property. Each step submits
// one report: who sent it (its reporter) and what it says; the expectation is the
// store's outcome and the sessions counted for example.com after it.
struct Sender {
  Transport transport = Transport::https;
  std::string signer;  // the aligned DKIM d=; "" = unauthenticated
  std::string contact = "r@reporter.example";
};
const Sender kHttps{};
const Sender kHttpsOtherContact{Transport::https, "", "postmaster@host2.example"};
const Sender kGoogleMail{Transport::smtp, "google.com"};
const Sender kAttackerMail{Transport::smtp, "attacker.example"};

struct Step {
  Sender sender;
  std::string org, id;
  int ok;  // successful sessions: the content
  StoreOutcome expect;
  int counted_after;  // successful sessions counted in policy_daily afterwards
};

Submitted from(const Sender& who, const Step& step) {
  std::string json = report_json(step.org, step.id, step.ok, 0);
  const std::string from = R"("contact-info":"r@reporter.example")";
  json.replace(json.find(from), from.size(), R"("contact-info":")" + who.contact + "\"");
  Submitted s = make(json);
  s.provenance.transport = who.transport;
  s.provenance.authenticated = !who.signer.empty();
  s.provenance.signing_domain = who.signer;
  s.provenance.auth_method = who.signer.empty() ? "https" : "dkim pass d=" + who.signer;
  return s;
}

struct IdentityCase {
  const char* name;
  std::vector<Step> steps;
};

const IdentityCase kIdentityCases[] = {
    {"the same content on any channel counts once",
     {{kHttps, "Google Inc.", "d1", 10, StoreOutcome::stored, 10},
      {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 10},
      {kAttackerMail, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 10},
      {kHttps, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 10}}},
    {"a forger signing with its own domain does not push the real report aside",
     {{kAttackerMail, "Google Inc.", "d1", 999, StoreOutcome::stored, 999},
      {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::stored, 1009}}},
    {"an unsigned forgery does not push the signed report aside, nor the other way round",
     {{kHttps, "Google Inc.", "d1", 999, StoreOutcome::stored, 999},
      {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::stored, 1009},
      {kHttps, "Google Inc.", "d2", 1, StoreOutcome::stored, 1010}}},
    {"two independent reporters with one organization-name and colliding report-ids both count",
     {{kHttps, "Example Org", "2026-11-27T00:00:00Z_idx0_example.com", 5, StoreOutcome::stored, 5},
      {kHttpsOtherContact, "Example Org", "2026-11-27T00:00:00Z_idx0_example.com", 7, StoreOutcome::stored, 12}}},
    {"the same reporter with other content under one report-id is a conflict, not counted",
     {{kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::stored, 10},
      {kGoogleMail, "Google Inc.", "d1", 20, StoreOutcome::conflict, 10},
      {kGoogleMail, "Google Inc.", "d1", 20, StoreOutcome::duplicate, 10}}},
    {"an unauthenticated reporter is its organization-name with its contact-info",
     {{kHttps, "Org", "r1", 10, StoreOutcome::stored, 10},
      {kHttps, "Org", "r1", 11, StoreOutcome::conflict, 10},
      {kHttpsOtherContact, "Org", "r1", 12, StoreOutcome::stored, 22}}},
};

TEST_F(StoreTest, ReportIdentity) {
  for (const auto& c : kIdentityCases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(st->db().exec("DELETE FROM report"));
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const Step& step = c.steps[i];
      SCOPED_TRACE("step " + std::to_string(i + 1));
      std::vector<Submitted> one;
      one.push_back(from(step.sender, step));
      EXPECT_EQ(store(*st, one), std::vector<StoreOutcome>{step.expect});
      EXPECT_EQ(scalar(st->db(), "SELECT CAST(TOTAL(successful_sessions) AS INTEGER) FROM policy_daily"),
                step.counted_after);
    }
  }
}

TEST_F(StoreTest, ReporterIdentityNamesTheSignerOrTheClaimedName) {
  Submitted https = from(kHttps, {kHttps, "Org", "r1", 1, StoreOutcome::stored, 1});
  EXPECT_EQ(reporter_identity(https.ingested.parsed.report, https.provenance), "org:Org <r@reporter.example>");
  Submitted mail = from(kGoogleMail, {kGoogleMail, "Google Inc.", "r1", 1, StoreOutcome::stored, 1});
  EXPECT_EQ(reporter_identity(mail.ingested.parsed.report, mail.provenance), "dkim:google.com");
  std::vector<Submitted> a;
  a.push_back(std::move(mail));
  store(*st, a);
  auto q = st->db().prepare("SELECT reporter, signing_domain FROM reports");
  ASSERT_TRUE(q && *q->step());
  EXPECT_EQ(q->text(0), "dkim:google.com");
  EXPECT_EQ(q->text(1), "google.com");
}

// The same report POSTed first and mailed with a signature later: the counted copy
// becomes authenticated (so alerts see it), still counted once.
TEST_F(StoreTest, ASignedCopyAuthenticatesTheCountedOne) {
  std::vector<Submitted> a;
  a.push_back(from(kHttps, {kHttps, "Google Inc.", "d1", 10, StoreOutcome::stored, 10}));
  std::vector<std::int64_t> ids;
  std::vector<PendingReport> p{{&a[0].ingested, &a[0].provenance, a[0].raw}};
  ASSERT_TRUE(st->store_batch(p, &ids));
  std::vector<Submitted> b;
  b.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 10}));
  std::vector<PendingReport> q{{&b[0].ingested, &b[0].provenance, b[0].raw}};
  std::vector<std::int64_t> ids2;
  auto out = st->store_batch(q, &ids2);
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)[0], StoreOutcome::duplicate);
  EXPECT_EQ(ids2[0], ids[0]);  // handed to the alert hook again
  EXPECT_EQ(scalar(st->db(), "SELECT authenticated FROM report_auth"), 1);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports WHERE signing_domain = 'google.com'"), 1);
  EXPECT_EQ(scalar(st->db(), "SELECT successful_sessions FROM policy_daily"), 10);
}

// A signed copy of a counted unsigned report makes it the signer's report: that
// signer's other content under the same report-id is then a conflict, whatever the order.
TEST_F(StoreTest, ASignedCopyMakesTheCountedReportTheSignersReport) {
  std::vector<Submitted> a;
  a.push_back(from(kHttps, {kHttps, "Google Inc.", "d1", 10, StoreOutcome::stored, 10}));
  a.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 10}));
  a.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 20, StoreOutcome::conflict, 10}));
  EXPECT_EQ(store(*st, a),
            (std::vector<StoreOutcome>{StoreOutcome::stored, StoreOutcome::duplicate, StoreOutcome::conflict}));
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports WHERE reporter = 'dkim:google.com'"), 2);
  EXPECT_EQ(scalar(st->db(), "SELECT successful_sessions FROM policy_daily"), 10);
}

// What a copy may change about the counted report, policy by policy, by the index
// each policy has in the report as sent.
TEST_F(StoreTest, ACopyAttributesOnlyWhatItAttributedAndOnlyIfVouchedForAsWell) {
  const std::string json =
      R"({"organization-name":"Org","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-01T23:59:59Z"},)"
      R"("contact-info":"r@reporter.example","report-id":"r1","policies":[)"
      R"({"policy":{"policy-type":"no-policy-found"},"summary":{"total-successful-session-count":0,"total-failure-session-count":5}},)"
      R"({"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":5}}]})";
  auto domains = [&] {
    auto q = st->db().prepare("SELECT group_concat(idx || '=' || policy_domain, ' ') FROM policy ORDER BY idx");
    EXPECT_TRUE(q && *q->step());
    return q->text(0);
  };
  std::vector<Submitted> a;
  a.push_back(make(json));  // nothing attributes its first policy
  a[0].provenance.authenticated = true;  // the admin's import
  store(*st, a);
  EXPECT_EQ(domains(), "0= 1=example.com");
  // A copy sent for other.org: its first policy went to other.org and was left out
  // (not served); the second is now its position 0, but was not attributed.
  std::vector<Submitted> b;
  b.push_back(make(json));
  b[0].provenance.authenticated = true;
  b[0].ingested.parsed.report.policies.erase(b[0].ingested.parsed.report.policies.begin());
  b[0].ingested.policy_index = {1};
  b[0].ingested.attributed = {0};
  EXPECT_EQ(store(*st, b), std::vector<StoreOutcome>{StoreOutcome::duplicate});
  EXPECT_EQ(domains(), "0= 1=example.com");
  // An unauthenticated copy attributing it to a served domain: not vouched for as well.
  std::vector<Submitted> c;
  c.push_back(make(json));
  c[0].ingested.parsed.report.policies[0].policy.domain = "example.com";
  c[0].ingested.attributed = {0};
  EXPECT_EQ(store(*st, c), std::vector<StoreOutcome>{StoreOutcome::duplicate});
  EXPECT_EQ(domains(), "0= 1=example.com");
  EXPECT_EQ(scalar(st->db(), "SELECT authenticated FROM report_auth"), 1);
  // The same, vouched for: attributed.
  c[0].provenance.authenticated = true;
  EXPECT_EQ(store(*st, c), std::vector<StoreOutcome>{StoreOutcome::duplicate});
  EXPECT_EQ(domains(), "0=example.com 1=example.com");
}

// Migration 5 moves a version 4 database to the reporter identity: every row kept
// with its status, nothing re-counted, DKIM rows named by their signer.
TEST_F(StoreTest, MigrationFiveKeepsEveryRowAndCount) {
  std::vector<Submitted> a;
  a.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::stored, 10}));
  a.push_back(from(kHttps, {kHttps, "Org", "r1", 5, StoreOutcome::stored, 15}));
  a.push_back(from(kHttps, {kHttps, "Org", "r1", 6, StoreOutcome::conflict, 15}));
  a[0].provenance.auth_method = "dkim pass d=Google.com by mx.example";  // as an upstream verdict reads
  a[0].provenance.signing_domain.clear();  // version 4 did not know it
  store(*st, a);
  const auto before = scalar(st->db(), "SELECT CAST(TOTAL(successful_sessions) AS INTEGER) FROM policy_daily");
  ASSERT_TRUE(st->db().exec(test::kUndoMigration5));
  ASSERT_TRUE(st->db().exec("PRAGMA user_version=4"));
  st.reset();
  auto reopened = Store::open(path);
  ASSERT_TRUE(reopened) << reopened.error().message;
  st = std::move(*reopened);
  EXPECT_EQ(scalar(st->db(), "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports"), 3);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM reports WHERE status = 'conflict'"), 1);
  EXPECT_EQ(scalar(st->db(), "SELECT CAST(TOTAL(successful_sessions) AS INTEGER) FROM policy_daily"), before);
  auto q = st->db().prepare("SELECT reporter, coalesce(signing_domain, '-') FROM reports ORDER BY id");
  std::string rows;
  while (q && *q->step()) rows += q->text(0) + "|" + q->text(1) + ";";
  EXPECT_EQ(rows, "dkim:google.com|google.com;org:Org <r@reporter.example>|-;org:Org <r@reporter.example>|-;");
  // The migrated identities work like new ones: the signed report again is a duplicate,
  // other content from Google a conflict, another reporter's claim counted.
  std::vector<Submitted> b;
  b.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 10, StoreOutcome::duplicate, 0}));
  b.push_back(from(kGoogleMail, {kGoogleMail, "Google Inc.", "d1", 11, StoreOutcome::conflict, 0}));
  b.push_back(from(kHttpsOtherContact, {kHttpsOtherContact, "Org", "r1", 7, StoreOutcome::stored, 0}));
  EXPECT_EQ(store(*st, b),
            (std::vector<StoreOutcome>{StoreOutcome::duplicate, StoreOutcome::conflict, StoreOutcome::stored}));
}

TEST_F(StoreTest, DuplicatesInsideOneBatch) {
  std::vector<Submitted> a;
  for (int i = 0; i < 5; ++i) a.push_back(make(report_json("Org", "same", 1, 0)));
  auto out = store(*st, a);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0], StoreOutcome::stored);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(out[i], StoreOutcome::duplicate);
  EXPECT_EQ(scalar(st->db(), "SELECT successful_sessions FROM policy_daily"), 1);
}

TEST_F(StoreTest, RawBytesAndProvenanceAreKept) {
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "r1", 1, 0)));
  a[0].raw = test::gzip(a[0].raw);
  a[0].provenance.media_type = "application/tlsrpt+gzip";
  store(*st, a);
  auto q = st->db().prepare(
      "SELECT rr.media_type, length(rr.bytes), r.transport, r.source, r.received_at, r.day, r.start_datetime, "
      "r.end_datetime, r.status, r.contact_info FROM reports r JOIN report_raw rr ON rr.report = r.id");
  ASSERT_TRUE(q);
  ASSERT_TRUE(*q->step());
  EXPECT_EQ(q->text(0), "application/tlsrpt+gzip");
  EXPECT_EQ(q->int64(1), static_cast<std::int64_t>(a[0].raw.size()));
  EXPECT_EQ(q->text(2), "https");
  EXPECT_EQ(q->text(3), "192.0.2.200");
  EXPECT_EQ(q->text(4), "2024-03-02T00:00:00Z");
  EXPECT_EQ(q->text(5), "2024-03-01");
  EXPECT_EQ(q->text(6), "2024-03-01T00:00:00Z");
  EXPECT_EQ(q->text(7), "2024-03-01T23:59:59Z");
  EXPECT_EQ(q->text(8), "stored");
  EXPECT_EQ(q->text(9), "r@reporter.example");
}

TEST_F(StoreTest, ViewsHaveTheDocumentedColumns) {
  auto columns = [&](const char* view) {
    std::vector<std::string> out;
    auto q = st->db().prepare(std::string("SELECT name FROM pragma_table_info('") + view + "')");
    while (*q->step()) out.push_back(q->text(0));
    return out;
  };
  auto has = [](const std::vector<std::string>& cols, std::initializer_list<const char*> want) {
    for (const char* w : want)
      if (std::find(cols.begin(), cols.end(), w) == cols.end()) return testing::AssertionFailure() << "missing " << w;
    return testing::AssertionSuccess();
  };
  EXPECT_TRUE(has(columns("reports"), {"organization_name", "report_id", "contact_info", "start_datetime",
                                       "end_datetime", "received_at", "transport"}));
  EXPECT_TRUE(has(columns("policy_daily"), {"day", "policy_domain", "policy_type", "organization_name",
                                            "successful_sessions", "failed_sessions"}));
  EXPECT_TRUE(has(columns("failure_daily"), {"day", "policy_domain", "policy_type", "organization_name",
                                             "result_type", "receiving_mx_hostname", "sending_mta_ip", "failed_sessions"}));
}

TEST_F(StoreTest, DailyAggregation) {
  std::vector<Submitted> a;
  a.push_back(make(report_json("Google Inc.", "g1", 10, 1, "2024-03-01")));
  a.push_back(make(report_json("Microsoft Corporation", "m1", 20, 2, "2024-03-01")));
  a.push_back(make(report_json("Google Inc.", "g2", 30, 3, "2024-03-02")));
  a.push_back(make(report_json("Google Inc.", "g3", 1, 0, "2024-03-02", "other.example")));
  store(*st, a);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM policy_daily"), 4);
  EXPECT_EQ(scalar(st->db(), "SELECT sum(successful_sessions) FROM policy_daily WHERE policy_domain = 'example.com'"), 60);
  EXPECT_EQ(scalar(st->db(), "SELECT successful_sessions FROM policy_daily WHERE day = '2024-03-01' AND "
                             "organization_name = 'Microsoft Corporation'"),
            20);
}

TEST_F(StoreTest, HugeCountsDoNotBreakTheViews) {
  // Many counts near 2^53 must not make SUM() raise "integer overflow".
  std::vector<Submitted> a;
  for (int i = 0; i < 1100; ++i) a.push_back(make(report_json("Org", "big" + std::to_string(i), 0, 0)));
  for (auto& s : a) s.ingested.parsed.report.policies[0].summary.successful = kMaxCount;
  store(*st, a);
  auto q = st->db().prepare("SELECT successful_sessions FROM policy_daily");
  ASSERT_TRUE(q);
  auto row = q->step();
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_GT(q->int64(0), 0);
}

TEST_F(StoreTest, BatchIsAllOrNothing) {
  // A batch whose second report violates a constraint leaves nothing behind.
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "ok-1", 1, 0)));
  a.push_back(make(report_json("Org", "bad", 1, 0)));
  // Out of range for the CHECK (successful_sessions >= 0) once stored as a signed integer.
  a[1].ingested.parsed.report.policies[0].summary.successful = ~Count{0};
  std::vector<PendingReport> p;
  for (auto& s : a) p.push_back({&s.ingested, &s.provenance, s.raw});
  auto r = st->store_batch(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM report"), 0);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM policy"), 0);
  // And the store keeps working.
  std::vector<Submitted> b;
  b.push_back(make(report_json("Org", "ok-1", 1, 0)));
  EXPECT_EQ(store(*st, b), std::vector<StoreOutcome>{StoreOutcome::stored});
}

TEST_F(StoreTest, LockedDatabaseIsATransientError) {
  StoreOptions opts;
  opts.busy_timeout_ms = 50;
  auto other = Db::open(path, false);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->exec("BEGIN EXCLUSIVE"));
  auto s2 = Store::open(path, opts);
  ASSERT_TRUE(s2) << s2.error().message;
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "r1", 1, 0)));
  std::vector<PendingReport> p{{&a[0].ingested, &a[0].provenance, a[0].raw}};
  auto r = (*s2)->store_batch(p);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().transient()) << r.error().message;
  ASSERT_TRUE(other->exec("ROLLBACK"));
  EXPECT_TRUE((*s2)->store_batch(p));
}

// A submission over SQLite's length limit is refused at bind time: a storage error
// (the intake replies with a temporary failure), not a report stored without its raw
// bytes, and the store's reused statements work for the next batch.
TEST_F(StoreTest, RawBytesOverTheLengthLimitAreAStoreError) {
  sqlite3_limit(st->db().handle(), SQLITE_LIMIT_LENGTH, 5000);
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "big-1", 1, 0)));
  a[0].raw += std::string(6000, ' ');
  std::vector<PendingReport> p{{&a[0].ingested, &a[0].provenance, a[0].raw}};
  auto r = st->store_batch(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SQLITE_TOOBIG) << r.error().message;
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM report"), 0);
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM report_raw"), 0);
  std::vector<Submitted> b;
  b.push_back(make(report_json("Org", "ok-1", 1, 0)));
  EXPECT_EQ(store(*st, b), std::vector<StoreOutcome>{StoreOutcome::stored});
  EXPECT_EQ(scalar(st->db(), "SELECT count(*) FROM report_raw"), 1);
}

TEST_F(StoreTest, ReopenKeepsDataAndSchema) {
  std::vector<Submitted> a;
  a.push_back(make(report_json("Org", "r1", 7, 0)));
  store(*st, a);
  st.reset();
  auto again = Store::open(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(scalar((*again)->db(), "SELECT successful_sessions FROM policy_daily"), 7);
}

TEST(Schema, RefusesANewerDatabase) {
  test::TempDir dir;
  std::string path = (dir.path() / "new.sqlite").string();
  {
    auto db = Db::open(path, true);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version=999"));
  }
  auto s = Store::open(path);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("newer than this tlsrptd"), std::string::npos);
}

}  // namespace
}  // namespace tlsrpt::storage
