// The five detectors on hand-built histories: each kind at and just below its
// threshold, a domain's first report, recovery, and the "one alert per event" rules.
#include "alerts/detectors.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace tlsrpt::alerts {
namespace {

const std::vector<std::string> kMx12 = {"mx1.example.com", "mx2.example.com"};

PolicyObservation sts(std::string reporter, std::vector<std::string> mx, Count ok, Count failed = 0,
                      std::vector<FailureObservation> failures = {}, std::string mode = "enforce") {
  PolicyObservation o;
  o.reporter = std::move(reporter);
  o.policy_type = "sts";
  o.policy_strings = {"version: STSv1", "mode: " + mode};
  for (const auto& m : mx) o.policy_strings.push_back("mx: " + m);
  o.policy_strings.push_back("max_age: 604800");
  o.successful_sessions = ok;
  o.failed_sessions = failed;
  o.failures = std::move(failures);
  return o;
}

PolicyObservation tlsa(std::string reporter, std::vector<std::string> records, Count ok, Count failed = 0,
                       std::vector<FailureObservation> failures = {}) {
  PolicyObservation o;
  o.reporter = std::move(reporter);
  o.policy_type = "tlsa";
  o.policy_strings = std::move(records);
  o.successful_sessions = ok;
  o.failed_sessions = failed;
  o.failures = std::move(failures);
  return o;
}

PolicyObservation npf(std::string reporter, Count ok, Count failed = 0, std::vector<FailureObservation> f = {}) {
  PolicyObservation o;
  o.reporter = std::move(reporter);
  o.policy_type = "no-policy-found";
  o.successful_sessions = ok;
  o.failed_sessions = failed;
  o.failures = std::move(f);
  return o;
}

FailureObservation fail(std::string type, std::optional<std::string> mx, Count n) {
  return FailureObservation{std::move(type), std::move(mx), n};
}

DayObservations day(std::string d, std::vector<PolicyObservation> p) { return DayObservations{std::move(d), std::move(p)}; }

DetectorInput input(DayObservations current, std::vector<DayObservations> baseline = {},
                    std::string domain = "example.com") {
  return DetectorInput{std::move(domain), std::move(current), std::move(baseline)};
}

// Three calm days of one sts policy for mx1/mx2.
std::vector<DayObservations> calm_sts_history() {
  return {day("2024-05-01", {sts("Google LLC", kMx12, 1000)}), day("2024-05-02", {sts("Google LLC", kMx12, 1000)}),
          day("2024-05-03", {sts("Google LLC", kMx12, 1000)})};
}

const Finding* find(const Evaluation& e, std::string_view kind) {
  for (const auto& f : e.findings)
    if (f.alert.kind == kind) return &f;
  return nullptr;
}

bool clean(const Evaluation& e, std::string_view kind) {
  return std::find(e.clean_kinds.begin(), e.clean_kinds.end(), kind) != e.clean_kinds.end();
}

DetectorConfig config(double ratio = 0.05, Count min_sessions = 100) {
  DetectorConfig c;
  c.failure_ratio = ratio;
  c.min_sessions = min_sessions;
  return c;
}

// ---- a calm domain --------------------------------------------------------------

TEST(Detectors, CalmDayRaisesNothingAndIsCleanForEveryKind) {
  // Same policy, reordered and re-cased by a second reporter.
  PolicyObservation other = sts("Microsoft Corporation", {"MX2.example.com.", "mx1.example.com"}, 300);
  auto e = evaluate(input(day("2024-05-04", {sts("Google LLC", kMx12, 1000), other}), calm_sts_history()), config());
  EXPECT_TRUE(e.findings.empty());
  for (auto k : kAllKinds) EXPECT_TRUE(clean(e, k)) << k;
}

TEST(Detectors, NothingTrustedMeansNoJudgement) {
  PolicyObservation forged = sts("Forger", {"evil.example"}, 0, 100, {fail("starttls-not-supported", "evil.example", 100)});
  forged.authenticated = false;
  auto e = evaluate(input(day("2024-05-04", {forged}), calm_sts_history()), config());
  EXPECT_TRUE(e.findings.empty());
  EXPECT_TRUE(e.clean_kinds.empty());
}

// ---- mx-change ------------------------------------------------------------------

TEST(MxChange, NewMxSetInThePolicyIsAWarningWithTheDiff) {
  auto today = day("2024-05-04", {sts("Google LLC", {"mx1.example.com", "mx3.example.net"}, 900)});
  auto e = evaluate(input(today, calm_sts_history()), config());
  const Finding* f = find(e, kMxChange);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.severity, Severity::warning);
  EXPECT_EQ(f->alert.policy_type, "sts");
  EXPECT_EQ(f->alert.day, "2024-05-04");
  EXPECT_EQ(f->alert.summary,
            "MX change \xE2\x80\x94 the MX hosts in your MTA-STS policy changed: added mx3.example.net; removed "
            "mx2.example.com");
  EXPECT_EQ(f->alert.evidence.added, std::vector<std::string>{"mx3.example.net"});
  EXPECT_EQ(f->alert.evidence.removed, std::vector<std::string>{"mx2.example.com"});
  EXPECT_EQ(f->alert.evidence.old_policy,
            (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: mx2.example.com",
                                      "max_age: 604800"}));
  EXPECT_EQ(f->alert.evidence.new_policy,
            (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: mx3.example.net",
                                      "max_age: 604800"}));
  EXPECT_EQ(f->alert.evidence.baseline_days, 3);
  EXPECT_NE(f->alert.explanation.find("mta-sts.example.com"), std::string::npos);
  EXPECT_FALSE(clean(e, kMxChange));
}

