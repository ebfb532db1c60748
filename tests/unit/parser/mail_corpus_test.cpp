// Report mails through the Ingestor, each checked against a table written by hand.
// Regular suite: every tests/corpus/*.eml (one mail quirk per file, written for this
// repository), with its provenance and its full set of notes. Extra run: every .eml
// of the external interop corpus (TLSRPT_CORPUS_DIR, not part of this repository);
// each value there was read off the decoded attachment and the headers with Python's
// email module (not from this code's output) and compared with the sender notes in
// the corpus's SOURCES.md; those tests skip, saying so, where the corpus is absent.
// A mail missing from its table fails the test, so new files get an expectation.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "parser/auth_results.hpp"
#include "parser/ingest.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

struct Pol {
  const char* type;
  const char* domain;
  Count successful;
  Count failed;
};

struct Expected {
  const char* organization;
  const char* report_id;
  const char* day;  // UTC date of start-datetime
  std::vector<Pol> policies;
  // Mail provenance.
  const char* report_domain;     // TLS-Report-Domain
  const char* report_submitter;  // TLS-Report-Submitter
  const char* message_id;
  const char* filename;
  const char* content_type;
  bool dkim_signed;
};

// The report a mail carried, against its row in an expected-outcome table.
void expect_report(const Report& r, const Expected& want) {
  EXPECT_EQ(r.organization_name, want.organization);
  EXPECT_EQ(r.report_id, want.report_id);
  EXPECT_EQ(report_day(r), want.day);
  ASSERT_EQ(r.policies.size(), want.policies.size());
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    EXPECT_EQ(r.policies[i].policy.type.token(), want.policies[i].type) << "policy " << i;
    EXPECT_EQ(r.policies[i].policy.domain, want.policies[i].domain) << "policy " << i;
    EXPECT_EQ(r.policies[i].summary.successful, want.policies[i].successful) << "policy " << i;
    EXPECT_EQ(r.policies[i].summary.failed, want.policies[i].failed) << "policy " << i;
  }
}

