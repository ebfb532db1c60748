// The lifecycle rules: open, remind after the cooldown, escalate, hold back stale
// days and forged escalations, resolve on a later clean day, lapse, the hourly cap.
#include "alerts/lifecycle.hpp"

#include <gtest/gtest.h>

#include "parser/datetime.hpp"

namespace tlsrpt::alerts {
namespace {

using namespace std::chrono_literals;

SysSeconds at(const char* rfc3339) { return parse_rfc3339(rfc3339)->time; }

Finding finding(Severity s = Severity::warning, bool opens = true, bool authenticated = true,
                std::string day = "2024-05-04") {
  Finding f;
  f.alert.kind = std::string(kStarttlsFailure);
  f.alert.policy_domain = "example.com";
  f.alert.severity = s;
  f.alert.day = std::move(day);
  f.opens = opens;
  f.authenticated = authenticated;
  return f;
}

const SysSeconds kNow = at("2024-05-05T06:00:00Z");
const LifecycleConfig kCfg{12h, 96h};

TEST(Lifecycle, NewConditionOpensAndNotifies) {
  auto d = decide(finding(), false, std::nullopt, kNow, kCfg);
  EXPECT_EQ(d.action, Action::open);
  EXPECT_TRUE(d.notify);
  EXPECT_EQ(d.notification, "new");
}

TEST(Lifecycle, AContinuingConditionWithoutAnOpenAlertIsIgnored) {
  auto d = decide(finding(Severity::warning, false), false, std::nullopt, kNow, kCfg);
  EXPECT_EQ(d.action, Action::ignore);
  EXPECT_FALSE(d.notify);
}

TEST(Lifecycle, ReminderOnlyAfterTheCooldown) {
  LastNotification last{kNow - 12h + 1s, Severity::warning};
  auto held = decide(finding(Severity::warning, false), true, last, kNow, kCfg);
  EXPECT_EQ(held.action, Action::update);
  EXPECT_FALSE(held.notify);
  EXPECT_EQ(held.held_back, "cooldown");
  last.at = kNow - 12h;  // exactly the cooldown
  auto due = decide(finding(Severity::warning, false), true, last, kNow, kCfg);
  EXPECT_TRUE(due.notify);
  EXPECT_EQ(due.notification, "reminder");
}

TEST(Lifecycle, EscalationSkipsTheCooldownOnlyWithAnAuthenticatedReport) {
  LastNotification last{kNow - 1h, Severity::info};
  auto up = decide(finding(Severity::critical), true, last, kNow, kCfg);
  EXPECT_TRUE(up.notify);
  EXPECT_EQ(up.notification, "escalation");
  auto forged = decide(finding(Severity::critical, true, false), true, last, kNow, kCfg);
  EXPECT_FALSE(forged.notify);
  auto same = decide(finding(Severity::info), true, last, kNow, kCfg);
  EXPECT_FALSE(same.notify);
}

TEST(Lifecycle, ANewAlertInsideTheCooldownOfItsDomainAndKindIsHeldBack) {
  // One alert per domain and kind per cooldown (docs/guarantees.md#output-side), even
  // after the previous one resolved: a forger alternating clean and failing days gains
  // nothing.
  LastNotification last{kNow - 2h, Severity::warning};
  auto d = decide(finding(Severity::warning), false, last, kNow, kCfg);
  EXPECT_EQ(d.action, Action::open);
  EXPECT_FALSE(d.notify);
  EXPECT_EQ(d.held_back, "cooldown");
}

TEST(Lifecycle, StaleDaysAreRecordedNotSent) {
  // 2024-04-30 ended 2024-05-01T00:00Z: 4 days before 2024-05-05T00:00Z.
  auto old = decide(finding(Severity::critical, true, true, "2024-04-30"), false, std::nullopt,
                    at("2024-05-05T00:00:01Z"), kCfg);
  EXPECT_EQ(old.action, Action::open);
  EXPECT_FALSE(old.notify);
  EXPECT_EQ(old.held_back, "stale");
  auto edge = decide(finding(Severity::critical, true, true, "2024-04-30"), false, std::nullopt,
                     at("2024-05-05T00:00:00Z"), kCfg);
  EXPECT_TRUE(edge.notify);
  EXPECT_TRUE(is_stale("not a day", kNow, 96h));
}

TEST(Lifecycle, ResolvesOnlyOnALaterCleanDay) {
  std::vector<std::string> clean{std::string(kStarttlsFailure)};
  EXPECT_TRUE(resolves(kStarttlsFailure, "2024-05-04", "2024-05-05", clean));
  EXPECT_FALSE(resolves(kStarttlsFailure, "2024-05-04", "2024-05-04", clean));  // same day: more reports may come
  EXPECT_FALSE(resolves(kStarttlsFailure, "2024-05-04", "2024-05-03", clean));  // a late report of an older day
  EXPECT_FALSE(resolves(kMxChange, "2024-05-04", "2024-05-05", clean));         // not judged clean
}

TEST(Lifecycle, LapsesAfterTheBaselineWindow) {
  EXPECT_FALSE(lapsed("2024-05-01", "2024-05-08", 7));
  EXPECT_TRUE(lapsed("2024-05-01", "2024-05-09", 7));
}

TEST(Lifecycle, HourlyCap) {
  HourlyCap cap(3, 1);
  EXPECT_TRUE(cap.take());
  EXPECT_TRUE(cap.take());
  EXPECT_FALSE(cap.take());
  HourlyCap full(3, 5);
  EXPECT_FALSE(full.take());
}

TEST(Lifecycle, AlertBudgetSharesPerReporterAndServedDomain) {
  AlertBudget b(BudgetConfig{20, 5, 10, 40});
  const std::vector<std::string> stranger = {"dkim:attacker.example"};
  int sent = 0;
  for (int i = 0; i < 20; ++i) sent += b.take("example.com", stranger);
  EXPECT_EQ(sent, 5);  // the stranger's share, not the hour's 20
  EXPECT_TRUE(b.take("example.com", {"dkim:google.com"}));
  // A genuine reporter's alert that the stranger also backs still has its room.
  EXPECT_TRUE(b.take("example.com", {"dkim:attacker.example", "dkim:google.com"}));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take("example.com", {"dkim:r" + std::to_string(i) + ".example"}));
  // The domain's share (10) is spent, but not for a signing organization's first alert about it.
  EXPECT_TRUE(b.take("example.com", {"dkim:new.example"}));
  EXPECT_FALSE(b.take("example.com", {"dkim:new.example"}));
  EXPECT_FALSE(b.take("example.com", {"org:Unsigned <x@y.example>"}));  // unsigned: no exception
  EXPECT_TRUE(b.take("example.org", {"dkim:new.example"}));             // another served domain

