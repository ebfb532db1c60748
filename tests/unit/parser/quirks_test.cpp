// Every tolerated real-world quirk has a corpus file under tests/corpus/ named after
// its sender; each must parse, carry the expected data-quality note(s) and come out
// normalised, or be refused for the stated reason. Expected values were written from
// the files by hand. (The mails there, *.eml, are mail_corpus_test.cpp's.)
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "parser/ingest.hpp"
#include "parser/notes.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

std::set<std::string> codes(const std::vector<Note>& notes) {
  std::set<std::string> s;
  for (const auto& n : notes) s.insert(n.code);
  return s;
}

Ingested load(const std::string& name) {
  Ingestor ing;
  auto bytes = test::read_file(test::quirk_dir() / name);
  auto r = ing.ingest(bytes);
  if (!r) ADD_FAILURE() << name << ": " << r.error().text();
  return r ? std::move(*r) : Ingested{};
}

TEST(Quirks, EveryQuirkFileIsCoveredHere) {
  // A new file in tests/corpus/ needs its own test below.
  const std::set<std::string> covered = {
      "microsoft-datetime-without-zone.json",  "microsoft-tlsa-packed-in-string.json",
      "microsoft-sts-fetch-error-without-ips.json", "google-policy-string-trailing-cr.json",
      "stalwart-contact-info-null.json",       "stalwart-mx-host-with-mx-prefix.json",
      "socketlabs-receiving-mx-host-name.json", "rfc8460-mx-host-string.json",
      "rfc8460-draft-failure-error-code.json", "rfc8460-abnf-name-additional-info-uri.json",
      "mailru-failure-sum-mismatch.json",      "parsedmarc-empty-failure-fields.json",
      "tlsrpt-reporter-policy-domain-missing.json", "mail-auth-summary-count-missing.json",
      "mail-auth-seven-day-range.json",        "tls-rpt-monitor-unknown-result-type.json",
      "rfc8460-tlsa-semicolon-list.json",      "generic-utf8-bom-and-normalisation.json",
      "tlsrpt-be-idn-policy-domain.json",      "microsoft-gzip-file.json.gz",
      "tls-rpt-monitor-edited-copy.json",      "rfc8460-failure-reason-code.json",
      "generic-start-after-end.json",
  };
  for (const auto& entry : std::filesystem::directory_iterator(test::quirk_dir())) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".json") && !name.ends_with(".json.gz")) continue;
    EXPECT_TRUE(covered.count(name)) << entry.path() << " has no test";
  }
}