TEST(MxChange, FiveReportersWithTheSameNewSetAreOneFinding) {
  std::vector<PolicyObservation> obs;
  for (const char* r : {"A", "B", "C", "D", "E"}) obs.push_back(sts(r, {"mx1.example.com", "mx3.example.net"}, 10));
  auto e = evaluate(input(day("2024-05-04", obs), calm_sts_history()), config());
  ASSERT_EQ(std::count_if(e.findings.begin(), e.findings.end(), [](const Finding& f) { return f.alert.kind == kMxChange; }), 1);
  EXPECT_EQ(find(e, kMxChange)->alert.evidence.reporters, (std::vector<std::string>{"A", "B", "C", "D", "E"}));
}

TEST(MxChange, ACachedOldPolicyBesideTheNewOneIsStillOneChange) {
  auto today = day("2024-05-04", {sts("Google LLC", {"mx1.example.com", "mx3.example.net"}, 900),
                                  sts("Stale Cache Inc", kMx12, 100)});
  auto e = evaluate(input(today, calm_sts_history()), config());
  ASSERT_NE(find(e, kMxChange), nullptr);
  EXPECT_EQ(find(e, kMxChange)->alert.evidence.reporters, std::vector<std::string>{"Google LLC"});
}

TEST(MxChange, FirstReportHasNoBaselineSoNoChange) {
  auto e = evaluate(input(day("2024-05-04", {sts("Google LLC", {"mx3.example.net"}, 900)})), config());
  EXPECT_EQ(find(e, kMxChange), nullptr);
  EXPECT_TRUE(clean(e, kMxChange));
}

TEST(MxChange, SessionsFailingAtAnUncoveredMxAreCriticalUnderEnforce) {
  auto today = day("2024-05-04", {sts("Google LLC", kMx12, 900, 40,
                                      {fail("certificate-host-mismatch", "mx3.example.net", 40)})});
  auto e = evaluate(input(today, calm_sts_history()), config());
  const Finding* f = find(e, kMxChange);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.severity, Severity::critical);
  EXPECT_EQ(f->alert.summary, "MX change \xE2\x80\x94 mx3.example.net is not in your MTA-STS policy");
  ASSERT_EQ(f->alert.evidence.mx_hosts.size(), 1u);
  EXPECT_EQ(f->alert.evidence.mx_hosts[0], (NamedCount{"mx3.example.net", 40}));
  EXPECT_EQ(f->alert.evidence.result_types[0], (NamedCount{"certificate-host-mismatch", 40}));
  // One event, one alert: the uncovered MX's failures are not also a certificate
  // alert, and failure-rate (4.3% here anyway) stays out of it.
  EXPECT_EQ(find(e, kCertificateChange), nullptr);
  EXPECT_TRUE(clean(e, kCertificateChange));
  EXPECT_EQ(find(e, kFailureRate), nullptr);
}

TEST(MxChange, UncoveredMxUnderTestingIsAWarning) {
  auto today = day("2024-05-04", {sts("Google LLC", kMx12, 900, 5, {fail("validation-failure", "mx3.example.net", 5)},
                                      "testing")});
  auto e = evaluate(input(today, calm_sts_history()), config());
  ASSERT_NE(find(e, kMxChange), nullptr);
  EXPECT_EQ(find(e, kMxChange)->alert.severity, Severity::warning);
}