  AlertBudget past(BudgetConfig{3, 5, 10, 3});
  past.spent("", {});  // a summary notice of the last hour counts towards the 3 only
  past.spent("example.com", {"dkim:a.example"});
  EXPECT_TRUE(past.take("example.net", {"dkim:b.example"}));
  EXPECT_FALSE(past.take("example.net", {"dkim:c.example"}));  // ceiling = per_hour: no exception
}

TEST(Lifecycle, BudgetReporterIsTheSignersOrganization) {
  EXPECT_EQ(budget_reporter("dkim:a.evil.example"), "dkim:evil.example");
  EXPECT_EQ(budget_reporter("dkim:mail.example.co.uk"), "dkim:example.co.uk");
  EXPECT_EQ(budget_reporter("dkim:google.com"), "dkim:google.com");
  EXPECT_EQ(budget_reporter("org:a.evil.example <x@a.evil.example>"), "org:a.evil.example <x@a.evil.example>");
}

TEST(Lifecycle, TwoSignersOfOneOrganizationShareOneShare) {
  // Review finding 2: a.evil.example and b.evil.example, 5 alerts each about
  // f0..f19.example.com, used to spend example.com's share and block dkim:google.com.
  AlertBudget b(BudgetConfig{20, 5, 10, 40});
  int sent = 0;
  for (int i = 0; i < 20; ++i) sent += b.take("example.com", {i % 2 ? "dkim:a.evil.example" : "dkim:b.evil.example"});
  EXPECT_EQ(sent, 5);  // one organization, one share
  EXPECT_TRUE(b.take("example.com", {"dkim:google.com"}));
}

TEST(Lifecycle, ManyAttackerOrganizationsCannotBlockAFirstAlertBelowTheCeiling) {
  // K attacker organizations (evil0.example ...), each with its own key, one after the
  // other sending as many alerts as the budget lets through, spread over four served
  // domains so the domains' shares do not slow them down.
  const BudgetConfig cfg{20, 5, 10, 40};
  auto flood = [&](AlertBudget& b, int k) {
    int sent = 0;
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < 10; ++j)
        sent += b.take("d" + std::to_string(j % 4) + ".example", {"dkim:s" + std::to_string(j) + ".evil" + std::to_string(i) + ".example"});
    return sent;
  };
  {
    AlertBudget b(cfg);
    EXPECT_EQ(flood(b, 2), 10);  // two organizations: 5 each
    EXPECT_TRUE(b.take("example.com", {"dkim:google.com"}));
  }
  {
    // ceil(20 / 5) + (40 - 20) - 1 = 23 organizations: 20 within the cap, then one each.
    AlertBudget b(cfg);
    EXPECT_EQ(flood(b, 23), 39);
    EXPECT_TRUE(b.take("d0.example", {"dkim:google.com"}));   // a first alert of the hour still goes out
    EXPECT_FALSE(b.take("d0.example", {"dkim:google.com"}));  // its second is not a first
  }
  {
    AlertBudget b(cfg);
    EXPECT_EQ(flood(b, 24), 40);  // 24 organizations spend the ceiling
    EXPECT_FALSE(b.take("example.com", {"dkim:google.com"}));
  }
  {
    AlertBudget b(cfg);
    EXPECT_EQ(flood(b, 100), 40);  // never past it
  }
  {
    // All on one served domain, the domain's share slows them more: 2 organizations
    // fill it, each further one gets its first alert only.
    AlertBudget b(cfg);
    int sent = 0;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 10; ++j) sent += b.take("example.com", {"dkim:evil" + std::to_string(i) + ".example"});
    EXPECT_EQ(sent, 13);
    EXPECT_TRUE(b.take("example.com", {"dkim:google.com"}));
  }
}

TEST(Lifecycle, SuppressedNotice) {
  Alert a = suppressed_notice(7, 20, "2024-05-04");
  EXPECT_EQ(a.kind, kAlertsSuppressed);
  EXPECT_EQ(a.summary, "Alerts suppressed \xE2\x80\x94 7 more alerts were not sent (limit 20 per hour)");
  EXPECT_EQ(a.evidence.suppressed, 7u);
  EXPECT_EQ(a.notification, "summary");
}

}  // namespace
}  // namespace tlsrpt::alerts
