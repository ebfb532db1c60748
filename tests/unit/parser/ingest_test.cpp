// parser/ingest.cpp: format by content, gzip then JSON, canonical identity.
#include "parser/ingest.hpp"

#include <gtest/gtest.h>

#include "parser/notes.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

const std::string kReport =
    R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"r1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},"summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]})";

TEST(Ingest, FormatByContentNotName) {
  EXPECT_EQ(detect_format(test::gzip("{}")), Format::gzip);
  EXPECT_EQ(detect_format("  \n{\"a\":1}"), Format::json);
  EXPECT_EQ(detect_format("\xEF\xBB\xBF{}"), Format::json);
  EXPECT_EQ(detect_format("[1]"), Format::json);
  EXPECT_EQ(detect_format("hello"), Format::unknown);
  EXPECT_EQ(detect_format(""), Format::unknown);
}

TEST(Ingest, GzipAndPlainJsonAreTheSameReport) {
  Ingestor ing;
  auto plain = ing.ingest(kReport);
  ASSERT_TRUE(plain) << plain.error().text();
  EXPECT_FALSE(plain->was_gzip);
  auto gz = ing.ingest(test::gzip(kReport));
  ASSERT_TRUE(gz) << gz.error().text();
  EXPECT_TRUE(gz->was_gzip);
  EXPECT_EQ(plain->content_sha256, gz->content_sha256);
  EXPECT_EQ(plain->canonical_json, gz->canonical_json);
  EXPECT_EQ(plain->content_sha256.size(), 64u);
}

TEST(Ingest, PrettyPrintingDoesNotChangeTheIdentity) {
  std::string pretty = kReport;
  for (std::size_t i = 0; (i = pretty.find(",\"", i)) != std::string::npos; i += 4) pretty.replace(i, 1, ",\n  ");
  Ingestor ing;
  auto a = ing.ingest(kReport), b = ing.ingest(pretty);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->content_sha256, b->content_sha256);
}

TEST(Ingest, DifferentContentDifferentIdentity) {
  std::string other = kReport;
  other.replace(other.find(":3,"), 3, ":4,");
  Ingestor ing;
  auto a = ing.ingest(kReport), b = ing.ingest(other);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->content_sha256, b->content_sha256);
}

TEST(Ingest, ConcatenatedGzipMembersAreNoted) {
  Ingestor ing;
  auto r = ing.ingest(test::gzip(kReport.substr(0, 50)) + test::gzip(kReport.substr(50)));
  ASSERT_TRUE(r) << r.error().text();
  ASSERT_FALSE(r->parsed.notes.empty());
  EXPECT_EQ(r->parsed.notes.back().code, note::kGzipMultiMember);
}

