// The after-commit hook on a real SQLite file with an in-process sink: one alert per
// condition however many reporters say it, re-delivery adds nothing, reminders only
// after the cooldown, auto-resolution, forged floods (docs/guarantees.md#output-side),
// the hourly cap with its summary, escalation, stale days and lapsed alerts.
#include "daemon/intake/alerting.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "parser/datetime.hpp"
#include "parser/ingest.hpp"
#include "storage/alert_store.hpp"
#include "storage/store.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono_literals;

struct Failure {
  std::string type, mx;
  int n;
};

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

std::string failing(const std::string& org, const std::string& id, const std::string& day,
                    const std::string& domain = "example.com") {
  return report_json(org, id, day, domain, "sts", kPolicy, 900, 100, {{"starttls-not-supported", "mx1.example.com", 100}});
}
std::string calm(const std::string& org, const std::string& id, const std::string& day,
                 const std::string& domain = "example.com") {
  return report_json(org, id, day, domain, "sts", kPolicy, 1000, 0);
}

std::chrono::sys_seconds at(const char* t) { return parse_rfc3339(t)->time; }

struct Collected {
  std::mutex mu;
  std::vector<alerts::Alert> alerts;
  std::vector<std::string> log;
};

class CollectSink : public alerts::Sink {
 public:
  explicit CollectSink(Collected& c) : c_(c) {}
  std::string describe() const override { return "collect"; }
  std::expected<void, alerts::DeliveryError> deliver(const alerts::Alert& a, std::stop_token) override {
    std::lock_guard lock(c_.mu);
    c_.alerts.push_back(a);
    return {};
  }

 private:
  Collected& c_;
};

class AlertingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = storage::Store::open((dir_.path() / "t.sqlite").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void start(AlertsConfig cfg = {}) {
    std::vector<std::unique_ptr<alerts::Sink>> sinks;
    sinks.push_back(std::make_unique<CollectSink>(got_));
    alerting_ = std::make_unique<Alerting>(cfg, std::move(sinks), [this](std::string_view l) {
      std::lock_guard lock(got_.mu);
      got_.log.emplace_back(l);
    });
  }
  // Stores one batch and runs the hook on what it stored, as `serve` does.
  Alerting::Result run(const std::vector<std::string>& jsons, std::chrono::sys_seconds now, bool authenticated = true,
                       const std::string& signer = "") {
    auto stored = store_only(jsons, authenticated, signer);
    auto r = alerting_->after_commit(store_->db(), stored, authenticated, now);
    EXPECT_TRUE(r.ok);
    return r;
  }
  // Stores one batch; the row ids of what it stored.
  std::vector<std::int64_t> store_only(const std::vector<std::string>& jsons, bool authenticated = true,
                                       const std::string& signer = "") {
    Ingestor ing;
    std::vector<Ingested> parsed;
    for (const auto& j : jsons) {
      auto r = ing.ingest(j);
      EXPECT_TRUE(r) << (r ? "" : r.error().text());
      parsed.push_back(std::move(*r));
    }
    Provenance prov;
    prov.transport = authenticated ? Transport::import : Transport::https;
    prov.authenticated = authenticated;
    prov.signing_domain = signer;  // a DKIM d= makes the reporter "dkim:<d>"
    std::vector<storage::PendingReport> batch;
    for (std::size_t i = 0; i < parsed.size(); ++i) batch.push_back({&parsed[i], &prov, jsons[i]});
    std::vector<std::int64_t> ids;
    auto out = store_->store_batch(batch, &ids);
    EXPECT_TRUE(out);
    std::vector<std::int64_t> stored;
    for (std::size_t i = 0; i < ids.size(); ++i)
      if ((*out)[i] == storage::StoreOutcome::stored) stored.push_back(ids[i]);
    return stored;
  }
  // Delivers what is queued and returns everything the sink got.
  std::vector<alerts::Alert> sent() {
    alerting_->shutdown(30s);
    return got_.alerts;
  }
  std::vector<storage::AlertRecord> stored_alerts() {
    storage::AlertStore a(store_->db());
    return *a.list(false);
  }

  test::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  Collected got_;
  std::unique_ptr<Alerting> alerting_;
};

