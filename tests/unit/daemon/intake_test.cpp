// daemon/intake/intake.cpp: the one stage every channel's submission passes. The
// same bytes decide the same way on every channel, except for what only a channel
// can give: a DKIM signature (mail), the admin's word (import), a per-domain path
// (HTTPS). Mails are signed at test time (dkim_test_keys.hpp).
#include "daemon/intake/intake.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "dkim_test_keys.hpp"
#include "parser/footprint.hpp"
#include "parser/notes.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

constexpr std::chrono::sys_seconds kNow{std::chrono::sys_days{std::chrono::year{2026} / 11 / 28}};

struct PolicySpec {
  std::string type = "sts";
  std::string domain = "example.com";  // "" = no policy-domain member
  int ok = 10;
  int failure_details = 0;
};

std::string report(const std::string& org, std::vector<PolicySpec> policies, const std::string& day = "2026-11-27") {
  std::string s = R"({"organization-name":")" + org + R"(","date-range":{"start-datetime":")" + day +
                  R"(T00:00:00Z","end-datetime":")" + day + R"(T23:59:59Z"},"contact-info":"tlsrpt@reporter.example",)" +
                  R"("report-id":")" + day + R"(T00:00:00Z_example.com","policies":[)";
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const PolicySpec& p = policies[i];
    s += std::string(i ? "," : "") + R"({"policy":{"policy-type":")" + p.type + "\"";
    if (!p.domain.empty()) s += R"(,"policy-domain":")" + p.domain + "\"";
    s += R"(},"summary":{"total-successful-session-count":)" + std::to_string(p.ok) +
         R"(,"total-failure-session-count":)" + std::to_string(p.failure_details) + "}";
    if (p.failure_details) {
      s += R"(,"failure-details":[)";
      for (int f = 0; f < p.failure_details; ++f)
        s += std::string(f ? "," : "") + R"({"result-type":"validation-failure","receiving-mx-hostname":"mx)" +
             std::to_string(f) + R"(.example.com","failed-session-count":1})";
      s += "]";
    }
    s += "}";
  }
  return s + "]}";
}

// A report mail as RFC 8460 §5.3 describes it, CRLF.
std::string mail(const std::string& from, const std::string& report_domain, const std::string& json) {
  return "From: " + from + "\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: " + report_domain +
         "\r\nDate: Sat, 28 Nov 2026 04:17:13 +0000\r\nMessage-ID: <1@reporter>\r\nTLS-Report-Domain: " +
         report_domain + "\r\nTLS-Report-Submitter: reporter\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n"
         "--b\r\nContent-Type: text/plain\r\n\r\nThis is a TLS report.\r\n"
         "--b\r\nContent-Type: application/tlsrpt+json\r\nContent-Disposition: attachment; filename=\"r.json\"\r\n\r\n" +
         json + "\r\n--b--\r\n";
}

class IntakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    txt_ = new std::string(test_dkim::keygen(dir_->path(), "a"));
  }
  static void TearDownTestSuite() {
    delete txt_;
    delete dir_;
  }

  void SetUp() override {
    // The key of every signer here; which signature counts is alignment's business.
    for (const char* d : {"google.com", "attacker.example", "reporter.example"})
      zone_[std::string("sel._domainkey.") + d] = std::vector<std::string>{*txt_};
    auto v = DkimVerifier::create(test_dkim::zone_lookup(zone_));
    ASSERT_TRUE(v);
    rules_.verifier = std::move(*v);
    rules_.domains = {"example.com"};
  }

  static std::string signed_by(const std::string& domain, const std::string& msg) {
    return test_dkim::sign(dir_->path(), msg, "sel", domain);
  }

  IntakeDecision check(Transport t, const std::string& bytes, std::string path_domain = {}) {
    Intake intake(rules_);
    Submission s;
    s.transport = t;
    s.source = "test";
    s.bytes = bytes;
    s.path_domain = std::move(path_domain);
    s.received_at = kNow;
    if (t == Transport::import) {
      s.authority = Authority::admin;
      s.admin_method = "import";
    }
    return intake.check(s);
  }

  static test::TempDir* dir_;
  static std::string* txt_;
  test_dkim::Zone zone_;
  IntakeRules rules_;
};
test::TempDir* IntakeTest::dir_ = nullptr;
std::string* IntakeTest::txt_ = nullptr;