TEST(MxChange, UncoveredThresholdIsOneFailedSession) {
  auto at = day("2024-05-04", {sts("G", kMx12, 900, 1, {fail("validation-failure", "mx3.example.net", 1)})});
  auto below = day("2024-05-04", {sts("G", kMx12, 900, 0, {fail("validation-failure", "mx3.example.net", 0)})});
  EXPECT_NE(find(evaluate(input(at, calm_sts_history()), config()), kMxChange), nullptr);
  auto e = evaluate(input(below, calm_sts_history()), config());
  EXPECT_EQ(find(e, kMxChange), nullptr);
  EXPECT_TRUE(clean(e, kMxChange));
}

TEST(MxChange, WildcardRuleDecidesWhatIsCovered) {
  // *.example.net covers mail.example.net (so its failures are certificate ones) but
  // not a.b.example.net (an MX the policy does not allow).
  auto hist = std::vector<DayObservations>{day("2024-05-03", {sts("G", {"*.example.net"}, 100)})};
  auto covered = day("2024-05-04", {sts("G", {"*.example.net"}, 100, 3, {fail("certificate-expired", "mail.example.net", 3)})});
  auto e1 = evaluate(input(covered, hist), config());
  EXPECT_EQ(find(e1, kMxChange), nullptr);
  ASSERT_NE(find(e1, kCertificateChange), nullptr);
  auto deep = day("2024-05-04", {sts("G", {"*.example.net"}, 100, 3, {fail("certificate-expired", "a.b.example.net", 3)})});
  auto e2 = evaluate(input(deep, hist), config());
  ASSERT_NE(find(e2, kMxChange), nullptr);
  EXPECT_EQ(find(e2, kCertificateChange), nullptr);
}

TEST(MxChange, UncoveredOnTheFirstReportOpensButNotWhenTheDayBeforeHadItToo) {
  auto failing = [](std::string d) {
    return day(std::move(d), {sts("G", kMx12, 900, 9, {fail("validation-failure", "mx3.example.net", 9)})});
  };
  auto first = evaluate(input(failing("2024-05-04")), config());
  ASSERT_NE(find(first, kMxChange), nullptr);
  EXPECT_TRUE(find(first, kMxChange)->opens);
  EXPECT_TRUE(find(first, kMxChange)->alert.evidence.first_report);
  auto again = evaluate(input(failing("2024-05-05"), {failing("2024-05-04")}), config());
  ASSERT_NE(find(again, kMxChange), nullptr);
  EXPECT_FALSE(find(again, kMxChange)->opens);  // continuing: keeps an open alert alive only
}

TEST(MxChange, RecoveryIsClean) {
  auto hist = calm_sts_history();
  hist.push_back(day("2024-05-04", {sts("G", kMx12, 900, 9, {fail("validation-failure", "mx3.example.net", 9)})}));
  auto e = evaluate(input(day("2024-05-05", {sts("G", kMx12, 1000)}), hist), config());
  EXPECT_TRUE(e.findings.empty());
  EXPECT_TRUE(clean(e, kMxChange));
}

TEST(MxChange, ReportTextInSummariesStaysOnOneLine) {
  auto today = day("2024-05-04", {sts("G", kMx12, 900, 9, {fail("validation-failure", "evil.example\r\nBcc: x@y", 9)})});
  auto e = evaluate(input(today, calm_sts_history()), config());
  ASSERT_NE(find(e, kMxChange), nullptr);
  const Alert& a = find(e, kMxChange)->alert;
  EXPECT_EQ(a.summary.find_first_of("\r\n"), std::string::npos);
  EXPECT_EQ(a.explanation.find_first_of("\r\n"), std::string::npos);
  EXPECT_NE(a.summary.find("evil.example\\r\\nbcc: x@y"), std::string::npos);
  // The evidence keeps the value exactly (the sinks escape it for their output).
  EXPECT_EQ(a.evidence.mx_hosts[0].name, "evil.example\r\nbcc: x@y");
}

// ---- certificate-change -----------------------------------------------------------

const std::string kTlsaA = "3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D";
const std::string kTlsaB = "3 1 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234";
const std::string kTlsaC = "3 1 1 AAAA0A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1DAAAA";