TEST_F(AlertingTest, FiveReportersAreOneAlertAndRedeliveryAddsNothing) {
  start();
  const auto now = at("2024-05-10T06:00:00Z");
  std::vector<std::string> batch;
  for (const char* org : {"A", "B", "C", "D", "E"}) batch.push_back(failing(org, std::string("r-") + org, "2024-05-09"));
  auto r = run(batch, now);
  EXPECT_EQ(r.evaluated, 1u);
  EXPECT_EQ(r.opened, 1u);
  EXPECT_EQ(r.notified, 1u);
  auto again = run(batch, now + 1min);  // the same reports again: duplicates, nothing stored
  EXPECT_EQ(again.evaluated, 0u);
  auto sixth = run({failing("F", "r-F", "2024-05-09")}, now + 2min);  // a sixth reporter, same day
  EXPECT_EQ(sixth.opened, 0u);
  EXPECT_EQ(sixth.notified, 0u);
  auto all = sent();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, alerts::kStarttlsFailure);
  EXPECT_EQ(all[0].notification, "new");
  EXPECT_GT(all[0].id, 0);
  EXPECT_EQ(all[0].evidence.reporters, (std::vector<std::string>{"A", "B", "C", "D", "E"}));
  auto rows = stored_alerts();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 2);
  EXPECT_EQ(rows[0].notifications, 1);
}

TEST_F(AlertingTest, RemindsAfterTheCooldownAndResolvesOnACleanDay) {
  start();  // cooldown 12h
  const auto t0 = at("2024-05-09T06:00:00Z");
  EXPECT_EQ(run({calm("G", "g0", "2024-05-07")}, t0).notified, 0u);
  EXPECT_EQ(run({failing("G", "g1", "2024-05-08")}, t0).notified, 1u);
  auto held = run({failing("G", "g2", "2024-05-09")}, t0 + 11h);
  EXPECT_EQ(held.notified, 0u);
  EXPECT_EQ(held.held_back, 0u);  // an open alert waiting for its reminder is not "held back"
  EXPECT_EQ(run({failing("G", "g3", "2024-05-10")}, t0 + 12h).notified, 1u);
  auto clean = run({calm("G", "g4", "2024-05-11")}, t0 + 13h);
  EXPECT_EQ(clean.resolved, 1u);
  auto all = sent();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].notification, "reminder");
  EXPECT_EQ(all[1].day, "2024-05-10");
  auto rows = stored_alerts();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "resolved");
  EXPECT_EQ(rows[0].resolved_day, "2024-05-11");
  EXPECT_EQ(rows[0].first_day, "2024-05-08");
  EXPECT_EQ(rows[0].last_day, "2024-05-10");
  EXPECT_EQ(rows[0].count, 3);
}

TEST_F(AlertingTest, UnauthenticatedReportsNeverOpenAlertsByDefault) {
  start();
  const auto now = at("2024-05-10T06:00:00Z");
  std::vector<std::string> flood;
  for (int i = 0; i < 200; ++i) flood.push_back(failing("Forger " + std::to_string(i), "f" + std::to_string(i), "2024-05-09"));
  auto r = run(flood, now, /*authenticated=*/false);
  EXPECT_EQ(r.evaluated, 0u);  // nothing they carry can count: no detector run at all
  EXPECT_EQ(r.opened, 0u);
  EXPECT_TRUE(sent().empty());
  EXPECT_TRUE(stored_alerts().empty());
  auto st = store_->db().prepare("SELECT count(*) FROM report_auth WHERE authenticated = 0");
  ASSERT_TRUE(st && *st->step());
  EXPECT_EQ(st->int64(0), 200);
}