using Kind = IntakeDecision::Kind;

// RFC 8460 §3 with DMARC's relaxed rule, from the public suffix list.
TEST(DkimAlignment, FromDomainOrItsOrganizationalDomain) {
  struct Case {
    const char *d, *from;
    bool aligned;
  } cases[] = {
      {"google.com", "google.com", true},
      {"google.com", "reports.google.com", true},   // d= is From's organizational domain
      {"Google.COM", "google.com", true},
      {"corp.mail.ru", "corp.mail.ru", true},
      {"mail.ru", "corp.mail.ru", true},
      {"attacker.example", "google.com", false},     // a related-looking domain is not enough
      {"google.com.attacker.example", "google.com", false},
      {"evil-google.com", "google.com", false},
      {"reports.google.com", "google.com", false},   // a child of From is not From's
      {"co.uk", "example.co.uk", false},             // a public suffix signs for nobody
      {"google.com", "", false},
      {"", "google.com", false},
  };
  for (const auto& c : cases) EXPECT_EQ(dkim_aligned(c.d, c.from), c.aligned) << c.d << " for " << c.from;
}

TEST(Impersonation, AWellKnownNameSignedByAnotherDomain) {
  Report r;
  r.organization_name = "Google Inc.";
  EXPECT_EQ(impersonation(r, "google.com"), "");
  EXPECT_NE(impersonation(r, "attacker.example").find("attacker.example"), std::string::npos);
  EXPECT_NE(impersonation(r, "attacker.example").find("Google"), std::string::npos);
  r.organization_name = "Attacker Org";
  EXPECT_EQ(impersonation(r, "attacker.example"), "");
}

TEST_F(IntakeTest, AlignedSignatureAuthenticatesAndNamesTheSigner) {
  auto d = check(Transport::smtp,
                 signed_by("google.com", mail("noreply-smtp-tls-reporting@google.com", "example.com",
                                              report("Google Inc.", {{}}))));
  ASSERT_EQ(d.kind, Kind::store) << d.detail;
  EXPECT_TRUE(d.provenance.authenticated);
  EXPECT_EQ(d.provenance.signing_domain, "google.com");
  EXPECT_EQ(d.provenance.auth_method, "dkim pass d=google.com");
}

TEST_F(IntakeTest, ASignatureByAnUnalignedDomainDoesNotAuthenticate) {
  // Google's From, re-signed by someone else: the signature verifies, but not "by the
  // reporting domain" (RFC 8460 §3).
  auto d = check(Transport::smtp, signed_by("attacker.example", mail("noreply-smtp-tls-reporting@google.com",
                                                                     "example.com", report("Google Inc.", {{}}))));
  EXPECT_EQ(d.kind, Kind::hold);
  EXPECT_NE(d.hold_reason.find("neither the From domain nor its organizational domain"), std::string::npos)
      << d.hold_reason;
}

TEST_F(IntakeTest, AWellKnownNameSignedByAnotherDomainIsHeld) {
  // The attacker's own From and signature, Google's name and predictable report-id.
  auto d = check(Transport::smtp, signed_by("attacker.example", mail("reports@attacker.example", "example.com",
                                                                     report("Google Inc.", {{}}))));
  ASSERT_EQ(d.kind, Kind::hold) << d.detail;
  EXPECT_NE(d.hold_reason.find("attacker.example"), std::string::npos);
  EXPECT_NE(d.hold_reason.find("Google"), std::string::npos);
  // Its own name is its own business: stored, as attacker.example's report.
  auto own = check(Transport::smtp, signed_by("attacker.example", mail("reports@attacker.example", "example.com",
                                                                       report("Attacker Org", {{}}))));
  ASSERT_EQ(own.kind, Kind::store);
  EXPECT_EQ(own.provenance.signing_domain, "attacker.example");
}