TEST(Ingest, NestedGzipIsRefused) {
  Ingestor ing;
  auto r = ing.ingest(test::gzip(test::gzip(kReport)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::nested_gzip);
}

TEST(Ingest, GzipOfSomethingElse) {
  Ingestor ing;
  auto r = ing.ingest(test::gzip("hello world"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_json);
  EXPECT_NE(r.error().message.find("gzip payload is not JSON"), std::string::npos);
}

TEST(Ingest, NeitherGzipNorJson) {
  Ingestor ing;
  auto r = ing.ingest("\x89PNG\r\n\x1a\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_json);
  r = ing.ingest("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::empty);
}

TEST(Ingest, SubmissionSizeCap) {
  Limits limits;
  limits.max_submission_bytes = 100;
  Ingestor ing(limits);
  auto r = ing.ingest(kReport);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
}

TEST(Ingest, GzipBombIsRefusedQuickly) {
  Ingestor ing;
  auto r = ing.ingest(test::gzip(std::string(200 * kMiB, ' ') + kReport, 9));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().reason == RejectReason::gzip_ratio || r.error().reason == RejectReason::too_large)
      << r.error().text();
}

// The canonical JSON is the dedupe identity: read back, it must give the same
// report (found by fuzz_ingest: packed TLSA items holding ';', nested packing, and
// repeated "mx:" prefixes or trailing dots were normalised one step per reading).
TEST(Ingest, CanonicalFormReadsBackUnchanged) {
  auto with_policy = [](const std::string& policy) {
    return R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
           R"("end-datetime":"2024-01-01T23:59:59Z"},"report-id":"r1","policies":[{"policy":)" +
           policy + R"(,"summary":{"total-successful-session-count":3,"total-failure-session-count":0},)"
           R"("failure-details":[{"result-type":"validation-failure","receiving-mx-hostname":"MX.Example.COM..",)"
           R"("failed-session-count":0}]}]})";
  };
  struct Case {
    std::string policy;
    std::vector<std::string> strings;  // after the first reading, checked by hand
    std::vector<std::string> mx;
  };
  const std::vector<Case> cases = {
      {R"({"policy-type":"tlsa","policy-domain":"example.com","policy-string":["[\"3 1 1 AA;3 1 1 BB\",\"3 1 1 CC\"]"]})",
       {"3 1 1 AA", "3 1 1 BB", "3 1 1 CC"}, {}},
      {R"({"policy-type":"tlsa","policy-domain":"example.com","policy-string":["[\"[\\\"3 1 1 AA\\\"]\"]"]})",
       {"3 1 1 AA"}, {}},
      {R"({"policy-type":"tlsa","policy-domain":"example.com","policy-string":["[\"3 1 1 AA\"];3 1 1 BB"]})",
       {"3 1 1 AA", "3 1 1 BB"}, {}},
      {R"({"policy-type":"sts","policy-domain":"example.com","policy-string":["version: STSv1"],)"
       R"("mx-host":["mx: MX: mx1.example.com..","*.Example.com."]})",
       {"version: STSv1"}, {"mx1.example.com", "*.example.com"}},
  };
  Ingestor first, second;
  for (const auto& c : cases) {
    auto a = first.ingest(with_policy(c.policy));
    ASSERT_TRUE(a) << c.policy << ": " << a.error().text();
    const Policy& pol = a->parsed.report.policies.at(0).policy;
    EXPECT_EQ(pol.strings, c.strings) << c.policy;
    EXPECT_EQ(pol.mx_hosts, c.mx) << c.policy;
    EXPECT_EQ(a->parsed.report.policies.at(0).failures.at(0).receiving_mx_hostname, "mx.example.com");
    auto b = second.ingest(a->canonical_json);
    ASSERT_TRUE(b) << a->canonical_json << ": " << b.error().text();
    EXPECT_EQ(b->parsed.report, a->parsed.report) << a->canonical_json;
    EXPECT_EQ(b->content_sha256, a->content_sha256);
  }
}

// Splitting one string into entries may not exceed the entry limit the array form
// has to meet (or the canonical form would be refused when read back).
TEST(Ingest, SplitPolicyStringsMeetTheEntryLimit) {
  Limits l;
  l.max_policy_strings = 3;
  Ingestor ing(l);
  for (std::string strings : {std::string(R"("3 1 1 A;3 1 1 B;3 1 1 C;3 1 1 D")"),
                              std::string(R"(["[\"3 1 1 A\",\"3 1 1 B\"]","3 1 1 C;3 1 1 D"])")}) {
    std::string doc = R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
                      R"("end-datetime":"2024-01-01T23:59:59Z"},"report-id":"r1","policies":[{"policy":)"
                      R"({"policy-type":"tlsa","policy-domain":"example.com","policy-string":)" +
                      strings + R"(},"summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]})";
    auto r = ing.ingest(doc);
    ASSERT_FALSE(r) << strings;
    EXPECT_EQ(r.error().reason, RejectReason::too_many_items) << r.error().text();
    EXPECT_EQ(r.error().where, "policies[0].policy.policy-string");
  }
  std::string sts = R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
                    R"("end-datetime":"2024-01-01T23:59:59Z"},"report-id":"r1","policies":[{"policy":)"
                    R"({"policy-type":"sts","policy-domain":"example.com","policy-string":"a\nb\nc\nd"},)"
                    R"("summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]})";
  auto r = ing.ingest(sts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items) << r.error().text();
}

}  // namespace
}  // namespace tlsrpt