std::vector<DayObservations> calm_tlsa_history() {
  return {day("2024-05-02", {tlsa("Microsoft Corporation", {kTlsaA, kTlsaB}, 500)}),
          day("2024-05-03", {tlsa("Microsoft Corporation", {kTlsaB, kTlsaA}, 500)})};
}

TEST(CertificateChange, TlsaRotationIsInfo) {
  auto e = evaluate(input(day("2024-05-04", {tlsa("Microsoft Corporation", {kTlsaB, kTlsaC}, 500)}),
                          calm_tlsa_history(), "mx.example.com"),
                    config());
  const Finding* f = find(e, kCertificateChange);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.severity, Severity::info);
  EXPECT_EQ(f->alert.policy_type, "tlsa");
  EXPECT_EQ(f->alert.summary,
            "Certificate change \xE2\x80\x94 the DANE TLSA records for mx.example.com changed (1 record added, 1 "
            "record removed)");
  EXPECT_EQ(f->alert.evidence.added, std::vector<std::string>{kTlsaC});
  EXPECT_EQ(f->alert.evidence.removed, std::vector<std::string>{kTlsaA});
  EXPECT_EQ(f->alert.evidence.old_policy, (std::vector<std::string>{kTlsaB, kTlsaA}));
}

TEST(CertificateChange, SameSetInOtherCaseAndOrderIsNoChange) {
  std::string lower = "3 1 1 1f850a337e6db9c609c522d136a475638cc43e1ed424f8eec8513d747d1d085d";
  auto e = evaluate(input(day("2024-05-04", {tlsa("Microsoft Corporation", {kTlsaB, lower}, 500)}),
                          calm_tlsa_history(), "mx.example.com"),
                    config());
  EXPECT_EQ(find(e, kCertificateChange), nullptr);
  EXPECT_TRUE(clean(e, kCertificateChange));
}

TEST(CertificateChange, FailuresWhereTheBaselineHadNoneAreCritical) {
  auto today = day("2024-05-04", {tlsa("Microsoft Corporation", {kTlsaA, kTlsaB}, 400, 100,
                                       {fail("tlsa-invalid", "mx.example.com", 60),
                                        fail("certificate-expired", "mx.example.com", 40)})});
  auto e = evaluate(input(today, calm_tlsa_history(), "mx.example.com"), config());
  const Finding* f = find(e, kCertificateChange);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.severity, Severity::critical);
  EXPECT_EQ(f->alert.summary,
            "Certificate change \xE2\x80\x94 100 sessions failed certificate checks (tlsa-invalid and "
            "certificate-expired) at mx.example.com");
  EXPECT_EQ(f->alert.evidence.result_types,
            (std::vector<NamedCount>{{"tlsa-invalid", 60}, {"certificate-expired", 40}}));
  EXPECT_NE(f->alert.explanation.find("has expired"), std::string::npos);
  // 20% failed, but the certificate alert explains it: no second alert.
  EXPECT_EQ(find(e, kFailureRate), nullptr);
  EXPECT_FALSE(clean(e, kFailureRate));
}

TEST(CertificateChange, ThresholdIsOneFailedSession) {
  auto one = day("2024-05-04", {tlsa("M", {kTlsaA, kTlsaB}, 499, 1, {fail("certificate-not-trusted", "mx", 1)})});
  auto zero = day("2024-05-04", {tlsa("M", {kTlsaA, kTlsaB}, 500, 0, {fail("certificate-not-trusted", "mx", 0)})});
  EXPECT_NE(find(evaluate(input(one, calm_tlsa_history()), config()), kCertificateChange), nullptr);
  auto e = evaluate(input(zero, calm_tlsa_history()), config());
  EXPECT_EQ(find(e, kCertificateChange), nullptr);
  EXPECT_TRUE(clean(e, kCertificateChange));
}

TEST(CertificateChange, RotationGoneWrongIsOneCriticalFinding) {
  auto today = day("2024-05-04", {tlsa("M", {kTlsaC}, 0, 500, {fail("tlsa-invalid", "mx.example.com", 500)})});
  auto e = evaluate(input(today, calm_tlsa_history(), "mx.example.com"), config());
  ASSERT_EQ(e.findings.size(), 1u);
  EXPECT_EQ(e.findings[0].alert.severity, Severity::critical);
  EXPECT_TRUE(e.findings[0].alert.summary.ends_with("after a TLSA record change"));
  EXPECT_EQ(e.findings[0].alert.evidence.added, std::vector<std::string>{kTlsaC});
}