TEST_F(AlertingTest, AForgedFloodGetsAtMostOneAlertPerDomainAndKindPerCooldown) {
  AlertsConfig cfg;
  cfg.trust_unauthenticated = true;
  start(cfg);
  const auto t0 = at("2024-05-10T06:00:00Z");
  // Ten rounds within ten minutes (inside the cooldown), one report day each,
  // alternating failing and clean, with failures of every kind a forger can claim:
  // every round opens or resolves something.
  int n = 0;
  for (int round = 0; round < 10; ++round) {
    std::string day = format_date(std::chrono::sys_days(std::chrono::year(2024) / 5 / 6) + std::chrono::days(round));
    std::vector<std::string> batch;
    for (int i = 0; i < 20; ++i, ++n) {
      std::string id = "f" + std::to_string(n);
      if (round % 2 == 0)
        batch.push_back(report_json("Forger", id, day, "example.com", "sts", kPolicy, 10, 990,
                                    {{"starttls-not-supported", "mx1.example.com", 500},
                                     {"certificate-expired", "mx1.example.com", 400},
                                     {"sts-policy-invalid", "mx1.example.com", 10},
                                     {"validation-failure", "evil" + std::to_string(n) + ".example", 80}}));
      else
        batch.push_back(calm("Forger", id, day));
    }
    auto r = run(batch, t0 + std::chrono::minutes(round), /*authenticated=*/false);
    if (round % 2 == 0) EXPECT_EQ(r.opened, 4u) << round;
    else EXPECT_EQ(r.resolved, 4u) << round;
  }
  auto all = sent();
  std::map<std::string, int> per_kind;
  for (const auto& a : all) {
    ++per_kind[a.kind];
    EXPECT_EQ(a.evidence.sources, "unauthenticated");
  }
  for (const auto& [kind, count] : per_kind) EXPECT_EQ(count, 1) << kind;
  EXPECT_EQ(per_kind.size(), 4u);  // starttls, certificate, policy, mx-change (uncovered evilN hosts)
}

TEST_F(AlertingTest, HourlyCapWithOneSummary) {
  AlertsConfig cfg;
  cfg.max_per_hour = 3;
  start(cfg);
  const auto t0 = at("2024-05-10T06:00:00Z");
  std::vector<std::string> six;
  for (int i = 0; i < 6; ++i) six.push_back(failing("G", "a" + std::to_string(i), "2024-05-09", "d" + std::to_string(i) + ".example"));
  auto r1 = run(six, t0);
  EXPECT_EQ(r1.opened, 6u);
  EXPECT_EQ(r1.notified, 3u);
  EXPECT_EQ(r1.held_back, 3u);
  auto r2 = run({failing("G", "b0", "2024-05-09", "e0.example"), failing("G", "b1", "2024-05-09", "e1.example")},
                t0 + 30min);
  EXPECT_EQ(r2.notified, 0u);
  EXPECT_EQ(r2.held_back, 2u);
  auto r3 = run({failing("G", "c0", "2024-05-09", "f0.example")}, t0 + 61min);
  EXPECT_EQ(r3.notified, 1u);
  auto all = sent();
  std::vector<std::string> summaries;
  for (const auto& a : all)
    if (a.kind == alerts::kAlertsSuppressed) summaries.push_back(a.summary);
  ASSERT_EQ(all.size(), 6u);  // 3 + summary, then 1 + summary
  EXPECT_EQ(summaries, (std::vector<std::string>{
                           "Alerts suppressed \xE2\x80\x94 3 more alerts were not sent (limit 3 per hour)",
                           "Alerts suppressed \xE2\x80\x94 2 more alerts were not sent (limit 3 per hour)"}));
  int held = 0;
  for (const auto& row : stored_alerts()) held += static_cast<int>(row.suppressed);
  EXPECT_EQ(held, 5);
}

TEST_F(AlertingTest, AStrangersOwnSignatureCannotSpendTheGenuineReportersBudget) {
  // Issue 19, item 5: reports signed by the attacker's own domain about
  // f0..f19.<served domain>, each subdomain with its own cooldown, then a genuine
  // reporter's failure for the served domain itself.
  AlertsConfig cfg;
  cfg.served_domains = {"example.com"};
  start(cfg);
  const auto t0 = at("2024-05-10T06:00:00Z");
  for (int i = 0; i < 20; ++i)
    run({failing("Google Inc.", "f" + std::to_string(i), "2024-05-09", "f" + std::to_string(i) + ".example.com")},
        t0 + std::chrono::seconds(i), true, "attacker.example");
  auto genuine = run({failing("Real Reporter", "g1", "2024-05-09")}, t0 + 30s, true, "genuine.example");
  EXPECT_GE(genuine.notified, 1u);
  int stranger = 0, real = 0;
  for (const auto& a : sent()) {
    if (a.policy_domain == "example.com") {
      ++real;
      EXPECT_EQ(a.evidence.reporters, (std::vector<std::string>{"Real Reporter (signed by genuine.example)"}));
      EXPECT_EQ(a.evidence.reporter_ids, (std::vector<std::string>{"dkim:genuine.example"}));
    } else if (a.kind != alerts::kAlertsSuppressed) {
      ++stranger;
      EXPECT_EQ(a.evidence.reporters, (std::vector<std::string>{"Google Inc. (signed by attacker.example)"}));
    }
  }
  EXPECT_EQ(stranger, cfg.max_per_hour_per_reporter);
  EXPECT_EQ(real, static_cast<int>(genuine.notified));
  // An hour later the stranger's share is back; its spent alerts were counted from the
  // notification log, so a restart in between would change nothing.
  auto later = run({failing("Google Inc.", "f99", "2024-05-09", "f99.example.com")}, t0 + 61min, true,
                   "attacker.example");
  EXPECT_GE(later.notified, 1u);
}

