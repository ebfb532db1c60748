// parser/footprint.cpp: what the rows of a report keep is bounded by the submission's
// size (issue 19, item 2): strings cut, the text budget, identical rows merged with
// their counts summed; real reports pass untouched.
#include "parser/footprint.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "parser/notes.hpp"

namespace tlsrpt {
namespace {

FailureDetail detail(std::string info, Count n = 1, std::string ip = "192.0.2.1") {
  FailureDetail f;
  f.result_type = result_type_from_token("certificate-expired");
  f.sending_mta_ip = std::move(ip);
  f.receiving_mx_hostname = "mx.example.com";
  f.failed_session_count = n;
  f.additional_information = std::move(info);
  return f;
}

ParsedReport with(std::vector<FailureDetail> failures) {
  ParsedReport p;
  p.report.organization_name = "Org";
  p.report.report_id = "r1";
  PolicyResult pr;
  pr.policy.type = policy_type_from_token("sts");
  pr.policy.domain = "example.com";
  pr.policy.strings = {"version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"};
  pr.failures = std::move(failures);
  p.report.policies.push_back(std::move(pr));
  return p;
}

bool has_note(const ParsedReport& p, std::string_view code) {
  return std::any_of(p.notes.begin(), p.notes.end(), [&](const Note& n) { return n.code == code; });
}

TEST(Footprint, ARealReportIsUntouched) {
  ParsedReport p = with({detail("https://reports.example/info?id=1", 3), detail("", 2, "192.0.2.2")});
  const ParsedReport before = p;
  auto sum = bound_footprint(p, Limits{}, 600);
  EXPECT_EQ(p.report, before.report);
  EXPECT_TRUE(p.notes.empty());
  EXPECT_EQ(sum.strings_cut + sum.strings_dropped + sum.details_merged, 0u);
}

TEST(Footprint, LongStringsAreCutOnACharacterAndNoted) {
  Limits limits;
  limits.max_stored_text_bytes = 64;
  std::string umlauts;
  for (int i = 0; i < 40; ++i) umlauts += "\xC3\xBC";  // 80 bytes of ü
  ParsedReport p = with({detail(umlauts)});
  bound_footprint(p, limits, 10'000);
  const auto& kept = *p.report.policies[0].failures[0].additional_information;
  EXPECT_EQ(kept.size(), 64u);  // 32 whole characters
  EXPECT_EQ(kept, umlauts.substr(0, 64));
  EXPECT_TRUE(has_note(p, note::kStoredTextCut));
}

TEST(Footprint, DetailsIdenticalButForTheirCountAreOneRow) {
  ParsedReport p = with({detail("same", 2), detail("other", 1), detail("same", 5)});
  auto sum = bound_footprint(p, Limits{}, 10'000);
  const auto& f = p.report.policies[0].failures;
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(*f[0].additional_information, "same");
  EXPECT_EQ(f[0].failed_session_count, 7u);
  EXPECT_EQ(*f[1].additional_information, "other");
  EXPECT_EQ(sum.details_merged, 1u);
  EXPECT_TRUE(has_note(p, note::kFailureDetailsMerged));
}

TEST(Footprint, AbsentAndEmptyStringsAreDifferentRows) {
  FailureDetail a = detail("x"), b = detail("x");
  a.receiving_ip.reset();
  b.receiving_ip = "";
  ParsedReport p = with({a, b});
  bound_footprint(p, Limits{}, 10'000);
  EXPECT_EQ(p.report.policies[0].failures.size(), 2u);
}

// The attack of issue 19: 10 000 distinct details with 1.4 KB each from ~240 KB.
TEST(Footprint, TheAttackReportKeepsAtMostItsBudget) {
  std::vector<FailureDetail> many;
  for (int i = 0; i < 10'000; ++i)
    many.push_back(detail(std::to_string(i) + std::string(1400, 'A'), 1, "10.0." + std::to_string(i / 250) + "." +
                                                                            std::to_string(i % 250)));
  ParsedReport p = with(std::move(many));
  const Limits limits;
  const std::size_t upload = 240'000;
  auto sum = bound_footprint(p, limits, upload);
  std::size_t text = 0;
  Count sessions = 0;
  for (const auto& f : p.report.policies[0].failures) {
    for (const auto* s : {&f.sending_mta_ip, &f.receiving_mx_hostname, &f.additional_information})
      if (*s) text += (*s)->size();
    sessions += f.failed_session_count;
  }
  for (const auto& s : p.report.policies[0].policy.strings) text += s.size();
  EXPECT_LE(text, stored_text_budget(limits, upload));
  EXPECT_EQ(sessions, 10'000u);  // every session still counted
  EXPECT_LT(p.report.policies[0].failures.size(), 4'000u);
  EXPECT_GT(sum.strings_dropped, 0u);
  EXPECT_TRUE(has_note(p, note::kStoredTextBudget));
  EXPECT_TRUE(has_note(p, note::kStoredTextCut));
}

// Review finding 1: six distinct strings just under the cut would make rows that
// spill past a database page; one row keeps kRowTextStrings strings' worth, the
// addresses and host names first.
TEST(Footprint, OneRowKeepsAtMostTwoStringsWorth) {
  FailureDetail f = detail(std::string(230, 'i'), 1, std::string(230, 'a'));
  f.receiving_mx_hostname = std::string(230, 'h');
  f.receiving_mx_helo = std::string(230, 'e');
  f.receiving_ip = std::string(230, 'r');
  f.failure_reason_code = std::string(230, 'c');
  ParsedReport p = with({f});
  const Limits limits;
  auto sum = bound_footprint(p, limits, 1'000'000);
  const FailureDetail& kept = p.report.policies[0].failures[0];
  EXPECT_EQ(kept.sending_mta_ip->size(), 230u);
  EXPECT_EQ(kept.receiving_mx_hostname->size(), 230u);
  EXPECT_EQ(kept.receiving_mx_helo->size(), kRowTextStrings * limits.max_stored_text_bytes - 460);
  EXPECT_FALSE(kept.receiving_ip);
  EXPECT_FALSE(kept.additional_information);
  EXPECT_FALSE(kept.failure_reason_code);
  EXPECT_EQ(sum.strings_cut, 1u);
  EXPECT_EQ(sum.strings_dropped, 3u);
  EXPECT_EQ(kept.failed_session_count, 1u);
}

TEST(Footprint, TheBudgetHasAFloorSoSmallReportsAreNeverCut) {
  const Limits limits;
  EXPECT_EQ(stored_text_budget(limits, 10), kStoredTextFloorStrings * limits.max_stored_text_bytes);
  EXPECT_EQ(stored_text_budget(limits, 1'000'000), 4'000'000u);
}

TEST(Footprint, UnknownResultTypesBeyondTheBudgetBecomeUnspecified) {
  Limits limits;
  limits.max_stored_text_bytes = 64;
  limits.max_stored_text_ratio = 1;
  std::vector<FailureDetail> many;
  for (int i = 0; i < 200; ++i) {
    FailureDetail f;
    f.result_type = result_type_from_token("made-up-" + std::to_string(i) + std::string(50, 'z'));
    f.failed_session_count = 1;
    many.push_back(std::move(f));
  }
  ParsedReport p = with(std::move(many));
  bound_footprint(p, limits, 100);  // budget: the floor, 64 x 64 bytes
  const auto& f = p.report.policies[0].failures;
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f.back().result_type.token(), "unspecified");
  EXPECT_EQ(f.back().failed_session_count, 200u - (f.size() - 1));
}

TEST(Footprint, PolicyStringsBeyondTheBudgetAreLeftOutOfTheRow) {
  Limits limits;
  limits.max_stored_text_bytes = 64;  // floor: 4 KiB
  ParsedReport p = with({});
  p.report.policies[0].policy.strings.assign(100, std::string(100, 'p'));
  bound_footprint(p, limits, 10);
  EXPECT_EQ(p.report.policies[0].policy.strings.size(), 40u);
  EXPECT_TRUE(has_note(p, note::kStoredTextBudget));
}

}  // namespace
}  // namespace tlsrpt