TEST_F(IntakeTest, UnsignedMailIsHeldUnderRequireAndStoredUnauthenticatedUnderRecord) {
  const std::string m = mail("reports@reporter.example", "example.com", report("Org", {{}}));
  auto held = check(Transport::lmtp, m);
  EXPECT_EQ(held.kind, Kind::hold);
  EXPECT_EQ(held.hold_reason, "not DKIM-signed (RFC 8460 §3)");
  rules_.dkim = DkimPolicy::record;
  auto recorded = check(Transport::maildir, m);
  ASSERT_EQ(recorded.kind, Kind::store);
  EXPECT_FALSE(recorded.provenance.authenticated);
  EXPECT_EQ(recorded.provenance.signing_domain, "");
}

TEST_F(IntakeTest, AKeyThatCannotBeFetchedNowIsRetriedLater) {
  zone_["sel._domainkey.reporter.example"] = std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, "SERVFAIL"});
  auto d = check(Transport::smtp, signed_by("reporter.example", mail("reports@reporter.example", "example.com",
                                                                     report("Org", {{}}))));
  EXPECT_EQ(d.kind, Kind::retry_later);
  EXPECT_EQ(d.outcome, Outcome::storage_unavailable);
}

// Step 3: RFC 8460 §5.3's TLS-Report-Domain, or the per-domain POST path.
TEST_F(IntakeTest, DomainlessPoliciesAreAttributedToTheDomainTheReportWasSentFor) {
  const std::string json = report("Org", {{"no-policy-found", ""}});
  auto by_mail = check(Transport::smtp, signed_by("reporter.example", mail("r@reporter.example", "example.com", json)));
  ASSERT_EQ(by_mail.kind, Kind::store) << by_mail.detail;
  ASSERT_EQ(by_mail.report->parsed.report.policies.size(), 1u);
  EXPECT_EQ(by_mail.report->parsed.report.policies[0].policy.domain, "example.com");
  EXPECT_EQ(by_mail.report->parsed.notes.back().code, note::kPolicyDomainAttributed);
  auto by_path = check(Transport::https, json, "example.com");
  ASSERT_EQ(by_path.kind, Kind::store) << by_path.detail;
  EXPECT_EQ(by_path.report->parsed.report.policies[0].policy.domain, "example.com");
  // The content, and so the dedupe identity, stays what the sender sent.
  EXPECT_EQ(by_mail.report->content_sha256, by_path.report->content_sha256);
}

TEST_F(IntakeTest, WhatCannotBeAttributedIsKeptUnattributedNeverRefused) {
  const std::string json = report("Org", {{"no-policy-found", ""}});
  auto d = check(Transport::https, json);  // the report path itself names no domain
  ASSERT_EQ(d.kind, Kind::store) << d.detail;
  EXPECT_EQ(d.report->parsed.report.policies[0].policy.domain, "");  // counted for no domain
  // Sent for a domain not served: that domain's, so left out, and nothing is left.
  auto other = check(Transport::smtp, signed_by("reporter.example", mail("r@reporter.example", "other.org", json)));
  EXPECT_EQ(other.kind, Kind::reject);
  EXPECT_EQ(other.outcome, Outcome::no_policy_for_domain);
}

TEST_F(IntakeTest, PoliciesForDomainsNotServedAreLeftOutAndAReportWithNothingServedIsRefused) {
  auto mixed = check(Transport::https, report("Org", {{"sts", "other.org"}, {"sts", "example.com"}}));
  ASSERT_EQ(mixed.kind, Kind::store);
  ASSERT_EQ(mixed.report->parsed.report.policies.size(), 1u);
  EXPECT_EQ(mixed.report->parsed.report.policies[0].policy.domain, "example.com");
  EXPECT_EQ(mixed.report->parsed.notes.back().code, note::kPolicyNotServed);
  auto dane = check(Transport::https, report("Org", {{"tlsa", "mx1.example.com"}}));  // an MX host under a served domain
  EXPECT_EQ(dane.kind, Kind::store);
  auto other = check(Transport::https, report("Org", {{"sts", "other.org"}}));
  EXPECT_EQ(other.kind, Kind::reject);
  EXPECT_EQ(other.outcome, Outcome::no_policy_for_domain);
}

