// storage/stats.cpp: per-domain totals and failure breakdowns from the views.
#include "storage/stats.hpp"

#include <gtest/gtest.h>

#include "storage/store.hpp"
#include "test_support.hpp"

namespace tlsrpt::storage {
namespace {

class StatsTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::unique_ptr<Store> st;
  void SetUp() override {
    auto s = Store::open((dir.path() / "s.sqlite").string());
    ASSERT_TRUE(s);
    st = std::move(*s);
    add(R"({"organization-name":"G","date-range":{"start-datetime":"2024-03-01T00:00:00Z","end-datetime":"2024-03-01T23:59:59Z"},"report-id":"1","policies":[
      {"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":90,"total-failure-session-count":10},
       "failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.a.example","failed-session-count":7},
                          {"result-type":"starttls-not-supported","receiving-mx-hostname":"mx2.a.example","failed-session-count":3}]},
      {"policy":{"policy-type":"tlsa","policy-domain":"mx1.a.example"},"summary":{"total-successful-session-count":5,"total-failure-session-count":0}}]})");
    add(R"({"organization-name":"M","date-range":{"start-datetime":"2024-03-02T00:00:00Z","end-datetime":"2024-03-03T00:00:00Z"},"report-id":"2","policies":[
      {"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":10,"total-failure-session-count":2},
       "failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.a.example","failed-session-count":2}]},
      {"policy":{"policy-type":"no-policy-found","policy-domain":"b.example"},"summary":{"total-successful-session-count":0,"total-failure-session-count":0}}]})");
  }
  void add(const std::string& json) {
    Ingestor ing;
    auto r = ing.ingest(json);
    ASSERT_TRUE(r) << r.error().text();
    Provenance prov;
    PendingReport p{&*r, &prov, json};
    ASSERT_TRUE(st->store_batch({&p, 1}));
  }
};

TEST_F(StatsTest, TotalsPerDomainAndType) {
  auto rows = query_stats(st->db(), {});
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  const auto& a = (*rows)[0];
  EXPECT_EQ(a.policy_domain, "a.example");
  EXPECT_EQ(a.policy_type, "sts");
  EXPECT_EQ(a.successful_sessions, 100u);
  EXPECT_EQ(a.failed_sessions, 12u);
  EXPECT_EQ(a.reports, 2u);
  EXPECT_EQ(a.first_day, "2024-03-01");
  EXPECT_EQ(a.last_day, "2024-03-02");
  ASSERT_EQ(a.failures.size(), 2u);
  EXPECT_EQ(a.failures[0].result_type, "certificate-expired");
  EXPECT_EQ(a.failures[0].receiving_mx_hostname, "mx1.a.example");
  EXPECT_EQ(a.failures[0].failed_sessions, 9u);
  EXPECT_EQ(a.failures[1].result_type, "starttls-not-supported");
  EXPECT_NEAR(*a.success_rate(), 100.0 / 112.0, 1e-12);
  // Sorted by domain, then type.
  EXPECT_EQ((*rows)[1].policy_domain, "b.example");
  EXPECT_FALSE((*rows)[1].success_rate());  // no sessions at all
  EXPECT_EQ((*rows)[2].policy_domain, "mx1.a.example");
  EXPECT_EQ((*rows)[2].policy_type, "tlsa");
}

TEST_F(StatsTest, Filters) {
  StatsFilter f;
  f.domain = "a.example";
  f.since = "2024-03-02";
  auto rows = query_stats(st->db(), f);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].successful_sessions, 10u);
  EXPECT_EQ((*rows)[0].failures.size(), 1u);
  f = {};
  f.until = "2024-03-01";
  rows = query_stats(st->db(), f);
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 2u);
  f = {};
  f.domain = "nobody.example";
  rows = query_stats(st->db(), f);
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
}

}  // namespace
}  // namespace tlsrpt::storage