const std::map<std::string, Expected>& table() {
  static const std::map<std::string, Expected> t = {
      {"deltachat-1.eml",
       {"Google Inc.", "2024-01-20T00:00:00Z_nine.testrun.org", "2024-01-20", {{"sts", "nine.testrun.org", 7, 0}},
        "nine.testrun.org", "google.com", "<000000000000cc154d060f720057@google.com>",
        "google.com!nine.testrun.org!1705708800!1705795199!001.json.gz", "application/tlsrpt+gzip", true}},
      // Headers trimmed by the test author: no TLS-Report-*, no DKIM-Signature.
      {"internet-message-parser-1.eml",
       {"Google Inc.", "2022-01-09T00:00:00Z_digilicious.com", "2022-01-09", {{"sts", "digilicious.com", 5, 0}}, "", "",
        "<000000000000447d9005d537639c@google.com>", "google.com!digilicious.com!1641686400!1641772799!001.json.gz",
        "application/tlsrpt+gzip", false}},
      // The RFC 8460 example mail: no Message-ID; filename domain differs from the header's.
      {"mail-auth-4.eml",
       {"Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", "2016-04-01", {{"sts", "company-y.example", 5326, 303}},
        "example.net", "mail.sender.example.com", "", "mail.sender.example!example.com!1013662812!1013749130.json.gz",
        "application/tlsrpt+gzip", false}},
      // Bare application/tlsrpt, uncompressed JSON, no transfer encoding.
      {"mail-auth-5.eml",
       {"Google Inc.", "2020-01-01T00:00:00Z_example.com", "2020-01-01", {{"sts", "example.com", 23, 1}}, "example.net",
        "mail.sender.example.com", "", "mail.sender.example!example.com!1013662812!1013749130.json", "application/tlsrpt",
        false}},
      {"mail-tls-rpt-1.eml",
       {"Google Inc.", "2020-03-02T00:00:00Z_fastmaildmarc.com", "2020-03-02",
        {{"no-policy-found", "fastmaildmarc.com", 343, 0}}, "fastmaildmarc.com", "google.com",
        "<00000000000013b408059ff0b6f0@google.com>", "google.com!fastmaildmarc.com!1583107200!1583193599!001.json.gz",
        "application/tlsrpt+gzip", true}},
      {"mox-1.eml",
       {"Google Inc.", "2022-09-15T00:00:00Z_test.xmox.nl", "2022-09-15", {{"sts", "test.xmox.nl", 3, 0}}, "test.xmox.nl",
        "google.com", "<000000000000f47cc505e8c8905c@google.com>",
        "google.com!test.xmox.nl!1663200000!1663286399!001.json.gz", "application/tlsrpt+gzip", true}},
      // Microsoft 2023: dates without zone, filename only in Content-Disposition.
      {"mox-2.eml",
       {"Microsoft Corporation", "133198585438131172+test.xmox.nl", "2023-01-10", {{"sts", "test.xmox.nl", 2, 0}},
        "test.xmox.nl", "microsoft.com", "<133198585438131172+test.xmox.nl@test.xmox.nl>",
        "microsoft.com!test.xmox.nl!1673308800!1673395199!133198585438131172.json.gz", "application/tlsrpt+gzip", true}},
      // A gateway banner injected into the (now quoted-printable) text part.
      {"parsedmarc-1.eml",
       {"Google Inc.", "2024-09-03T00:00:00Z_cardinalhealth.ca", "2024-09-03",
        {{"no-policy-found", "cardinalhealth.ca", 48, 0}}, "cardinalhealth.ca", "google.com",
        "<66d83c20.050a0220.a0566.1e8dtls@google.com>",
        "google.com!cardinalhealth.ca!1725321600!1725407999!001.json.gz", "application/tlsrpt+gzip", true}},
      {"tlsrpt-digest-1.eml",
       {"Google Inc.", "2026-05-11T00:00:00Z_example.com", "2026-05-11", {{"sts", "example.com", 1, 0}}, "example.com",
        "google.com", "<6a034af0.00000000.3a4de4.4c68tls@google.com>",
        "google.com!example.com!1778457600!1778543999!001.json.gz", "application/tlsrpt+gzip", true}},
      {"tlsrpt-digest-2.eml",
       {"Google Inc.", "2026-05-12T00:00:00Z_example.com", "2026-05-12", {{"sts", "example.com", 4, 0}}, "example.com",
        "google.com", "<6a049c05.00000000.3554e0.3524tls@google.com>",
        "google.com!example.com!1778544000!1778630399!001.json.gz", "application/tlsrpt+gzip", true}},
      // Microsoft 2026: text/html first part.
      {"tlsrpt-digest-3.eml",
       {"Microsoft Corporation", "134232617934286362+example.com", "2026-05-13", {{"sts", "example.com", 2, 0}},
        "example.com", "microsoft.com", "<134232617934286362+example.com@example.com>",
        "microsoft.com!example.com!1778630400!1778716799!134232617934286362.json.gz", "application/tlsrpt+gzip", true}},
      // Google envelope around a hand-made payload whose dates match neither filename nor Subject.
      {"tlsrpt-digest-4.eml",
       {"Google Inc.", "2026-02-08T00:00:00Z_example.com", "2026-02-08", {{"sts", "example.com", 4523, 2}}, "example.com",
        "google.com", "<6a049c05.00000000.3554e0.3524tls@google.com>",
        "google.com!example.com!1778544000!1778630399!001.json.gz", "application/tlsrpt+gzip", true}},
      // sys4 tlsrpt-reporter: unsigned; its no-policy-found entry has no policy-domain.
      {"tlsrpt-reporter-3.eml",
       {"Sender Example Org", "2026-11-28T00:00:00Z_idx1_mail-only.test", "2026-11-28",
        {{"sts", "mail-only.test", 4, 0}, {"no-policy-found", "", 0, 2}}, "mail-only.test", "sender.test",
        "<179596879780.23604.3400340315099386671@sender.test>",
        "sender.test!mail-only.test!1795824000!1795910399!1.json.gz", "application/tlsrpt+gzip", false}},
      {"tlsrpt-rs-1.eml",
       {"Google Inc.", "2024-09-15T00:00:00Z_krvtz.net", "2024-09-15", {{"sts", "krvtz.net", 1, 0}}, "krvtz.net",
        "google.com", "<66e813b9.050a0220.395bc2.4615tls@google.com>",
        "google.com!krvtz.net!1726358400!1726444799!001.json.gz", "application/tlsrpt+gzip", true}},
      {"tlsrpt-rs-2.eml",
       {"Google Inc.", "2024-09-18T00:00:00Z_krvtz.net", "2024-09-18", {{"sts", "krvtz.net", 2, 0}}, "krvtz.net",
        "google.com", "<66ec0644.050a0220.86df2.1302tls@google.com>",
        "google.com!krvtz.net!1726617600!1726703999!001.json.gz", "application/tlsrpt+gzip", true}},
      // Mail.ru: folded Subject, quoted report-type first, no closing boundary.
      {"tlsrpt-rs-3.eml",
       {"Mail.ru", "c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru", "2023-01-25", {{"sts", "krvtz.net", 0, 1}},
        "krvtz.net", "mail.ru", "<c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru>",
        "mail.ru!krvtz.net!1674604800!1674691200!001.json.gz", "application/tlsrpt+gzip", true}},
      // Microsoft 2024: sts and tlsa for the same domain.
      {"tlsrpt-rs-5.eml",
       {"Microsoft Corporation", "133708152202987951+krvtz.net", "2024-09-13",
        {{"sts", "krvtz.net", 2, 0}, {"tlsa", "krvtz.net", 2, 0}}, "krvtz.net", "microsoft.com",
        "<133708152202987951+krvtz.net@krvtz.net>",
        "microsoft.com!krvtz.net!1726185600!1726271999!133708152202987951.json.gz", "application/tlsrpt+gzip", true}},
      {"unattributed-1.eml",
       {"Google Inc.", "2023-02-02T00:00:00Z_blogreen.org", "2023-02-02", {{"sts", "blogreen.org", 1, 0}},
        "blogreen.org", "google.com", "<00000000000066453b05f3c8de51@google.com>",
        "google.com!blogreen.org!1675296000!1675382399!001.json.gz", "application/tlsrpt+gzip", true}},
  };
  return t;
}