TEST_F(AlertingTest, TwoSignersOfOneStrangerCannotBlockTheGenuineAlert) {
  // Review finding 2: a.attacker.example and b.attacker.example, two DKIM signing
  // names of one organization, alert about f0..f19.example.com; the served domain's
  // share (10) used to be spent and the genuine critical alert recorded but not sent.
  AlertsConfig cfg;
  cfg.served_domains = {"example.com"};
  start(cfg);
  const auto t0 = at("2024-05-10T06:00:00Z");
  for (int i = 0; i < 20; ++i)
    run({failing("Google Inc.", "f" + std::to_string(i), "2024-05-09", "f" + std::to_string(i) + ".example.com")},
        t0 + std::chrono::seconds(i), true, i % 2 ? "a.attacker.example" : "b.attacker.example");
  // Many more organizations, one alert each, fill the rest of the hour's 20.
  for (int i = 0; i < 15; ++i)
    run({failing("Org " + std::to_string(i), "g" + std::to_string(i), "2024-05-09", "g" + std::to_string(i) + ".example.com")},
        t0 + std::chrono::seconds(20 + i), true, "evil" + std::to_string(i) + ".example");
  auto genuine = run({failing("Real Reporter", "g1", "2024-05-09")}, t0 + 60s, true, "genuine.example");
  EXPECT_EQ(genuine.notified, 1u);
  int stranger = 0;
  for (const auto& a : sent())
    if (a.policy_domain.starts_with("f")) ++stranger;
  EXPECT_EQ(stranger, cfg.max_per_hour_per_reporter);  // one organization, one share
}

TEST_F(AlertingTest, EscalationIsSentInsideTheCooldown) {
  start();
  const auto t0 = at("2024-05-10T06:00:00Z");
  const std::string a = "3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D";
  const std::string b = "3 1 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234";
  run({report_json("M", "m1", "2024-05-07", "mx.example.com", "tlsa", {a}, 500, 0)}, t0);
  auto rot = run({report_json("M", "m2", "2024-05-08", "mx.example.com", "tlsa", {b}, 500, 0)}, t0 + 1h);
  EXPECT_EQ(rot.notified, 1u);
  auto bad = run({report_json("M", "m3", "2024-05-09", "mx.example.com", "tlsa", {b}, 0, 500,
                              {{"tlsa-invalid", "mx.example.com", 500}})},
                 t0 + 2h);
  EXPECT_EQ(bad.notified, 1u);
  auto all = sent();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].severity, alerts::Severity::info);
  EXPECT_EQ(all[1].severity, alerts::Severity::critical);
  EXPECT_EQ(all[1].notification, "escalation");
  EXPECT_EQ(all[0].id, all[1].id);
}

TEST_F(AlertingTest, StaleDaysAreRecordedButNotSent) {
  start();
  auto r = run({failing("G", "old", "2024-04-01")}, at("2024-05-10T06:00:00Z"));
  EXPECT_EQ(r.opened, 1u);
  EXPECT_EQ(r.notified, 0u);
  EXPECT_TRUE(sent().empty());
  ASSERT_EQ(stored_alerts().size(), 1u);
  EXPECT_EQ(stored_alerts()[0].status, "open");
}

TEST_F(AlertingTest, AnOpenAlertWithoutReportsForLongerThanTheBaselineLapses) {
  start();
  run({failing("G", "g1", "2024-05-01")}, at("2024-05-02T06:00:00Z"));
  run({failing("G", "g2", "2024-05-20")}, at("2024-05-21T06:00:00Z"));
  auto rows = stored_alerts();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].status, "resolved");
  EXPECT_FALSE(rows[1].resolved_day);  // lapsed, not resolved by a clean day
  EXPECT_EQ(rows[0].status, "open");
  EXPECT_EQ(rows[0].first_day, "2024-05-20");
  EXPECT_EQ(sent().size(), 2u);
}

