// Two corpora. This repository's own files (tests/corpus: one small report or mail
// per quirk) are part of the regular suite: each has a reviewed golden file under
// tests/corpus/golden/ pinning its canonical form and notes, and the copies among them
// show which forms of one report are the same content. The external interop corpus
// (TLSRPT_CORPUS_DIR, not part of this repository: public reports) is an extra run:
// every report in it has an expected outcome here, written by hand from the files
// (cross-checked with Python's json module, which shares no code with ours): parsed
// with these policies and counts, or rejected for this reason, plus a golden file;
// where that corpus is absent those tests skip and say so. Regenerate golden files
// with TLSRPT_UPDATE_GOLDEN=1 and review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <expected>
#include <fstream>
#include <map>
#include <set>

#include "parser/canonical_json.hpp"
#include "parser/ingest.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

struct PolicyExpect {
  std::string type, domain;
  Count successful, failed;
  std::size_t failure_details;
};

struct Expect {
  std::string org, report_id;
  std::vector<PolicyExpect> policies;
  std::set<std::string> notes;  // note codes that must be present
  // Rejections:
  std::optional<RejectReason> reason = {};
  std::string message_part = {};
};

const std::map<std::string, Expect>& expectations() {
  static const std::map<std::string, Expect> table = {
      {"dmarc-report-viewer-1.json", {"Google Inc.", "2025-05-22T00:00:00Z_foo-bar.io", {{"sts", "foo-bar.io", 1, 0, 0}}, {}}},
      {"dmarc-report-viewer-2.json",
       {"Microsoft Corporation", "133925885310113267+random.net",
        {{"sts", "random.net", 2, 0, 0}, {"tlsa", "random.net", 2, 0, 0}}, {"tlsa-set-packed-in-string"}}},
      {"dmarc-report-viewer-3.json",
       {"Google Inc.", "2025-03-27T00:00:00Z_foo-bar.io", {{"no-policy-found", "foo-bar.io", 1, 0, 0}}, {}}},
      {"dmarc-report-viewer-4.json",
       {"server.com", "123_456", {{"sts", "server.com", 1, 0, 0}}, {"contact-info-null", "mx-host-mx-prefix"}}},
      {"dmarc-report-viewer-5.json", {"Microsoft Corporation", "1234567890+", {{"sts", "xxxxxxxx.xx", 0, 3, 1}}, {}}},
      {"dmarc-report-viewer-6.json",
       {"Google Inc.", "2025-04-12T00:00:00Z_domain.de", {{"no-policy-found", "domain.de", 2, 0, 0}}, {}}},
      {"dmarc-report-viewer-7.json",
       {"refluxstop.de", "1768089600_5665667737528564296", {{"sts", "hin.ch", 1, 0, 0}}, {"contact-info-null"}}},
      {"dmarc-report-viewer-8.json",
       {"Microsoft Corporation", "133944884956529435+", {{"sts", "xxxxxxxx.xx", 0, 3, 1}}, {}}},
      {"mail-auth-1.json",
       {"Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", {{"sts", "company-y.example", 5326, 303, 3}},
        {"ip-address-normalised"}}},
      {"mail-auth-2.json",
       {"Google Inc.", "2020-01-01T00:00:00Z_example.com", {{"sts", "example.com", 23, 1, 1}}, {"date-range-not-one-day"}}},
      {"mail-auth-3.json",
       {"Google Inc.", "2019-04-14T00:00:00Z_example.org",
        {{"no-policy-found", "", 1, 0, 0}, {"invalid-policy-type", "", 1, 0, 0}},
        {"policy-domain-missing", "summary-count-missing", "unknown-policy-type"}}},
      {"mail-tls-rpt-2.json",
       {"Google Inc.", "2020-03-02T00:00:00Z_fastmaildmarc.com", {{"no-policy-found", "fastmaildmarc.com", 343, 0, 0}}, {}}},
      {"mox-3.json",
       {"remote.example", "20240225.mail.mox.example@remote.example",
        {{"tlsa", "test2.xmox.nl", 1, 0, 0}, {"tlsa", "test.xmox.nl", 1, 0, 0}}, {}}},
      {"mox-4.json",
       {"remote.example", "20240225.test.xmox.nl@remote.example",
        {{"tlsa", "mail.mox.example", 1, 0, 0}, {"sts", "unknown.xmox.nl", 1, 0, 0}, {"sts", "test.xmox.nl", 1, 0, 0}}, {}}},
      {"mox-5.json",
       {"remote.example", "20240225.test.xmox.nl@remote.example",
        {{"tlsa", "unknown.mox.example", 1, 0, 0}, {"sts", "unknown.xmox.nl", 1, 0, 0}}, {}}},
      {"mox-6.json", {"Example.org", "1", {{"no-policy-found", "xmox.nl", 1, 0, 0}}, {}}},
      {"parsedmarc-2.json",
       {"Mail.ru", "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru", {{"sts", "example.com", 0, 1, 2}},
        {"failure-sum-mismatch"}}},
      {"parsedmarc-3.json", {"Example Inc.", "2024-01-09T00:00:00Z_example.com", {{"sts", "example.com", 0, 3, 2}}, {}}},
      {"parsedmarc-4.json",
       {"Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", {{"sts", "company-y.example", 5326, 303, 3}},
        {"mx-host-string", "ip-address-normalised"}}},
      {"parsedmarc-5.json",
       {"Reporter Example", "2024-06-01T00:00:00Z_example.com", {{"sts", "example.com", 0, 1, 1}}, {"empty-field"}}},
      {"parsedmarc-6.json",
       {"mx.egressif.io", "1730332800_11732957880687192466", {{"no-policy-found", "redacted.example.com", 1, 0, 0}},
        {"contact-info-null"}}},
      {"sebastka-tlsrpt-1.json", {"Google Inc.", "2026-08-27T00:00:00Z_karlsen.fr", {{"sts", "karlsen.fr", 2, 0, 0}}, {}}},
      {"sebastka-tlsrpt-2.json",
       {"Microsoft Corporation", "134316476496435051+karlsen.fr",
        {{"tlsa", "karlsen.fr", 4, 0, 0}, {"sts", "karlsen.fr", 4, 0, 0}}, {"tlsa-set-packed-in-string"}}},
      {"tls-rpt-monitor-1.json.gz",
       {"Microsoft Corporation", "133988091029006454+josh.scot", {{"sts", "josh.scot", 2, 0, 0}}, {}}},
      {"tls-rpt-monitor-2.json",
       {"Microsoft Corporation", "133988091029006454+josh.scot", {{"sts", "josh.scot", 2, 2, 1}},
        {"misspelled-member", "unknown-result-type", "invalid-ip-address", "failure-sum-mismatch"}}},
      {"tlsrpt-be-1.json",
       {"Example Inc.", "report-id-from-report.json", {{"no-policy-found", "xn--gpher-jua.test", 99, 102, 0}},
        {"failure-details-absent"}}},
      {"tlsrpt-reporter-1.json.gz",
       {"Sender Example Org", "2026-11-28T00:00:00Z_idx1_edge.test", {{"sts", "edge.test", 2, 3, 1}}, {}}},
      {"tlsrpt-reporter-2.json.gz",
       {"Sender Example Org", "2026-11-28T00:00:00Z_idx1_https-only.test",
        {{"tlsa", "https-only.test", 3, 1, 1}, {"sts", "https-only.test", 5, 2, 1}, {"no-policy-found", "", 0, 1, 1}},
        {"policy-domain-missing"}}},
      {"tlsrpt-rs-4.json",
       {"Mail.ru", "c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru", {{"sts", "krvtz.net", 0, 1, 1}}, {}}},
      {"tlsrpt-rs-6.json",
       {"Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", {{"sts", "company-y.example", 5326, 303, 3}},
        {"ip-address-normalised"}}},
      {"tlsrpt_processor-1.json",
       {"Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", {{"sts", "company-y.example", 5326, 303, 3}},
        {"mx-host-string", "misspelled-member", "ip-address-normalised"}}},
      {"unattributed-2.json",
       {"socketlabs.com", "13B8FEDF21D3DBD6997654968E563122",
        {{"sts", "test.mailflow.ovh", 12, 0, 0}, {"sts", "test.mailflow.ovh", 0, 2, 1}}, {"misspelled-member"}}},
      {"unattributed-3.json",
       {"Google Inc.", "2020-02-06T00:00:00Z_test.mailflow.ovh",
        {{"no-policy-found", "test.mailflow.ovh", 1, 0, 0},
         {"sts", "test.mailflow.ovh", 0, 3, 3},
         {"sts", "test.mailflow.ovh", 0, 10, 5}},
        {}}},
      // Edited by its publisher: start-datetime after end-datetime (the interop corpus's
      // SOURCES.md).
      {"unattributed-4.json",
       {"", "", {}, {}, RejectReason::invalid_value, "end-datetime 2020-04-13T00:00:00Z is before start-datetime"}},
  };
  return table;
}