std::set<std::string> corpus_mails() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::corpus_dir()))
    if (e.path().extension() == ".eml") out.insert(e.path().filename().string());
  return out;
}

TEST(MailCorpus, EveryCorpusMailHasAnExpectation) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  auto files = corpus_mails();
  ASSERT_FALSE(files.empty()) << "no .eml in " << test::corpus_dir();
  for (const auto& f : files) EXPECT_TRUE(table().count(f)) << f << " has no row in the expected-outcome table";
  for (const auto& [f, _] : table()) EXPECT_TRUE(files.count(f)) << f << " is in the table but not in the corpus";
}

TEST(MailCorpus, EveryMailParsesToItsExpectedReport) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  Ingestor ingestor;
  for (const auto& f : corpus_mails()) {
    auto it = table().find(f);
    if (it == table().end()) continue;  // reported by the test above
    const Expected& want = it->second;
    SCOPED_TRACE(f);
    auto got = ingestor.ingest(test::read_file(test::corpus_dir() / f));
    ASSERT_TRUE(got) << got.error().text();
    expect_report(got->parsed.report, want);
    ASSERT_TRUE(got->mail);
    const MailProvenance& m = *got->mail;
    EXPECT_EQ(m.tls_report_domain, want.report_domain);
    EXPECT_EQ(m.tls_report_submitter, want.report_submitter);
    EXPECT_EQ(m.message_id, want.message_id);
    EXPECT_EQ(m.filename, want.filename);
    EXPECT_EQ(m.content_type, want.content_type);
    EXPECT_EQ(m.dkim_signature_present, want.dkim_signed);
    EXPECT_FALSE(m.subject.empty());
    EXPECT_FALSE(m.from.empty());
  }
}

