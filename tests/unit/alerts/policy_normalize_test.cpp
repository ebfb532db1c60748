// Normalising policy strings before comparing them
// (docs/receiver-rules.md#policy-strings-in-alerts) and
// the RFC 8461 §4.1 MX pattern rule.
#include "alerts/policy_normalize.hpp"

#include <gtest/gtest.h>

namespace tlsrpt::alerts {
namespace {

TEST(NormalizeSts, SortsTrimsLowercasesAndStripsDots) {
  auto p = normalize_sts({"version: STSv1", "mode: Enforce", "mx:  MX2.Example.COM. ", "mx: mx1.example.com",
                          "max_age: 604800"},
                         {});
  EXPECT_EQ(p.mode, "enforce");
  EXPECT_EQ(p.mx, (std::vector<std::string>{"mx1.example.com", "mx2.example.com"}));
  EXPECT_EQ(p.lines, (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: mx1.example.com",
                                               "mx: mx2.example.com", "max_age: 604800"}));
}

TEST(NormalizeSts, ReorderedAndRecasedPoliciesAreEqual) {
  auto a = normalize_sts({"version: STSv1", "mode: testing", "mx: a.example", "mx: b.example", "max_age: 1"}, {});
  auto b = normalize_sts({"MX:B.EXAMPLE.", "max_age:1", "mx: a.example", "Mode: testing", "version: STSv1"}, {});
  EXPECT_EQ(a.mx, b.mx);
  EXPECT_EQ(a.lines, b.lines);
}

TEST(NormalizeSts, OneStringWithLineBreaksAndMxHostUnion) {
  // A whole policy file in one string (CRLF), plus mx-host: both name the same set.
  auto p = normalize_sts({"version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmax_age: 86400\r\n"},
                         {"*.example.net", "mx9.example.org."});
  EXPECT_EQ(p.mx, (std::vector<std::string>{"*.example.net", "mx9.example.org"}));
  EXPECT_EQ(p.mode, "enforce");
}

TEST(NormalizeSts, FirstOfARepeatedFieldWins) {
  // RFC 8461 §3.2: "all entries except for the first SHALL be ignored".
  auto p = normalize_sts({"mode: testing", "mode: enforce"}, {});
  EXPECT_EQ(p.mode, "testing");
}

TEST(NormalizeTlsa, HexCaseOrderAndSpacingDoNotMatter) {
  auto a = normalize_tlsa({"3 1 1 1f850a337e6db9c609c522d136a475638cc43e1ed424f8eec8513d747d1d085d",
                           "3 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234"});
  auto b = normalize_tlsa({"3  0 1 12350a337e6db9c6123522d136a475638cc43e1ed424f8eec8513d747d1d1234 ",
                           "03 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D"});
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1], "3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D");
}

TEST(NormalizeTlsa, DuplicatesCollapse) {
  EXPECT_EQ(normalize_tlsa({"3 1 1 AB", "3 1 1 ab"}).size(), 1u);
}

TEST(MxPattern, WildcardCoversExactlyOneLabel) {
  // RFC 8461 §4.1: "*.example.com" matches "mail.example.com" but not "example.com"
  // and not "foo.bar.example.com".
  EXPECT_TRUE(mx_pattern_matches("*.example.com", "mail.example.com"));
  EXPECT_FALSE(mx_pattern_matches("*.example.com", "example.com"));
  EXPECT_FALSE(mx_pattern_matches("*.example.com", "foo.bar.example.com"));
  EXPECT_FALSE(mx_pattern_matches("*.example.com", "mailexample.com"));
  EXPECT_TRUE(mx_pattern_matches("mx1.example.com", "mx1.example.com"));
  EXPECT_FALSE(mx_pattern_matches("mx1.example.com", "mx2.example.com"));
  EXPECT_TRUE(mx_covered({"mx1.example.com", "*.example.net"}, "a.example.net"));
  EXPECT_FALSE(mx_covered({}, "a.example.net"));
}

}  // namespace
}  // namespace tlsrpt::alerts