bool update_golden() { return std::getenv("TLSRPT_UPDATE_GOLDEN") != nullptr; }

std::string golden_text(const Ingested& r) {
  std::string out = r.canonical_json + "\n";
  for (const auto& n : r.parsed.notes) out += "note " + n.code + " @" + n.where + " " + n.detail + "\n";
  return out;
}

TEST(Corpus, EveryFileHasAnExpectedOutcome) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  std::size_t seen = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::corpus_dir())) {
    const std::string name = e.path().filename().string();
    if (name == "SOURCES.md") continue;
    ++seen;
    // Mail files are the mail parser's (tests/unit/parser/mail_corpus_test.cpp).
    if (e.path().extension() == ".eml") continue;
    EXPECT_TRUE(expectations().count(name)) << name << " has no expected outcome";
  }
  EXPECT_GE(seen, 50u);
}

class CorpusFile : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusFile, MatchesItsExpectation) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  const std::string name = GetParam();
  const Expect& want = expectations().at(name);
  Ingestor ing;
  auto r = ing.ingest(test::read_file(test::corpus_dir() / name));
  if (want.reason) {
    ASSERT_FALSE(r) << name << " was accepted";
    EXPECT_EQ(r.error().reason, *want.reason) << r.error().text();
    EXPECT_NE(r.error().text().find(want.message_part), std::string::npos) << r.error().text();
    return;
  }
  ASSERT_TRUE(r) << name << ": " << r.error().text();
  const Report& rep = r->parsed.report;
  EXPECT_EQ(rep.organization_name, want.org);
  EXPECT_EQ(rep.report_id, want.report_id);
  ASSERT_EQ(rep.policies.size(), want.policies.size());
  for (std::size_t i = 0; i < want.policies.size(); ++i) {
    const auto& p = rep.policies[i];
    const auto& w = want.policies[i];
    EXPECT_EQ(p.policy.type.token(), w.type) << name << " policy " << i;
    EXPECT_EQ(p.policy.domain, w.domain) << name << " policy " << i;
    EXPECT_EQ(p.summary.successful, w.successful) << name << " policy " << i;
    EXPECT_EQ(p.summary.failed, w.failed) << name << " policy " << i;
    EXPECT_EQ(p.failures.size(), w.failure_details) << name << " policy " << i;
  }
  std::set<std::string> got;
  for (const auto& n : r->parsed.notes) got.insert(n.code);
  for (const auto& code : want.notes) EXPECT_TRUE(got.count(code)) << name << ": note " << code << " missing";
  // No note appears that the table does not expect (the table lists every code).
  for (const auto& code : got) EXPECT_TRUE(want.notes.count(code)) << name << ": unexpected note " << code;

  const auto golden = test::quirk_dir() / "golden" / (name + ".txt");
  if (update_golden()) {
    std::filesystem::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << golden_text(*r);
  } else {
    ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " missing; run with TLSRPT_UPDATE_GOLDEN=1 and review";
    EXPECT_EQ(golden_text(*r), test::read_file(golden)) << name << " differs from its golden file";
  }
}