TEST(MailCorpus, MailAndJsonCopiesOfOneReportAreTheSameContent) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  // The interop corpus's SOURCES.md: mail-tls-rpt-2.json is the payload of
  // mail-tls-rpt-1.eml, and
  // tlsrpt-rs-4.json is tlsrpt-rs-3.eml's report pretty-printed.
  Ingestor ingestor;
  for (auto [eml, json] : {std::pair{"mail-tls-rpt-1.eml", "mail-tls-rpt-2.json"}, std::pair{"tlsrpt-rs-3.eml", "tlsrpt-rs-4.json"}}) {
    auto a = ingestor.ingest(test::read_file(test::corpus_dir() / eml));
    ASSERT_TRUE(a) << eml << ": " << a.error().text();
    std::string sha = a->content_sha256;
    auto b = ingestor.ingest(test::read_file(test::corpus_dir() / json));
    ASSERT_TRUE(b) << json << ": " << b.error().text();
    EXPECT_EQ(sha, b->content_sha256) << eml << " vs " << json;
  }
}

// ---- tests/corpus/*.eml: the regular suite ----

struct QuirkMail {
  Expected want;
  bool gzip;                    // the report part held gzip (else JSON)
  std::set<std::string> notes;  // every note code, report and mail
};

const std::map<std::string, QuirkMail>& quirk_table() {
  static const std::map<std::string, QuirkMail> t = {
      // Google: report-type after the boundary, base64 gzip whose last line runs into
      // the closing delimiter, name= folded after a trailing space; DKIM-signed.
      {"google-multipart-gzip-base64.eml",
       {{"Google Inc.", "2024-09-15T00:00:00Z_example.org", "2024-09-15", {{"sts", "example.org", 7, 1}}, "example.org",
         "google.com", "<0000000000004a1b2c0622f0aa01@google.com>",
         "google.com!example.org!1726358400!1726444799!001.json.gz", "application/tlsrpt+gzip", true},
        true,
        {}}},
      // Headers trimmed by a publisher: no TLS-Report-*, no DKIM-Signature.
      {"google-headers-trimmed.eml",
       {{"Google Inc.", "2022-01-19T00:00:00Z_example.com", "2022-01-19", {{"sts", "example.com", 3, 0}}, "", "",
         "<000000000000b7c1e805d5f3a6c2@google.com>", "google.com!example.com!1642550400!1642636799!001.json.gz",
         "application/tlsrpt+gzip", false},
        true,
        {"policy-string-trailing-cr", "mail-tls-report-header-missing"}}},
      // A recipient gateway's banner in the text part, now quoted-printable.
      {"google-gateway-banner-quoted-printable.eml",
       {{"Google Inc.", "2024-09-03T00:00:00Z_health.example", "2024-09-03",
         {{"no-policy-found", "health.example", 48, 0}}, "health.example", "google.com",
         "<66d7a1f0.050a0220.1c2d3e.0a1btls@google.com>",
         "google.com!health.example!1725321600!1725407999!001.json.gz", "application/tlsrpt+gzip", true},
        true,
        {}}},
      // Bare application/tlsrpt, uncompressed JSON, no transfer encoding.
      {"mail-auth-bare-tlsrpt-plain-json.eml",
       {{"Google Inc.", "2020-01-01T00:00:00Z_example.com", "2020-01-01", {{"sts", "example.com", 23, 0}}, "example.com",
         "google.com", "<tlsrpt-20200101-example.com@mail.sender.example.com>",
         "google.com!example.com!1577836800!1578441599.json", "application/tlsrpt", false},
        false,
        {"date-range-not-one-day"}}},
      // Mail.ru: folded Subject, quoted report-type first, no closing boundary; the
      // submitter header says mail.ru, contact-info corp.mail.ru.
      {"mailru-no-closing-boundary.eml",
       {{"Mail.ru", "b28254de-0000-0000-0000-4c3b92da8b25@mail.ru", "2024-02-01", {{"sts", "example.com", 0, 1}},
         "example.com", "mail.ru", "<b28254de-0000-0000-0000-4c3b92da8b25@mail.ru>",
         "mail.ru!example.com!1706745600!1706832000!001.json.gz", "application/tlsrpt+gzip", true},
        true,
        {"failure-sum-mismatch", "mail-submitter-mismatch"}}},
      // Microsoft 2023: no name= on the report part, the file name only in
      // Content-Disposition; dates without zone.
      {"microsoft-filename-only-in-disposition.eml",
       {{"Microsoft Corporation", "133177536000000000+example.com", "2023-01-10", {{"sts", "example.com", 7, 0}},
         "example.com", "microsoft.com", "<133177536000000000+example.com@example.com>",
         "microsoft.com!example.com!1673308800!1673395199!133177536000000000.json.gz", "application/tlsrpt+gzip", true},
        true,
        {"datetime-without-zone"}}},
      // Microsoft 2024+: text/html first part; tlsa and sts for one domain.
      {"microsoft-html-first-part.eml",
       {{"Microsoft Corporation", "133703712000000000+example.net", "2024-09-10",
         {{"tlsa", "mx.example.net", 12, 0}, {"sts", "example.net", 12, 0}}, "example.net", "microsoft.com",
         "<133703712000000000+example.net@example.net>",
         "microsoft.com!example.net!1725926400!1726012799!133703712000000000.json.gz", "application/tlsrpt+gzip", true},
        true,
        {"tlsa-set-packed-in-string"}}},
      // The RFC 8460 example mail's shape: no Message-ID, LF line endings, headers that
      // name other domains than the report (both noted, the body wins).
      {"rfc8460-example-mail.eml",
       {{"Company-X", "9a3c1f7e-0d52-4b8e-a6f1-3e2b7c9d0a14", "2016-04-01", {{"sts", "company-y.example", 5326, 303}},
         "example.net", "mail.sender.example.com", "", "mail.sender.example!example.com!1459468800!1459555199.json.gz",
         "application/tlsrpt+gzip", false},
        true,
        {"mail-report-domain-mismatch", "mail-submitter-mismatch"}}},
      // application/tlsrpt+json in base64.
      {"rfc8460-json-attachment-base64.eml",
       {{"Mailer Example", "20250304.example.com@mailer.example", "2025-03-04", {{"sts", "example.com", 9, 1}},
         "example.com", "mailer.example", "<20250304.example.com@mailer.example>",
         "mailer.example!example.com!1741046400!1741132799!1.json", "application/tlsrpt+json", false},
        false,
        {}}},
      // sys4 tlsrpt-reporter: unsigned, no Date; its only policy has no policy-domain,
      // so the TLS-Report-Domain header names a domain the body does not.
      {"tlsrpt-reporter-unsigned-mail.eml",
       {{"Sender Example Org", "2026-11-28T00:00:00Z_idx1_example.test", "2026-11-28",
         {{"no-policy-found", "", 0, 1}}, "example.test", "sender.example",
         "<179596880112.40211.1846603395122377781@sender.example>",
         "sender.example!example.test!1795824000!1795910399!1.json.gz", "application/tlsrpt+gzip", false},
        true,
        {"policy-domain-missing", "mail-report-domain-mismatch"}}},
  };
  return t;
}