// The same bytes on every channel meet the same limits, domains and date rules.
TEST_F(IntakeTest, EveryChannelRefusesTheSameReports) {
  rules_.limits.max_failure_details = 2;
  struct Case {
    const char* name;
    std::string json;
    Outcome outcome;
  } cases[] = {
      {"over max_failure_details", report("Org", {{"sts", "example.com", 0, 3}}), Outcome::malformed},
      {"no policy for a served domain", report("Org", {{"sts", "other.org"}}), Outcome::no_policy_for_domain},
      {"starting days after it was received", report("Org", {{}}, "2026-12-30"), Outcome::malformed},
  };
  for (const auto& c : cases) {
    const std::string signed_mail = signed_by("reporter.example", mail("r@reporter.example", "example.com", c.json));
    for (Transport t : {Transport::https, Transport::smtp, Transport::lmtp, Transport::maildir, Transport::import}) {
      const bool is_mail = t != Transport::https && t != Transport::import;
      auto d = check(t, is_mail ? signed_mail : c.json);
      EXPECT_EQ(d.kind, Kind::reject) << c.name << " via " << to_token(t);
      EXPECT_EQ(d.outcome, c.outcome) << c.name << " via " << to_token(t) << ": " << d.detail;
    }
  }
}

TEST_F(IntakeTest, TheAdminVouchesForWhatTheyImport) {
  auto d = check(Transport::import, mail("noreply-smtp-tls-reporting@google.com", "example.com", report("Google Inc.", {{}})));
  ASSERT_EQ(d.kind, Kind::store);
  EXPECT_TRUE(d.provenance.authenticated);
  EXPECT_EQ(d.provenance.auth_method, "import");
  EXPECT_EQ(d.provenance.signing_domain, "");  // no signature checked: the claimed name is the reporter
}

TEST_F(IntakeTest, NewRulesApplyToTheNextSubmission) {
  Intake intake(rules_);
  Submission s;
  s.transport = Transport::https;
  const std::string json = report("Org", {{"sts", "other.org"}});
  s.bytes = json;
  s.received_at = kNow;
  EXPECT_EQ(intake.check(s).kind, Kind::reject);
  IntakeRules wider = rules_;
  wider.domains.push_back("other.org");
  intake.set_rules(wider);
  EXPECT_EQ(intake.check(s).kind, Kind::store);
}