TEST(CertificateChange, FirstReportFailuresFireAndCarryNoBaseline) {
  auto e = evaluate(input(day("2024-05-04", {sts("G", kMx12, 10, 3, {fail("certificate-expired", "mx1.example.com", 3)})})),
                    config());
  const Finding* f = find(e, kCertificateChange);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_TRUE(f->alert.evidence.first_report);
  EXPECT_EQ(f->alert.policy_type, "sts");
}

TEST(CertificateChange, FailuresAlreadyPresentTheDayBeforeDoNotOpen) {
  auto failing = [](std::string d) {
    return day(std::move(d), {sts("G", kMx12, 10, 3, {fail("certificate-expired", "mx1.example.com", 3)})});
  };
  auto e = evaluate(input(failing("2024-05-05"), {failing("2024-05-04")}), config());
  ASSERT_NE(find(e, kCertificateChange), nullptr);
  EXPECT_FALSE(find(e, kCertificateChange)->opens);
  // ... but after a clean day they do.
  auto e2 = evaluate(input(failing("2024-05-06"), {failing("2024-05-04"), day("2024-05-05", {sts("G", kMx12, 10)})}),
                     config());
  EXPECT_TRUE(find(e2, kCertificateChange)->opens);
}

// ---- starttls-failure ---------------------------------------------------------------

TEST(StarttlsFailure, FiresAtOneSessionNotAtZero) {
  auto at = day("2024-05-04", {sts("G", kMx12, 999, 1, {fail("starttls-not-supported", "mx2.example.com", 1)})});
  auto e = evaluate(input(at, calm_sts_history()), config());
  const Finding* f = find(e, kStarttlsFailure);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alert.severity, Severity::critical);  // enforce: mail is not delivered
  EXPECT_EQ(f->alert.summary,
            "STARTTLS failure \xE2\x80\x94 mx2.example.com did not offer STARTTLS (1 failed session)");
  auto below = day("2024-05-04", {sts("G", kMx12, 1000, 0, {})});
  EXPECT_TRUE(clean(evaluate(input(below, calm_sts_history()), config()), kStarttlsFailure));
}

TEST(StarttlsFailure, WithoutAPolicyItIsAWarning) {
  auto e = evaluate(input(day("2024-05-04", {npf("G", 90, 10, {fail("starttls-not-supported", "mx.example.org", 10)})})),
                    config());
  ASSERT_NE(find(e, kStarttlsFailure), nullptr);
  EXPECT_EQ(find(e, kStarttlsFailure)->alert.severity, Severity::warning);
  EXPECT_EQ(find(e, kFailureRate), nullptr);  // 10% of 100, explained by the STARTTLS alert
}

TEST(StarttlsFailure, CommandsOnlyEverNameValidHostNames) {
  // An admin may paste the suggested command into a shell: a hostile name must not be in it.
  auto e = evaluate(input(day("2024-05-04", {npf("G", 90, 10, {fail("starttls-not-supported", "x;rm -rf ~", 10)})}),
                          {}, "bad domain$(id)"),
                    config());
  ASSERT_NE(find(e, kStarttlsFailure), nullptr);
  const std::string& text = find(e, kStarttlsFailure)->alert.explanation;
  EXPECT_NE(text.find("-connect <mx>:25"), std::string::npos) << text;
  EXPECT_EQ(text.find("-connect x;rm"), std::string::npos);
  auto ok = evaluate(input(day("2024-05-04", {npf("G", 90, 10, {fail("starttls-not-supported", "mx.example.org", 10)})})),
                     config());
  EXPECT_NE(find(ok, kStarttlsFailure)->alert.explanation.find("-connect mx.example.org:25"), std::string::npos);
  auto gone = evaluate(input(day("2024-05-04", {npf("G", 800)}),
                             {day("2024-05-03", {sts("G", kMx12, 1000)})}, "bad domain$(id)"),
                       config());
  ASSERT_NE(find(gone, kPolicyFailure), nullptr);
  EXPECT_NE(find(gone, kPolicyFailure)->alert.explanation.find("dig TXT _mta-sts.<domain>"), std::string::npos);
  EXPECT_EQ(find(gone, kPolicyFailure)->alert.explanation.find("$(id)."), std::string::npos);
}

// ---- policy-failure ----------------------------------------------------------------