std::set<std::string> quirk_mails() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::quirk_dir()))
    if (e.path().extension() == ".eml") out.insert(e.path().filename().string());
  return out;
}

TEST(QuirkMails, EveryMailHasARow) {
  auto files = quirk_mails();
  for (const auto& f : files) EXPECT_TRUE(quirk_table().count(f)) << f << " has no row in the expected-outcome table";
  for (const auto& [f, _] : quirk_table()) EXPECT_TRUE(files.count(f)) << f << " is in the table but not in tests/corpus";
}

TEST(QuirkMails, EveryMailParsesToItsExpectedReport) {
  Ingestor ingestor;
  for (const auto& [f, row] : quirk_table()) {
    const Expected& want = row.want;
    SCOPED_TRACE(f);
    auto got = ingestor.ingest(test::read_file(test::quirk_dir() / f));
    ASSERT_TRUE(got) << got.error().text();
    expect_report(got->parsed.report, want);
    EXPECT_EQ(got->was_gzip, row.gzip);
    std::set<std::string> notes;
    for (const auto& n : got->parsed.notes) notes.insert(n.code);
    EXPECT_EQ(notes, row.notes);
    ASSERT_TRUE(got->mail);
    const MailProvenance& m = *got->mail;
    EXPECT_EQ(m.tls_report_domain, want.report_domain);
    EXPECT_EQ(m.tls_report_submitter, want.report_submitter);
    EXPECT_EQ(m.message_id, want.message_id);
    EXPECT_EQ(m.filename, want.filename);
    EXPECT_EQ(m.content_type, want.content_type);
    EXPECT_EQ(m.dkim_signature_present, want.dkim_signed);
    EXPECT_EQ(m.dkim_signatures.size(), want.dkim_signed ? 1u : 0u);
    EXPECT_FALSE(m.subject.empty());
    EXPECT_FALSE(m.from.empty());
  }
}

