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

}  // namespace
}  // namespace tlsrpt