std::vector<std::string> corpus_names() {
  std::vector<std::string> v;
  for (const auto& [name, _] : expectations()) v.push_back(name);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shared, CorpusFile, ::testing::ValuesIn(corpus_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

// Facts about the interop corpus that dedupe relies on: the same report in another
// form has the same identity; a publisher's edit does not.
TEST(Corpus, SameReportSameIdentity) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  Ingestor ing;
  auto id = [&](const std::string& name) {
    auto r = ing.ingest(test::read_file(test::corpus_dir() / name));
    EXPECT_TRUE(r) << name;
    return r ? r->content_sha256 : std::string();
  };
  // The RFC example with the draft-era "failure-error-code" (by an RFC author) is
  // parsedmarc's copy with "failure-reason-code": both repaired the App. B URI.
  EXPECT_EQ(id("parsedmarc-4.json"), id("tlsrpt_processor-1.json"));
  // Copies that kept App. B's broken additional-information differently are
  // different content (kept verbatim, never "repaired" by us).
  EXPECT_NE(id("mail-auth-1.json"), id("parsedmarc-4.json"));
  EXPECT_NE(id("mail-auth-1.json"), id("tlsrpt-rs-6.json"));
  // Edited copies differ from their originals.
  EXPECT_NE(id("tls-rpt-monitor-1.json.gz"), id("tls-rpt-monitor-2.json"));
}

// ---- tests/corpus: the regular suite's own files ----

bool is_report_or_mail(const std::string& name) {
  return name.ends_with(".json") || name.ends_with(".json.gz") || name.ends_with(".eml");
}

// Accepted: the canonical form and the notes; refused: the reason.
std::string golden_text_of(const std::expected<Ingested, Error>& r) {
  return r ? golden_text(*r) : "rejected: " + r.error().text() + "\n";
}

TEST(QuirkCorpus, EveryReportAndMailMatchesItsGoldenFile) {
  std::size_t seen = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::quirk_dir())) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !is_report_or_mail(name)) continue;
    ++seen;
    SCOPED_TRACE(name);
    Ingestor ing;
    auto r = ing.ingest(test::read_file(e.path()));
    const auto golden = test::quirk_dir() / "golden" / (name + ".txt");
    if (update_golden()) {
      std::ofstream(golden, std::ios::binary) << golden_text_of(r);
      continue;
    }
    ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " missing; run with TLSRPT_UPDATE_GOLDEN=1 and review";
    EXPECT_EQ(golden_text_of(r), test::read_file(golden)) << name << " differs from its golden file";
  }
  EXPECT_GE(seen, 30u);
}

// What dedupe relies on, shown on this repository's files: the same report in another
// form (pretty-printed, members reordered, the draft-era member name, gzipped, mailed)
// is the same content; an edited copy under the same organization and report-id is not.
TEST(QuirkCorpus, SameReportSameIdentity) {
  Ingestor ing;
  auto load = [&](const std::string& name) {
    auto r = ing.ingest(test::read_file(test::quirk_dir() / name));
    EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().text());
    return r ? std::move(*r) : Ingested{};
  };
  EXPECT_EQ(load("rfc8460-draft-failure-error-code.json").content_sha256,
            load("rfc8460-failure-reason-code.json").content_sha256);

  auto original = load("microsoft-gzip-file.json.gz");
  auto edited = load("tls-rpt-monitor-edited-copy.json");
  EXPECT_TRUE(original.was_gzip);
  EXPECT_EQ(original.parsed.report.organization_name, edited.parsed.report.organization_name);
  EXPECT_EQ(original.parsed.report.report_id, edited.parsed.report.report_id);
  EXPECT_NE(original.content_sha256, edited.content_sha256);
}

}  // namespace
}  // namespace tlsrpt