TEST(QuirkMails, MailAndJsonCopiesOfOneReportAreTheSameContent) {
  // Each mail below carries that JSON file of tests/corpus as its report (gzipped,
  // or pretty-printed with its members reordered): one report, whichever way it came.
  const std::pair<const char*, const char*> copies[] = {
      {"google-headers-trimmed.eml", "google-policy-string-trailing-cr.json"},
      {"mail-auth-bare-tlsrpt-plain-json.eml", "mail-auth-seven-day-range.json"},
      {"mailru-no-closing-boundary.eml", "mailru-failure-sum-mismatch.json"},
      {"microsoft-filename-only-in-disposition.eml", "microsoft-datetime-without-zone.json"},
      {"microsoft-html-first-part.eml", "microsoft-tlsa-packed-in-string.json"},
      {"tlsrpt-reporter-unsigned-mail.eml", "tlsrpt-reporter-policy-domain-missing.json"},
  };
  Ingestor ingestor;
  for (auto [eml, json] : copies) {
    auto a = ingestor.ingest(test::read_file(test::quirk_dir() / eml));
    ASSERT_TRUE(a) << eml << ": " << a.error().text();
    std::string sha = a->content_sha256;
    auto b = ingestor.ingest(test::read_file(test::quirk_dir() / json));
    ASSERT_TRUE(b) << json << ": " << b.error().text();
    EXPECT_EQ(sha, b->content_sha256) << eml << " vs " << json;
  }
}

TEST(QuirkMails, ReceivingMtaVerdictIsReadFromItsOwnHeaderOnly) {
  // Two mails carry the Authentication-Results their receiving MTA added (one header
  // with continuation lines indented by spaces, one by tabs, as MTAs write them): the
  // DKIM verdict is taken from it when that MTA is trusted, never otherwise.
  const struct {
    const char* file;
    const char* authserv_id;
    const char* domain;
  } cases[] = {
      {"google-multipart-gzip-base64.eml", "mx.example.org", "google.com"},
      {"microsoft-filename-only-in-disposition.eml", "mail.example.com", "microsoft.com"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    auto mail = extract_mail_report(test::read_file(test::quirk_dir() / c.file), Limits{});
    ASSERT_TRUE(mail) << mail.error().text();
    const auto& p = mail->provenance;
    ASSERT_EQ(p.authentication_results.size(), 1u);
    ASSERT_EQ(p.dkim_signatures.size(), 1u);
    auto r = dkim_from_auth_results(p.authentication_results, {c.authserv_id}, p.dkim_signatures);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, DkimResult::Status::pass) << r->reason;
    EXPECT_EQ(r->domain, c.domain);
    EXPECT_FALSE(dkim_from_auth_results(p.authentication_results, {"someone.else.example"}, p.dkim_signatures));
  }
}

}  // namespace
}  // namespace tlsrpt