TEST(PolicyFailure, FetchErrorIsAWarningAndDnssecIsCritical) {
  auto fetch = day("2024-05-04", {sts("G", kMx12, 900, 3, {fail("sts-policy-fetch-error", std::nullopt, 3)})});
  auto e = evaluate(input(fetch, calm_sts_history()), config());
  ASSERT_NE(find(e, kPolicyFailure), nullptr);
  EXPECT_EQ(find(e, kPolicyFailure)->alert.severity, Severity::warning);
  EXPECT_EQ(find(e, kPolicyFailure)->alert.summary,
            "Policy failure \xE2\x80\x94 senders could not use your MTA-STS policy (sts-policy-fetch-error, 3 sessions)");
  auto dnssec = day("2024-05-04", {tlsa("M", {kTlsaA, kTlsaB}, 0, 7, {fail("dnssec-invalid", "mx.example.com", 7)})});
  auto e2 = evaluate(input(dnssec, calm_tlsa_history()), config());
  ASSERT_NE(find(e2, kPolicyFailure), nullptr);
  EXPECT_EQ(find(e2, kPolicyFailure)->alert.severity, Severity::critical);
  EXPECT_EQ(find(e2, kPolicyFailure)->alert.policy_type, "tlsa");
}

TEST(PolicyFailure, AnStsDomainSuddenlyWithoutPolicy) {
  auto e = evaluate(input(day("2024-05-04", {npf("Google LLC", 800)}), calm_sts_history()), config());
  const Finding* f = find(e, kPolicyFailure);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.policy_type, "sts");
  EXPECT_EQ(f->alert.severity, Severity::warning);
  EXPECT_EQ(f->alert.summary,
            "Policy failure \xE2\x80\x94 example.com is reported as having no MTA-STS policy (it had one)");
  EXPECT_EQ(f->alert.evidence.new_policy, std::vector<std::string>{"no-policy-found"});
  EXPECT_EQ(f->alert.evidence.old_policy.size(), 5u);
  EXPECT_EQ(find(e, kMxChange), nullptr);  // no sts policy today: mx-change cannot judge
  EXPECT_FALSE(clean(e, kMxChange));
}

TEST(PolicyFailure, PolicyGoneAndFetchErrorsTheSameDayAreOneFinding) {
  auto today = day("2024-05-04", {npf("Google LLC", 800),
                                  sts("Microsoft Corporation", kMx12, 100, 20, {fail("sts-policy-fetch-error", std::nullopt, 20)})});
  auto e = evaluate(input(today, calm_sts_history()), config());
  ASSERT_EQ(std::count_if(e.findings.begin(), e.findings.end(), [](const Finding& f) { return f.alert.kind == kPolicyFailure; }), 1);
  const Finding* f = find(e, kPolicyFailure);
  EXPECT_EQ(f->alert.evidence.reporters, (std::vector<std::string>{"Google LLC", "Microsoft Corporation"}));
  EXPECT_NE(f->alert.explanation.find("sts-policy-fetch-error"), std::string::npos);
}

TEST(PolicyFailure, ADomainThatNeverHadAPolicyIsNotNews) {
  auto hist = std::vector<DayObservations>{day("2024-05-03", {npf("G", 50)})};
  auto e = evaluate(input(day("2024-05-04", {npf("G", 50)}), hist), config());
  EXPECT_TRUE(e.findings.empty());
  EXPECT_TRUE(clean(e, kPolicyFailure));
}

// ---- failure-rate -----------------------------------------------------------------

TEST(FailureRate, AtTheThresholdItFiresJustBelowItDoesNot) {
  // 5 of 100 sessions = 5% = failure_ratio; 4 of 100 is below it.
  auto at = day("2024-05-04", {sts("G", kMx12, 95, 5)});
  auto e = evaluate(input(at), config(0.05, 100));
  const Finding* f = find(e, kFailureRate);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->opens);
  EXPECT_EQ(f->alert.severity, Severity::warning);
  EXPECT_EQ(f->alert.summary, "Failure rate \xE2\x80\x94 5.0% of 100 sessions failed (no earlier reports)");
  EXPECT_DOUBLE_EQ(*f->alert.evidence.failure_ratio, 0.05);
  auto below = day("2024-05-04", {sts("G", kMx12, 96, 4)});
  auto e2 = evaluate(input(below), config(0.05, 100));
  EXPECT_EQ(find(e2, kFailureRate), nullptr);
  EXPECT_TRUE(clean(e2, kFailureRate));
}