TEST_F(AlertingTest, MakeSinksDefaultsToTheLogAndChecksPasswordFiles) {
  auto sinks = make_sinks(AlertsConfig{}, nullptr);
  ASSERT_TRUE(sinks);
  ASSERT_EQ(sinks->size(), 1u);
  EXPECT_EQ((*sinks)[0]->describe(), "log");
  AlertsConfig cfg;
  AlertSinkConfig email;
  email.type = "email";
  email.smarthost = "smtp://127.0.0.1:1";
  email.to = {"a@example.com"};
  email.username = "u";
  email.password_file = (dir_.path() / "missing").string();
  email.where = "t.toml:3";
  cfg.sinks.push_back(email);
  auto bad = make_sinks(cfg, nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "t.toml:3: alerts.sink.password_file: cannot read " + email.password_file);
}

// An archive (`report import`) is evaluated once, after it is stored: each domain's
// days in order, stale days skipped but a domain's latest, so what is left is each
// domain's current state, not an alert per old wobble; recent days are evaluated
// (and notified) as `serve` would.
TEST_F(AlertingTest, AnArchiveLeavesEachDomainsCurrentStateOnly) {
  start();
  const auto now = at("2024-06-01T06:00:00Z");  // stale_after 4d: everything in January is stale
  std::vector<std::string> archive;
  for (int d = 1; d <= 10; ++d) {
    char day[16];
    std::snprintf(day, sizeof day, "2024-01-%02d", d);
    // example.com wobbled on the 3rd and 4th and is calm since; example.org fails
    // on its last day; example.net fails today, which is not stale.
    archive.push_back(d == 3 || d == 4 ? failing("Google LLC", "c" + std::to_string(d), day)
                                       : calm("Google LLC", "c" + std::to_string(d), day));
    archive.push_back(d == 10 ? failing("Google LLC", "o" + std::to_string(d), day, "example.org")
                              : calm("Google LLC", "o" + std::to_string(d), day, "example.org"));
  }
  archive.push_back(calm("Google LLC", "n1", "2024-05-30", "example.net"));
  archive.push_back(failing("Google LLC", "n2", "2024-05-31", "example.net"));
  auto ids = store_only(archive);
  ASSERT_EQ(ids.size(), archive.size());
  auto r = alerting_->after_import(store_->db(), ids, now);
  EXPECT_TRUE(r.ok);
  // example.com: its latest day only (1); example.org: its latest day (1);
  // example.net: both days, neither stale (2).
  EXPECT_EQ(r.evaluated, 4u);
  auto alerts = stored_alerts();
  std::map<std::string, int> open;
  for (const auto& a : alerts) open[a.policy_domain] += a.status == "open";
  EXPECT_EQ(open["example.com"], 0) << "the January wobble is history, not an alert";
  EXPECT_EQ(open["example.org"], 1) << "failing on its latest day: its current state";
  EXPECT_EQ(open["example.net"], 1);
  EXPECT_EQ(alerts.size(), 2u);
  // Only the fresh one is sent: example.org's day is stale.
  auto got = sent();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].policy_domain, "example.net");
}

// What is stored waits in alert_pending until an evaluation commits; both hooks clear it.
TEST_F(AlertingTest, AnEvaluationClearsWhatItEvaluatedFromThePendingList) {
  start();
  auto pending = [&] {
    auto p = storage::AlertStore(store_->db()).pending();
    EXPECT_TRUE(p);
    return p ? p->authenticated.size() + p->unauthenticated.size() : 99u;
  };
  auto a = store_only({calm("Google LLC", "p1", "2024-05-01")});
  auto b = store_only({calm("Google LLC", "p2", "2024-05-02")}, /*authenticated=*/false);
  EXPECT_EQ(pending(), 2u);
  EXPECT_TRUE(alerting_->after_commit(store_->db(), a, true, at("2024-05-03T00:00:00Z")).ok);
  EXPECT_EQ(pending(), 1u);
  EXPECT_TRUE(alerting_->after_import(store_->db(), b, at("2024-05-03T00:00:00Z")).ok);
  EXPECT_EQ(pending(), 0u);
}

}  // namespace
}  // namespace tlsrpt::daemon