TEST(Quirks, MicrosoftDatetimeWithoutZoneIsUtc) {
  auto r = load("microsoft-datetime-without-zone.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kDatetimeWithoutZone)));
  EXPECT_EQ(report_day(r.parsed.report), "2023-01-10");
  EXPECT_NE(r.canonical_json.find("\"start-datetime\":\"2023-01-10T00:00:00Z\""), std::string::npos);
  EXPECT_NE(r.canonical_json.find("\"end-datetime\":\"2023-01-10T23:59:59Z\""), std::string::npos);
}

TEST(Quirks, MicrosoftTlsaSetPackedInOneStringIsUnpacked) {
  auto r = load("microsoft-tlsa-packed-in-string.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kTlsaPackedInString)));
  const auto& tlsa = r.parsed.report.policies.at(0).policy;
  EXPECT_EQ(tlsa.type.value, PolicyType::tlsa);
  ASSERT_EQ(tlsa.strings.size(), 2u);
  EXPECT_EQ(tlsa.strings[0], "3 1 1 6007EE4A2A7F20F1CE8C4F3F5D5EAD6B8B9C0D1E2F30415263748596A7B8C9DA");
  EXPECT_EQ(tlsa.strings[1], "3 1 1 837C1B4F0E1C2D3E4F5061728394A5B6C7D8E9FA0B1C2D3E4F5061728394A5B6");
  EXPECT_EQ(r.parsed.report.policies.at(1).policy.strings.size(), 4u);  // the sts block is untouched
}

TEST(Quirks, MicrosoftFetchErrorWithoutAddressesIsFine) {
  auto r = load("microsoft-sts-fetch-error-without-ips.json");
  EXPECT_TRUE(r.parsed.notes.empty());
  const auto& f = r.parsed.report.policies.at(0).failures.at(0);
  EXPECT_EQ(f.result_type.value, ResultType::sts_policy_fetch_error);
  EXPECT_FALSE(f.sending_mta_ip);
  EXPECT_FALSE(f.receiving_mx_hostname);
  EXPECT_EQ(f.failed_session_count, 3u);
}

TEST(Quirks, GooglePolicyStringTrailingCrIsTrimmed) {
  auto r = load("google-policy-string-trailing-cr.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kPolicyStringTrailingCr)));
  const auto& s = r.parsed.report.policies.at(0).policy.strings;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0], "version: STSv1");
  EXPECT_EQ(s[3], "mx: mx2.example.com");
  for (const auto& line : s) EXPECT_EQ(line.find('\r'), std::string::npos);
}

TEST(Quirks, StalwartContactInfoNull) {
  auto r = load("stalwart-contact-info-null.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kContactInfoNull)));
  EXPECT_FALSE(r.parsed.report.contact_info);
  EXPECT_EQ(r.parsed.report.policies.at(0).policy.type.value, PolicyType::no_policy_found);
  EXPECT_TRUE(r.parsed.report.policies.at(0).policy.mx_hosts.empty());
  // Next-midnight end is one day: no date-range note.
  EXPECT_FALSE(codes(r.parsed.notes).count(std::string(note::kDateRangeNotOneDay)));
}

TEST(Quirks, StalwartMxHostWithMxPrefixIsStripped) {
  auto r = load("stalwart-mx-host-with-mx-prefix.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kMxHostPrefix)));
  EXPECT_EQ(r.parsed.report.policies.at(0).policy.mx_hosts, std::vector<std::string>{"mx.example.com"});
}

TEST(Quirks, SocketLabsMisspelledReceivingMxHostName) {
  auto r = load("socketlabs-receiving-mx-host-name.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kMisspelledMember)));
  EXPECT_EQ(r.parsed.report.policies.at(0).failures.at(0).receiving_mx_hostname, "mx.example.org");
}

TEST(Quirks, Rfc8460MxHostAsString) {
  auto r = load("rfc8460-mx-host-string.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kMxHostString)));
  EXPECT_EQ(r.parsed.report.policies.at(0).policy.mx_hosts, std::vector<std::string>{"*.mail.company-y.example"});
}

TEST(Quirks, DraftFailureErrorCodeIsTheReasonCode) {
  auto r = load("rfc8460-draft-failure-error-code.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kMisspelledMember)));
  EXPECT_EQ(r.parsed.report.policies.at(0).failures.at(0).failure_reason_code,
            "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
}

TEST(Quirks, AbnfNameAdditionalInfoUri) {
  auto r = load("rfc8460-abnf-name-additional-info-uri.json");
  EXPECT_EQ(r.parsed.report.policies.at(0).failures.at(0).additional_information, "https://reports.example/info?id=1");
  // failure-details before summary: member order is free.
  EXPECT_EQ(r.parsed.report.policies.at(0).summary.failed, 2u);
}

TEST(Quirks, MailRuFailureSumMismatchIsKept) {
  auto r = load("mailru-failure-sum-mismatch.json");
  auto c = codes(r.parsed.notes);
  EXPECT_TRUE(c.count(std::string(note::kFailureSumMismatch)));
  const auto& p = r.parsed.report.policies.at(0);
  EXPECT_EQ(p.summary.failed, 1u);
  ASSERT_EQ(p.failures.size(), 2u);
  EXPECT_EQ(p.failures[1].failure_reason_code,
            "unable to do http request: Get \"https://mta-sts.example.com/.well-known/mta-sts.txt\": context "
            "deadline exceeded");
  EXPECT_TRUE(p.policy.strings.empty());
}

TEST(Quirks, ParsedmarcEmptyFailureFieldsAreAbsent) {
  auto r = load("parsedmarc-empty-failure-fields.json");
  std::size_t empties = std::count_if(r.parsed.notes.begin(), r.parsed.notes.end(),
                                      [](const Note& n) { return n.code == note::kEmptyField; });
  EXPECT_EQ(empties, 4u);
  const auto& f = r.parsed.report.policies.at(0).failures.at(0);
  EXPECT_FALSE(f.sending_mta_ip);
  EXPECT_FALSE(f.receiving_ip);
  EXPECT_FALSE(f.receiving_mx_hostname);
  EXPECT_FALSE(f.additional_information);
  EXPECT_EQ(f.failure_reason_code, "no-policy-served");
}

TEST(Quirks, TlsrptReporterPolicyDomainMissing) {
  auto r = load("tlsrpt-reporter-policy-domain-missing.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kPolicyDomainMissing)));
  EXPECT_EQ(r.parsed.report.policies.at(0).policy.domain, "");
  // The multi-line EHLO reply is kept as sent (free text).
  EXPECT_EQ(r.parsed.report.policies.at(0).failures.at(0).receiving_mx_helo,
            "250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS");
}

TEST(Quirks, MailAuthSummaryCountMissingAndUnknownPolicyType) {
  auto r = load("mail-auth-summary-count-missing.json");
  auto c = codes(r.parsed.notes);
  EXPECT_TRUE(c.count(std::string(note::kSummaryCountMissing)));
  EXPECT_TRUE(c.count(std::string(note::kUnknownPolicyType)));
  const auto& p = r.parsed.report.policies;
  EXPECT_EQ(p.at(0).summary.successful, 1u);
  EXPECT_EQ(p.at(0).summary.failed, 0u);
  EXPECT_EQ(p.at(1).summary.successful, 0u);
  EXPECT_EQ(p.at(1).summary.failed, 4u);
  EXPECT_EQ(p.at(1).policy.type.value, PolicyType::unknown);
  EXPECT_EQ(p.at(1).policy.type.token(), "invalid-policy-type");
}

TEST(Quirks, MailAuthSevenDayRange) {
  auto r = load("mail-auth-seven-day-range.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kDateRangeNotOneDay)));
  EXPECT_EQ(report_day(r.parsed.report), "2020-01-01");
}

TEST(Quirks, UnknownResultTypeAndInvalidAddressAreKept) {
  auto r = load("tls-rpt-monitor-unknown-result-type.json");
  auto c = codes(r.parsed.notes);
  EXPECT_TRUE(c.count(std::string(note::kUnknownResultType)));
  EXPECT_TRUE(c.count(std::string(note::kInvalidIp)));
  const auto& f = r.parsed.report.policies.at(0).failures.at(0);
  EXPECT_EQ(f.result_type.token(), "Testing");
  EXPECT_EQ(f.sending_mta_ip, "x.x.x.x");
}

TEST(Quirks, TlsaSemicolonListIsSplit) {
  auto r = load("rfc8460-tlsa-semicolon-list.json");
  auto c = codes(r.parsed.notes);
  EXPECT_TRUE(c.count(std::string(note::kPolicyStringNotArray)));
  const auto& s = r.parsed.report.policies.at(0).policy.strings;
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].substr(0, 10), "3 1 1 AAAA");
  EXPECT_EQ(s[1].substr(0, 10), "3 1 1 BBBB");
}

TEST(Quirks, BomAndNormalisation) {
  auto r = load("generic-utf8-bom-and-normalisation.json");
  auto c = codes(r.parsed.notes);
  EXPECT_TRUE(c.count(std::string(note::kUtf8Bom)));
  EXPECT_TRUE(c.count(std::string(note::kContactInfoForm)));
  EXPECT_TRUE(c.count(std::string(note::kIpNormalised)));
  const auto& rep = r.parsed.report;
  EXPECT_EQ(rep.contact_info, "tlsrpt@reporter.example");
  EXPECT_EQ(rep.policies.at(0).policy.domain, "example.com");
  const auto& f = rep.policies.at(0).failures.at(0);
  EXPECT_EQ(f.sending_mta_ip, "192.0.2.10");          // IPv4-mapped IPv6 -> IPv4
  EXPECT_EQ(f.receiving_ip, "2001:db8:abcd:12::1");  // RFC 5952
  EXPECT_EQ(f.receiving_mx_hostname, "mx.example.com");
}

TEST(Quirks, IdnPolicyDomainBecomesALabel) {
  auto r = load("tlsrpt-be-idn-policy-domain.json");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kPolicyDomainNormalised)));
  EXPECT_EQ(r.parsed.report.policies.at(0).policy.domain, "xn--gpher-jua.test");
  EXPECT_TRUE(codes(r.parsed.notes).count(std::string(note::kFailureDetailsAbsent)));
}

TEST(Quirks, MicrosoftGzipFileIsReadByItsContent) {
  // A report saved or POSTed as .json.gz: a gzip member (mtime 0, XFL 4, OS 0).
  const std::string bytes = test::read_file(test::quirk_dir() / "microsoft-gzip-file.json.gz");
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 2), "\x1f\x8b");
  auto r = load("microsoft-gzip-file.json.gz");
  EXPECT_TRUE(r.was_gzip);
  EXPECT_TRUE(r.parsed.notes.empty());
  EXPECT_EQ(r.parsed.report.organization_name, "Microsoft Corporation");
  EXPECT_EQ(r.parsed.report.report_id, "133986528004215873+example.com");
  EXPECT_EQ(report_day(r.parsed.report), "2025-08-03");
  EXPECT_TRUE(r.parsed.report.policies.at(0).policy.mx_hosts.empty());  // Microsoft never sends mx-host
}

TEST(Quirks, EditedCopyKeepsTheKeyButIsOtherContent) {
  // Published beside the original with a failure block added: same organization and
  // report-id, other content (a conflict for dedupe, never a duplicate).
  auto original = load("microsoft-gzip-file.json.gz");
  auto edited = load("tls-rpt-monitor-edited-copy.json");
  EXPECT_TRUE(edited.parsed.notes.empty());
  EXPECT_EQ(edited.parsed.report.report_id, original.parsed.report.report_id);
  EXPECT_EQ(edited.parsed.report.policies.at(0).summary.failed, 1u);
  EXPECT_EQ(edited.parsed.report.policies.at(0).failures.at(0).result_type.value, ResultType::certificate_expired);
  EXPECT_NE(edited.content_sha256, original.content_sha256);
}

TEST(Quirks, RfcMemberNameCopyOfTheDraftEraReportIsTheSameContent) {
  auto draft = load("rfc8460-draft-failure-error-code.json");
  auto rfc = load("rfc8460-failure-reason-code.json");
  EXPECT_TRUE(rfc.parsed.notes.empty());
  EXPECT_EQ(rfc.parsed.report.policies.at(0).failures.at(0).failure_reason_code,
            "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
  EXPECT_EQ(rfc.canonical_json, draft.canonical_json);
  EXPECT_EQ(rfc.content_sha256, draft.content_sha256);
}

TEST(Quirks, StartAfterEndIsRefused) {
  // An edited sample: the range ends before it starts. Not repaired: refused.
  Ingestor ing;
  auto r = ing.ingest(test::read_file(test::quirk_dir() / "generic-start-after-end.json"));
  ASSERT_FALSE(r) << "generic-start-after-end.json was accepted";
  EXPECT_EQ(r.error().reason, RejectReason::invalid_value) << r.error().text();
  EXPECT_NE(r.error().text().find("end-datetime 2020-04-13T00:00:00Z is before start-datetime"), std::string::npos)
      << r.error().text();
}

}  // namespace
}  // namespace tlsrpt