TEST(FailureRate, MinimumSessions) {
  EXPECT_NE(find(evaluate(input(day("2024-05-04", {sts("G", kMx12, 50, 50)})), config(0.05, 100)), kFailureRate),
            nullptr);
  EXPECT_EQ(find(evaluate(input(day("2024-05-04", {sts("G", kMx12, 49, 50)})), config(0.05, 100)), kFailureRate),
            nullptr);
}

TEST(FailureRate, MustBeWellAboveTheBaseline) {
  // Baseline 10% (100 of 1000): today needs at least 2 x 10% = 20%.
  auto hist = std::vector<DayObservations>{day("2024-05-03", {sts("G", kMx12, 900, 100)})};
  auto at = evaluate(input(day("2024-05-04", {sts("G", kMx12, 800, 200)}), hist), config());
  ASSERT_NE(find(at, kFailureRate), nullptr);
  EXPECT_DOUBLE_EQ(*find(at, kFailureRate)->alert.evidence.baseline_failure_ratio, 0.1);
  EXPECT_EQ(find(at, kFailureRate)->alert.summary, "Failure rate \xE2\x80\x94 20% of 1000 sessions failed (usually 10%)");
  // But this baseline was itself high: the day before was already alarming, so it
  // does not open a new alert.
  EXPECT_FALSE(find(at, kFailureRate)->opens);
  auto below = evaluate(input(day("2024-05-04", {sts("G", kMx12, 801, 199)}), hist), config());
  EXPECT_EQ(find(below, kFailureRate), nullptr);
  EXPECT_TRUE(clean(below, kFailureRate));
}

TEST(FailureRate, ABaselineWithFewSessionsCountsAsZero) {
  auto hist = std::vector<DayObservations>{day("2024-05-03", {sts("G", kMx12, 1, 9)})};  // 90% of 10
  auto e = evaluate(input(day("2024-05-04", {sts("G", kMx12, 900, 100)}), hist), config(0.05, 100));
  ASSERT_NE(find(e, kFailureRate), nullptr);
  EXPECT_TRUE(find(e, kFailureRate)->opens);
  EXPECT_DOUBLE_EQ(*find(e, kFailureRate)->alert.evidence.baseline_failure_ratio, 0.0);
}

TEST(FailureRate, HalfFailingIsCriticalAndRecoveryIsClean) {
  auto bad = day("2024-05-04", {sts("G", kMx12, 500, 500)});
  auto e = evaluate(input(bad, calm_sts_history()), config());
  ASSERT_NE(find(e, kFailureRate), nullptr);
  EXPECT_EQ(find(e, kFailureRate)->alert.severity, Severity::critical);
  auto hist = calm_sts_history();
  hist.push_back(bad);
  auto next = evaluate(input(day("2024-05-05", {sts("G", kMx12, 1000)}), hist), config());
  EXPECT_TRUE(clean(next, kFailureRate));
}

// ---- authentication ---------------------------------------------------------------

TEST(Detectors, UnauthenticatedReportsCountOnlyWhenTrusted) {
  PolicyObservation forged = sts("Forger", kMx12, 0, 1000, {fail("starttls-not-supported", "mx1.example.com", 1000)});
  forged.authenticated = false;
  auto today = day("2024-05-04", {sts("Google LLC", kMx12, 1000), forged});
  auto e = evaluate(input(today, calm_sts_history()), config());
  EXPECT_EQ(find(e, kStarttlsFailure), nullptr);
  EXPECT_TRUE(clean(e, kStarttlsFailure));
  DetectorConfig trusting = config();
  trusting.trust_unauthenticated = true;
  auto e2 = evaluate(input(today, calm_sts_history()), trusting);
  const Finding* f = find(e2, kStarttlsFailure);
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->authenticated);
  EXPECT_EQ(f->alert.evidence.sources, "unauthenticated");
}

TEST(Detectors, BaselineDaysAfterTheCurrentDayAreIgnored) {
  auto future = std::vector<DayObservations>{day("2024-05-05", {sts("G", kMx12, 100)})};
  auto e = evaluate(input(day("2024-05-04", {sts("G", {"mx9.example.com"}, 100)}), future), config());
  EXPECT_EQ(find(e, kMxChange), nullptr);  // no earlier day: first report
}

}  // namespace
}  // namespace tlsrpt::alerts