// limits.max_unauthenticated_bytes_per_client (issue 19): HTTPS and unsigned mail from
// one client share its daily budget; beyond it, over_budget (429 / 451 4.7.0) with the
// seconds to 00:00 UTC; a signed mail, an admin import, Maildir (no client) are not budgeted.
TEST_F(IntakeTest, UnauthenticatedBytesAreBudgetedPerClient) {
  const std::string json = report("Org", {{}});
  rules_.limits.max_unauthenticated_bytes_per_client = 2 * json.size();
  rules_.dkim = DkimPolicy::record;
  Intake intake(rules_);
  auto submit = [&](Transport t, const std::string& bytes, const char* ip) {
    Submission s;
    s.transport = t;
    s.bytes = bytes;
    s.received_at = kNow;
    if (ip) s.client = client_key(std::string_view(ip));
    return intake.check(s);
  };
  EXPECT_EQ(submit(Transport::https, json, "192.0.2.1").kind, Kind::store);
  EXPECT_EQ(submit(Transport::https, json, "192.0.2.1").kind, Kind::store);
  auto over = submit(Transport::https, json, "192.0.2.1");
  EXPECT_EQ(over.kind, Kind::retry_later);
  EXPECT_EQ(over.outcome, Outcome::over_budget);
  EXPECT_GE(over.retry_after.count(), 1);
  EXPECT_LE(over.retry_after.count(), 86400);
  EXPECT_EQ(reply_for(over.outcome).http_status, 429);
  EXPECT_EQ(reply_for(over.outcome).smtp_code, 451);
  EXPECT_TRUE(reply_for(over.outcome).retry_later());
  const std::string unsigned_mail = mail("tlsrpt@reporter.example", "example.com", json);
  EXPECT_EQ(submit(Transport::smtp, unsigned_mail, "192.0.2.1").outcome, Outcome::over_budget);
  const std::string signed_mail = signed_by("reporter.example", unsigned_mail);
  auto signed_d = submit(Transport::smtp, signed_mail, "192.0.2.1");
  EXPECT_EQ(signed_d.kind, Kind::store) << signed_d.detail;
  EXPECT_TRUE(signed_d.provenance.authenticated);
  EXPECT_EQ(submit(Transport::maildir, unsigned_mail, nullptr).kind, Kind::store);
  EXPECT_EQ(submit(Transport::https, json, "192.0.2.2").kind, Kind::store);  // another client
  Submission imp;
  imp.transport = Transport::import;
  imp.authority = Authority::admin;
  imp.bytes = json;
  imp.received_at = kNow;
  imp.client = client_key(std::string_view("192.0.2.1"));
  EXPECT_EQ(intake.check(imp).kind, Kind::store);
}

// HTTPS with Content-Encoding: the budget charges the bytes as received (and stored).
TEST_F(IntakeTest, TheBudgetChargesTheBytesAsReceived) {
  const std::string json = report("Org", {{}});
  rules_.limits.max_unauthenticated_bytes_per_client = json.size() / 2;
  Intake intake(rules_);
  Submission s;
  s.transport = Transport::https;
  s.bytes = json;
  s.received_at = kNow;
  s.client = client_key(std::string_view("2001:db8::1"));
  s.received_bytes = json.size() / 4;  // as if gzipped on the wire
  EXPECT_EQ(intake.check(s).kind, Kind::store);
  EXPECT_EQ(intake.check(s).kind, Kind::store);
  EXPECT_EQ(intake.check(s).outcome, Outcome::over_budget);
}

// Review finding 5: the charge is settled once, by log_outcome, on every channel: a
// temporary failure the sender must retry (disk_full, storage_unavailable, overloaded)
// and a duplicate give it back; a stored report and a refused body keep it.
TEST_F(IntakeTest, TheBudgetIsRefundedOnceWhenNothingWasStored) {
  const std::string json = report("Org", {{}});
  const std::string unsigned_mail = mail("tlsrpt@reporter.example", "example.com", json);
  rules_.limits.max_unauthenticated_bytes_per_client = unsigned_mail.size() + json.size();
  rules_.dkim = DkimPolicy::record;
  Intake intake(rules_);
  auto sub = [&](Transport t, const std::string& bytes) {
    Submission s;
    s.transport = t;
    s.bytes = bytes;
    s.received_at = kNow;
    s.client = client_key(std::string_view("192.0.2.7"));
    return s;
  };
  const Submission https = sub(Transport::https, json), smtp = sub(Transport::smtp, unsigned_mail);
  for (Outcome temporary : {Outcome::disk_full, Outcome::storage_unavailable, Outcome::overloaded,
                            Outcome::duplicate}) {
    auto a = intake.check(https);
    auto b = intake.check(smtp);
    ASSERT_EQ(a.kind, Kind::store) << a.detail;
    ASSERT_EQ(b.kind, Kind::store) << b.detail;
    ASSERT_TRUE(a.charge && b.charge);
    EXPECT_EQ(intake.check(https).outcome, Outcome::over_budget);  // both spent it
    const IntakeDecision copy = a;                                  // copies share the charge
    log_outcome(https, a, temporary);
    log_outcome(smtp, b, temporary, "test");
    EXPECT_FALSE(settle_budget(copy, temporary)) << "refunded twice";
    EXPECT_FALSE(settle_budget(b, temporary)) << "refunded twice";
  }
  // Stored: kept.
  auto stored = intake.check(https);
  log_outcome(https, stored, Outcome::stored);
  auto kept = intake.check(smtp);
  ASSERT_EQ(kept.kind, Kind::store);
  log_outcome(smtp, kept, Outcome::held);
  EXPECT_EQ(intake.check(https).outcome, Outcome::over_budget);
  // A refused body keeps its charge too (it cost its parsing).
  rules_.limits.max_unauthenticated_bytes_per_client = 2 * json.size();
  Intake other(rules_);
  const std::string garbage(json.size(), 'x');
  auto bad = other.check(sub(Transport::https, garbage));
  ASSERT_EQ(bad.kind, Kind::reject);
  log_outcome(sub(Transport::https, garbage), bad, bad.outcome);
  EXPECT_FALSE(settle_budget(bad, Outcome::storage_unavailable)) << "settled already: no refund later";
  EXPECT_EQ(other.check(https).kind, Kind::store);
  EXPECT_EQ(other.check(https).outcome, Outcome::over_budget);
}

