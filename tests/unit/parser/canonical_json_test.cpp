// parser/canonical_json.cpp: schema order, omitted absent members, stable hashing.
#include "parser/canonical_json.hpp"

#include <gtest/gtest.h>

namespace tlsrpt {
namespace {

using namespace std::chrono;

Report sample() {
  Report r;
  r.organization_name = "Org \"X\"";
  r.date_range = {sys_days{2024y / 1 / 1}, sys_days{2024y / 1 / 2}};
  r.report_id = "id-1";
  PolicyResult p;
  p.policy.type = policy_type_from_token("tlsa");
  p.policy.domain = "mx.example.com";
  p.policy.strings = {"3 1 1 AA"};
  p.summary = {10, 2};
  FailureDetail f;
  f.result_type = result_type_from_token("Testing");
  f.failed_session_count = 2;
  f.receiving_ip = "192.0.2.1";
  p.failures.push_back(f);
  r.policies.push_back(p);
  return r;
}

TEST(CanonicalJson, ExactForm) {
  EXPECT_EQ(to_canonical_json(sample()),
            R"({"organization-name":"Org \"X\"","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
            R"("end-datetime":"2024-01-02T00:00:00Z"},"report-id":"id-1","policies":[{"policy":{"policy-type":"tlsa",)"
            R"("policy-string":["3 1 1 AA"],"policy-domain":"mx.example.com"},"summary":{)"
            R"("total-successful-session-count":10,"total-failure-session-count":2},"failure-details":[{)"
            R"("result-type":"Testing","receiving-ip":"192.0.2.1","failed-session-count":2}]}]})");
}

TEST(CanonicalJson, Sha256) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CanonicalJson, Notes) {
  EXPECT_EQ(notes_to_json({Note{"a-b", "policies[0]", "x\ny"}}),
            R"([{"code":"a-b","where":"policies[0]","detail":"x\ny"}])");
  EXPECT_EQ(notes_to_json({}), "[]");
}

TEST(CanonicalJson, Tokens) {
  EXPECT_EQ(policy_type_from_token("no-policy-found").value, PolicyType::no_policy_found);
  EXPECT_EQ(result_type_from_token("sts-policy-fetch-error").value, ResultType::sts_policy_fetch_error);
  auto unknown = result_type_from_token("future-type");
  EXPECT_FALSE(unknown.known());
  EXPECT_EQ(unknown.token(), "future-type");
  // Every known token maps back to itself.
  for (int i = 0; i < static_cast<int>(ResultType::unknown); ++i) {
    auto t = static_cast<ResultType>(i);
    EXPECT_EQ(result_type_from_token(to_token(t)).value, t);
  }
}

}  // namespace
}  // namespace tlsrpt