// Review finding 1: the footprint budget is sized on the bytes as received (a gzipped
// body), like the daily budget; not on the JSON gunzip made of them.
TEST_F(IntakeTest, TheFootprintIsSizedOnTheBytesAsReceived) {
  std::string json = report("Org", {{"sts", "example.com", 10, 400}});
  const std::string member = "\"additional-information\":\"" + std::string(200, 'i') + "\",";
  for (std::size_t at = 0; (at = json.find("\"failed-session-count\":1", at)) != std::string::npos;
       at += member.size() + 10)
    json.insert(at, member);
  Intake intake(rules_);
  Submission s;
  s.transport = Transport::https;
  s.bytes = json;
  s.received_at = kNow;
  auto whole = intake.check(s);
  ASSERT_EQ(whole.kind, Kind::store) << whole.detail;
  EXPECT_EQ(whole.report->parsed.report.policies[0].failures.size(), 400u);  // 4x its own size: all kept
  s.received_bytes = 4000;  // as if it came gzipped in 4 KB
  auto gz = intake.check(s);
  ASSERT_EQ(gz.kind, Kind::store) << gz.detail;
  std::size_t text = 0;
  for (const auto& f : gz.report->parsed.report.policies[0].failures)
    for (const auto* field : {&f.additional_information, &f.receiving_mx_hostname})
      if (*field) text += (*field)->size();
  EXPECT_LE(text, stored_text_budget(rules_.limits, 4000));
  EXPECT_LT(gz.report->parsed.report.policies[0].failures.size(), 400u);  // the rest merged
}

TEST_F(IntakeTest, TheStoredFootprintIsBoundedWhateverTheChannel) {
  std::string json = report("Org", {{"sts", "example.com", 10, 3}});
  const std::string long_info = std::string(1000, 'i');
  const std::string member = "\"additional-information\":\"" + long_info + "\",";
  for (std::size_t at = 0; (at = json.find("\"failed-session-count\":1", at)) != std::string::npos;
       at += member.size() + 10)
    json.insert(at, member);
  for (Transport t : {Transport::https, Transport::import}) {
    auto d = check(t, json);
    ASSERT_EQ(d.kind, Kind::store) << d.detail;
    for (const auto& f : d.report->parsed.report.policies[0].failures)
      EXPECT_EQ(f.additional_information->size(), rules_.limits.max_stored_text_bytes);
    const auto& notes = d.report->parsed.notes;
    EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const Note& n) { return n.code == note::kStoredTextCut; }));
    // The identity is the content as sent: a copy with other text past the cut differs.
    std::string other = json;
    other[other.find(long_info) + 900] = 'j';
    EXPECT_NE(check(t, other).report->content_sha256, d.report->content_sha256);
  }
}

}  // namespace
}  // namespace tlsrpt::daemon
