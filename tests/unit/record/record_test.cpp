// record/record.cpp: the RFC 8460 §3 grammar as docs/receiver-rules.md#record-grammar
// applies it (valid, borderline and invalid records, each bad one with the reason it
// must give), the sender's choice among TXT records, and generate -> check round trips.
#include "record/record.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace tlsrpt {
namespace {

bool has(const std::vector<std::string>& msgs, std::string_view needle) {
  return std::any_of(msgs.begin(), msgs.end(), [&](const std::string& m) { return m.find(needle) != std::string::npos; });
}

std::string dump(const RecordCheck& r) {
  std::string s = "errors:";
  for (const auto& e : r.errors) s += "\n  " + e;
  s += "\nwarnings:";
  for (const auto& w : r.warnings) s += "\n  " + w;
  return s;
}

// ---- valid and borderline records -------------------------------------------------

struct Good {
  const char* name;
  std::string record;
  std::vector<std::string> uris;     // expected rua, in order
  std::vector<std::string> schemes;  // expected scheme per URI
  const char* warning;               // a warning that must be present, or nullptr
};

class GoodRecord : public ::testing::TestWithParam<Good> {};

TEST_P(GoodRecord, IsValid) {
  const Good& g = GetParam();
  RecordCheck r = check_record(g.record);
  EXPECT_TRUE(r.valid) << dump(r);
  EXPECT_TRUE(r.errors.empty()) << dump(r);
  ASSERT_EQ(r.rua.size(), g.uris.size()) << dump(r);
  for (std::size_t i = 0; i < g.uris.size(); ++i) {
    EXPECT_EQ(r.rua[i].uri, g.uris[i]);
    EXPECT_EQ(r.rua[i].scheme, g.schemes[i]);
    EXPECT_EQ(r.rua[i].usable, g.schemes[i] == "mailto" || g.schemes[i] == "https");
  }
  if (g.warning) {
    EXPECT_TRUE(has(r.warnings, g.warning)) << "want warning \"" << g.warning << "\"\n" << dump(r);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Notes61, GoodRecord,
    ::testing::Values(
        // 1: the plain form; example.com is a documentation domain, said as a warning.
        Good{"c1_mailto", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", {"mailto:tlsrpt@example.com"}, {"mailto"},
             "reserved for documentation"},
        // 2: no space after ";".
        Good{"c2_https_no_space", "v=TLSRPTv1;rua=https://r.example.com/v1/tlsrpt", {"https://r.example.com/v1/tlsrpt"},
             {"https"}, nullptr},
        // 3: one trailing ";" is allowed (and warned about).
        Good{"c3_trailing_semicolon", "v=TLSRPTv1; rua=mailto:a@example.com;", {"mailto:a@example.com"}, {"mailto"},
             "ends with \";\""},
        // 4: WSP around "," inside rua.
        Good{"c4_two_uris_wsp_comma", "v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x",
             {"mailto:a@example.com", "https://r.example.com/x"}, {"mailto", "https"}, "whitespace around \",\""},
        // 5: unknown extension, ignored.
        Good{"c5_extension", "v=TLSRPTv1; rua=mailto:a@example.com; foo=bar", {"mailto:a@example.com"}, {"mailto"},
             "unknown field \"foo\" is ignored"},
        // 6: two DNS strings joined without a space.
        Good{"c6_joined_strings", std::string("v=TLSRPTv1; rua=mailto:a@exa") + "mple.com", {"mailto:a@example.com"},
             {"mailto"}, nullptr},
        // 8: WSP before the first ";": ABNF-valid, fails the literal prefix rule -> warning.
        Good{"c8_wsp_before_first_semicolon", "v=TLSRPTv1 ; rua=mailto:a@example.com", {"mailto:a@example.com"},
             {"mailto"}, "senders that look for a record beginning with \"v=TLSRPTv1;\""},
        // 9: repeated rua= -> union, warning.
        Good{"c9_repeated_rua", "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/",
             {"mailto:a@example.com", "https://r.example.com/"}, {"mailto", "https"}, "rua= appears 2 times"},
        // 10: scheme case-insensitive.
        Good{"c10_upper_scheme", "v=TLSRPTv1; rua=MAILTO:a@example.com", {"MAILTO:a@example.com"}, {"mailto"},
             "not lower case"},
        // Beyond the notes: http beside a usable URI is skipped by senders -> warning only.
        Good{"http_beside_mailto", "v=TLSRPTv1; rua=mailto:a@reports.example.com,http://r.example.com/",
             {"mailto:a@reports.example.com", "http://r.example.com/"}, {"mailto", "http"}, "http: is not a TLS-RPT scheme"},
        Good{"encoded_specials", "v=TLSRPTv1; rua=https://r.example.com/a%2Cb%21c%3Bd", {"https://r.example.com/a%2Cb%21c%3Bd"},
             {"https"}, nullptr},
        Good{"https_port_and_query", "v=TLSRPTv1; rua=https://r.example.com:8443/tlsrpt?k=v", {"https://r.example.com:8443/tlsrpt?k=v"},
             {"https"}, nullptr},
        Good{"tab_around_semicolon", "v=TLSRPTv1;\trua=mailto:a@example.com", {"mailto:a@example.com"}, {"mailto"},
             "contains a tab"},
        Good{"duplicate_destination", "v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com", {"mailto:a@example.com"},
             {"mailto"}, "listed twice"},
        Good{"single_label_mail_domain", "v=TLSRPTv1; rua=mailto:a@localhost", {"mailto:a@localhost"}, {"mailto"},
             "has no dot"},
        Good{"internal_tld", "v=TLSRPTv1; rua=mailto:a@mail.corp", {"mailto:a@mail.corp"}, {"mailto"},
             "top-level domain .corp"},
        Good{"header_fields", "v=TLSRPTv1; rua=mailto:a@example.com?subject=tlsrpt", {"mailto:a@example.com?subject=tlsrpt"},
             {"mailto"}, "ignored by most senders"},
        Good{"quoted_local_part", "v=TLSRPTv1; rua=mailto:%22a%20b%22@example.com", {"mailto:%22a%20b%22@example.com"},
             {"mailto"}, nullptr},
        Good{"idn_host_percent_encoded", "v=TLSRPTv1; rua=https://b%C3%BCcher.example/r", {"https://b%C3%BCcher.example/r"},
             {"https"}, nullptr},
        Good{"ip_host", "v=TLSRPTv1; rua=https://192.0.2.1/r", {"https://192.0.2.1/r"}, {"https"}, "IP address instead"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(RecordCheck, TargetsAreDecoded) {
  RecordCheck r = check_record("v=TLSRPTv1; rua=mailto:tls%2Brpt@Example.COM,https://R.Example.com:443/x");
  ASSERT_TRUE(r.valid) << dump(r);
  ASSERT_EQ(r.rua.size(), 2u);
  EXPECT_EQ(r.rua[0].target, "tls+rpt@Example.COM");
  EXPECT_EQ(r.rua[1].target, "r.example.com");
}

TEST(RecordCheck, ExtensionsAreKept) {
  RecordCheck r = check_record("v=TLSRPTv1; rua=mailto:a@example.com; foo=bar; x-y.z_1=~!$");
  ASSERT_TRUE(r.valid) << dump(r);
  ASSERT_EQ(r.extensions.size(), 2u);
  EXPECT_EQ(r.extensions[0].name, "foo");
  EXPECT_EQ(r.extensions[0].value, "bar");
  EXPECT_EQ(r.extensions[1].name, "x-y.z_1");
  EXPECT_EQ(r.extensions[1].value, "~!$");
}

TEST(RecordCheck, TooManyDestinationsWarn) {
  std::string rec = "v=TLSRPTv1; rua=";
  for (int i = 0; i < 6; ++i) rec += (i ? "," : "") + std::string("mailto:r") + std::to_string(i) + "@example.com";
  RecordCheck r = check_record(rec);
  EXPECT_TRUE(r.valid) << dump(r);
  EXPECT_EQ(r.rua.size(), 6u);
  EXPECT_TRUE(has(r.warnings, "6 destinations")) << dump(r);
  rec.erase(rec.rfind(','));
  EXPECT_FALSE(has(check_record(rec).warnings, "destinations:"));
}

TEST(RecordCheck, LongRecordWarnsUnlessFromDns) {
  std::string rec = "v=TLSRPTv1; rua=https://reports.example.com/" + std::string(250, 'a');
  RecordCheck typed = check_record(rec);
  EXPECT_TRUE(typed.valid) << dump(typed);
  EXPECT_TRUE(has(typed.warnings, "one DNS string holds at most 255")) << dump(typed);
  RecordCheck from_dns = check_record(rec, RecordCheckOptions{.from_dns = true});
  EXPECT_TRUE(from_dns.valid);
  EXPECT_FALSE(has(from_dns.warnings, "at most 255"));
  // Exactly 255 bytes fits one string.
  std::string fits = "v=TLSRPTv1; rua=https://reports.example.com/";
  fits += std::string(255 - fits.size(), 'b');
  ASSERT_EQ(fits.size(), 255u);
  EXPECT_FALSE(has(check_record(fits).warnings, "at most 255"));
}

// ---- invalid records: each with the reason it must report -------------------------

struct Bad {
  const char* name;
  std::string record;
  const char* reason;  // substring of one error
};

class BadRecord : public ::testing::TestWithParam<Bad> {};

TEST_P(BadRecord, IsInvalidWithReason) {
  const Bad& b = GetParam();
  RecordCheck r = check_record(b.record);
  EXPECT_FALSE(r.valid) << dump(r);
  EXPECT_TRUE(has(r.errors, b.reason)) << "want error \"" << b.reason << "\"\n" << dump(r);
  for (const auto& e : r.errors) {
    EXPECT_FALSE(e.empty());
    EXPECT_NE(e.back(), '.') << e;  // docs/architecture.md#errors: no trailing period
  }
}

INSTANTIATE_TEST_SUITE_P(
    Notes61, BadRecord,
    ::testing::Values(
        // 11: http is the only destination: unusable.
        Bad{"c11_http_only", "v=TLSRPTv1; rua=http://r.example.com/", "http: is not a TLS-RPT scheme"},
        // 13: %s"v=TLSRPTv1" is case-sensitive.
        Bad{"c13_lowercase_version", "v=tlsrptv1; rua=mailto:a@example.com", "case-sensitive"},
        Bad{"typo_upper_V1", "v=TLSRPTV1; rua=mailto:a@example.com", "exactly \"v=TLSRPTv1\""},
        Bad{"upper_v_name", "V=TLSRPTv1; rua=mailto:a@example.com", "exactly \"v=TLSRPTv1\""},
        // 14: another version.
        Bad{"c14_v2", "v=TLSRPTv2; rua=mailto:a@example.com", "unsupported version \"TLSRPTv2\""},
        // 15, 16, 17: no rua.
        Bad{"c15_version_only", "v=TLSRPTv1", "missing rua="},
        Bad{"c16_version_semicolon", "v=TLSRPTv1;", "missing rua="},
        Bad{"c17_extension_no_rua", "v=TLSRPTv1; foo=bar", "missing rua="},
        // 18: RUA= is an extension by the grammar, so no rua.
        Bad{"c18_upper_rua", "v=TLSRPTv1; RUA=mailto:a@example.com", "\"RUA=\" is not \"rua=\""},
        Bad{"c18_upper_rua_missing", "v=TLSRPTv1; RUA=mailto:a@example.com", "missing rua="},
        // 19: empty list.
        Bad{"c19_empty_rua", "v=TLSRPTv1; rua=", "rua= is empty"},
        // 20: version not first.
        Bad{"c20_version_not_first", "rua=mailto:a@example.com; v=TLSRPTv1", "version field must come first"},
        // 21: leading space.
        Bad{"c21_leading_space", " v=TLSRPTv1; rua=mailto:a@example.com", "begins with whitespace"},
        // 22: WSP around "=".
        Bad{"c22_wsp_around_equals", "v = TLSRPTv1; rua=mailto:a@example.com", "whitespace around \"=\""},
        Bad{"wsp_after_rua_equals", "v=TLSRPTv1; rua= mailto:a@example.com", "whitespace around \"=\""},
        // 23: empty field.
        Bad{"c23_double_semicolon", "v=TLSRPTv1;; rua=mailto:a@example.com", "empty field between two \";\""},
        // 24: raw "!" (DMARC size suffix).
        Bad{"c24_bang", "v=TLSRPTv1; rua=mailto:a@example.com!10m", "must be written %21"},
        Bad{"c24_bang_dmarc_hint", "v=TLSRPTv1; rua=mailto:a@example.com!10m", "DMARC size limit \"!10m\""},
        // 25: raw ";" splits the field.
        Bad{"c25_raw_semicolon", "v=TLSRPTv1; rua=mailto:a@example.com?subject=x;y", "\"y\" is not name=value"},
        Bad{"c25_raw_semicolon_hint", "v=TLSRPTv1; rua=mailto:a@example.com?subject=x;y", "must be written %3B"},
        // 26, 27: ext-value without "=" and SP.
        Bad{"c26_ext_value_equals", "v=TLSRPTv1; rua=mailto:a@example.com; ext=a=b", "contains \"=\""},
        Bad{"c27_ext_value_space", "v=TLSRPTv1; rua=mailto:a@example.com; ext=a b", "contains whitespace"},
        // 28: ext-name longer than 32.
        Bad{"c28_ext_name_33", "v=TLSRPTv1; rua=mailto:a@example.com; " + std::string(33, 'x') + "=1",
            "33 characters long, more than the 32"},
        // 29: no scheme.
        Bad{"c29_no_scheme", "v=TLSRPTv1; rua=somewhere", "\"somewhere\" is not a URI: it has no scheme"},
        // Beyond the notes.
        Bad{"empty", "", "the record is empty"},
        Bad{"blank", "   ", "the record is empty"},
        Bad{"spf_record", "v=spf1 include:_spf.example.com -all", "not a TLS-RPT record"},
        Bad{"dmarc_record", "v=DMARC1; p=none; rua=mailto:d@example.com", "not a TLS-RPT record"},
        Bad{"missing_semicolon_after_version", "v=TLSRPTv1 rua=mailto:a@example.com", "\";\" missing after"},
        Bad{"trailing_space", "v=TLSRPTv1; rua=mailto:a@example.com ", "whitespace at the end of the record"},
        Bad{"empty_list_item", "v=TLSRPTv1; rua=mailto:a@example.com,,https://r.example.com/", "empty URI in rua="},
        Bad{"trailing_comma", "v=TLSRPTv1; rua=mailto:a@example.com,", "empty URI in rua="},
        Bad{"ftp_only", "v=TLSRPTv1; rua=ftp://r.example.com/", "the scheme \"ftp:\" is not supported"},
        Bad{"mailto_slashes", "v=TLSRPTv1; rua=mailto://a@example.com", "mailto: takes no \"//\""},
        Bad{"mailto_no_address", "v=TLSRPTv1; rua=mailto:", "has no address after mailto:"},
        Bad{"mailto_no_at", "v=TLSRPTv1; rua=mailto:postmaster", "has no \"@\""},
        Bad{"mailto_bad_domain", "v=TLSRPTv1; rua=mailto:a@exa_mple.com", "not a valid host name"},
        Bad{"mailto_double_dot", "v=TLSRPTv1; rua=mailto:a..b@example.com", "empty dot-separated part"},
        Bad{"https_no_slashes", "v=TLSRPTv1; rua=https:r.example.com", "an https URI reads https://host/path"},
        Bad{"https_no_host", "v=TLSRPTv1; rua=https:///tlsrpt", "has no host"},
        Bad{"https_bad_port", "v=TLSRPTv1; rua=https://r.example.com:99999/", "invalid port"},
        Bad{"https_bad_host", "v=TLSRPTv1; rua=https://r..example.com/", "is not a valid host name"},
        Bad{"space_in_uri", "v=TLSRPTv1; rua=mailto:a b@example.com", "whitespace inside the URI"},
        Bad{"bad_percent", "v=TLSRPTv1; rua=https://r.example.com/%zz", "bad percent-encoding"},
        Bad{"angle_bracket", "v=TLSRPTv1; rua=https://r.example.com/<x>", "is not allowed in a URI"},
        Bad{"control_byte", std::string("v=TLSRPTv1; rua=mailto:a@example.com\x1b[2J"), "byte 0x1b at offset 36"},
        Bad{"non_ascii", "v=TLSRPTv1; rua=mailto:a@bücher.example", "printable US-ASCII"},
        Bad{"ext_name_starts_with_dash", "v=TLSRPTv1; rua=mailto:a@example.com; -x=1", "must begin with a letter or digit"},
        Bad{"ext_name_bad_char", "v=TLSRPTv1; rua=mailto:a@example.com; a/b=1", "characters other than letters"},
        Bad{"ext_empty_value", "v=TLSRPTv1; rua=mailto:a@example.com; foo=", "has an empty value"},
        Bad{"no_name", "v=TLSRPTv1; rua=mailto:a@example.com; =x", "has no name"},
        Bad{"version_twice", "v=TLSRPTv1; rua=mailto:a@example.com; v=TLSRPTv1", "appears more than once"},
        Bad{"quoted", "\"v=TLSRPTv1; rua=mailto:a@example.com\"", "begins with a quote character"},
        Bad{"too_long", "v=TLSRPTv1; rua=https://r.example.com/" + std::string(5000, 'a'), "more than the 4096"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(RecordCheck, MessagesNeverCarryRawControlBytes) {
  RecordCheck r = check_record(std::string("v=TLSRPTv1; rua=mailto:a\r\n@example.com; x\x07=y"));
  EXPECT_FALSE(r.valid);
  for (const auto& m : r.errors)
    for (char c : m) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << m;
}

TEST(RecordCheck, InvalidUriStillListedButNotUsable) {
  RecordCheck r = check_record("v=TLSRPTv1; rua=mailto:a@example.com!10m,https://r.example.com/");
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(r.rua.size(), 2u);
  EXPECT_FALSE(r.rua[0].usable);
  EXPECT_TRUE(r.rua[1].usable);
}

// ---- the sender's choice among TXT records (RFC 8460 §3) --------------------------

TEST(RecordSet, NonTlsrptRecordIsDiscarded) {
  auto s = check_record_set({"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@reports.example.com"});
  EXPECT_TRUE(s.valid);
  ASSERT_EQ(s.tlsrpt_records.size(), 1u);
  EXPECT_EQ(s.discarded, std::vector<std::string>{"v=spf1 -all"});
  ASSERT_EQ(s.check.rua.size(), 1u);
  EXPECT_EQ(s.check.rua[0].uri, "mailto:a@reports.example.com");
}

TEST(RecordSet, TwoRecordsMeanNoTlsrpt) {
  auto s = check_record_set({"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1;rua=https://r.example.com/"});
  EXPECT_FALSE(s.valid);
  EXPECT_EQ(s.tlsrpt_records.size(), 2u);
  EXPECT_TRUE(has(s.errors, "2 TXT records begin with \"v=TLSRPTv1;\""));
  EXPECT_TRUE(has(s.errors, "send no reports"));
  EXPECT_TRUE(s.check.rua.empty());
}

TEST(RecordSet, NoneMeansNoTlsrpt) {
  auto s = check_record_set({});
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(has(s.errors, "no TXT record begins with \"v=TLSRPTv1;\""));
}

TEST(RecordSet, TypoIsDiscardedWithItsReason) {
  auto s = check_record_set({"v=TLSRPTV1; rua=mailto:a@example.com"});
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(s.tlsrpt_records.empty());
  EXPECT_EQ(s.discarded.size(), 1u);
  EXPECT_TRUE(has(s.errors, "no TXT record begins with"));
  EXPECT_TRUE(has(s.errors, "looks like TLS-RPT")) << s.errors.size();
  EXPECT_TRUE(has(s.errors, "case-sensitive"));
}

TEST(RecordSet, TypoBesideAGoodRecordIsAWarning) {
  auto s = check_record_set({"v=TLSRPTv1; rua=mailto:a@reports.example.com", "v=tlsrptv1; rua=mailto:b@example.com"});
  EXPECT_TRUE(s.valid);
  EXPECT_TRUE(has(s.warnings, "looks like TLS-RPT"));
}

// Decided in docs/receiver-rules.md#record-grammar: kept, with a warning.
TEST(RecordSet, WhitespaceBeforeSemicolonCounts) {
  EXPECT_TRUE(is_tlsrpt_record("v=TLSRPTv1 ; rua=mailto:a@example.com"));
  EXPECT_TRUE(is_tlsrpt_record("v=TLSRPTv1;"));
  EXPECT_FALSE(is_tlsrpt_record("v=TLSRPTv1"));
  EXPECT_FALSE(is_tlsrpt_record("v=TLSRPTv10;"));
  EXPECT_FALSE(is_tlsrpt_record(" v=TLSRPTv1;"));
  auto s = check_record_set({"v=TLSRPTv1 ; rua=mailto:a@reports.example.com"});
  EXPECT_TRUE(s.valid);
  EXPECT_TRUE(has(s.warnings, "discard the record"));
}

// RFC 8460 §3 does not say; as RFC 8461 §3.1 says for MTA-STS, it means "no TLSRPT".
TEST(RecordSet, SingleInvalidRecordIsInvalid) {
  auto s = check_record_set({"v=TLSRPTv1; rua=mailto:a@example.com!10m"});
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(has(s.errors, "must be written %21"));
}

// ---- generate ---------------------------------------------------------------------

TEST(Generate, Basic) {
  auto g = generate_record("Example.COM.", {"mailto:tlsrpt@example.com"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->domain, "example.com");
  EXPECT_EQ(g->host, "_smtp._tls.example.com");
  EXPECT_EQ(g->name, "_smtp._tls");
  EXPECT_EQ(g->type, "TXT");
  EXPECT_EQ(g->value, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
  EXPECT_TRUE(has(g->warnings, "reserved for documentation"));
}

TEST(Generate, IdnDomainsBecomeALabels) {
  auto g = generate_record("bücher.example", {"mailto:tlsrpt@bücher.example", "https://bücher.example/tlsrpt"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->host, "_smtp._tls.xn--bcher-kva.example");
  EXPECT_EQ(g->value, "v=TLSRPTv1; rua=mailto:tlsrpt@xn--bcher-kva.example,https://xn--bcher-kva.example/tlsrpt");
}

TEST(Generate, EncodesCommaBangSemicolon) {
  auto g = generate_record("example.com", {"mailto:a!b@example.com?subject=a,b;c", "https://r.example.com/r?a=1;b=2,3!&x=%2C"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->rua[0], "mailto:a%21b@example.com?subject=a%2Cb%3Bc");
  EXPECT_EQ(g->rua[1], "https://r.example.com/r?a=1%3Bb=2%2C3%21&x=%2C");  // an existing %2C is kept, not doubled
}

TEST(Generate, EncodesSpacesAndNonAscii) {
  auto g = generate_record("example.com", {"https://r.example.com/a b/ä"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->rua[0], "https://r.example.com/a%20b/%C3%A4");
}

TEST(Generate, BareAddressIsMailto) {
  auto g = generate_record("example.com", {"tlsrpt@reports.example.com"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->rua, std::vector<std::string>{"mailto:tlsrpt@reports.example.com"});
  EXPECT_TRUE(has(g->warnings, "taken as mailto:"));
}

TEST(Generate, SchemeIsLowerCased) {
  auto g = generate_record("example.com", {"MAILTO:a@example.com", "HTTPS://R.example.com/X"});
  ASSERT_TRUE(g) << g.error().front();
  EXPECT_EQ(g->rua[0], "mailto:a@example.com");
  EXPECT_EQ(g->rua[1], "https://r.example.com/X");
}

TEST(Generate, DuplicateIsListedOnce) {
  auto g = generate_record("example.com", {"mailto:a@example.com", "mailto:a@example.com"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->rua.size(), 1u);
  EXPECT_TRUE(has(g->warnings, "given twice"));
}

TEST(Generate, PrefixedDomainIsTolerated) {
  auto g = generate_record("_smtp._tls.example.com", {"mailto:a@example.com"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->host, "_smtp._tls.example.com");
}

struct GenBad {
  const char* name;
  std::string domain;
  std::vector<std::string> ruas;
  const char* reason;
};

class GenerateRefuses : public ::testing::TestWithParam<GenBad> {};

TEST_P(GenerateRefuses, WithReason) {
  const GenBad& b = GetParam();
  auto g = generate_record(b.domain, b.ruas);
  ASSERT_FALSE(g) << g->value;
  EXPECT_TRUE(has(g.error(), b.reason)) << g.error().front();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateRefuses,
    ::testing::Values(GenBad{"http", "example.com", {"http://r.example.com/"}, "http: is not allowed"},
                      GenBad{"ftp", "example.com", {"ftp://r.example.com/"}, "\"ftp:\" is not supported"},
                      GenBad{"no_rua", "example.com", {}, "no rua given"},
                      GenBad{"empty_rua", "example.com", {" "}, "empty rua"},
                      GenBad{"not_a_uri", "example.com", {"reports"}, "is not a URI"},
                      GenBad{"bad_address", "example.com", {"mailto:a@b@"}, "has no domain after"},
                      GenBad{"bad_local", "example.com", {"mailto:a b@example.com"}, "needs quoting"},
                      GenBad{"https_no_host", "example.com", {"https:///x"}, "no host"},
                      GenBad{"https_ip", "example.com", {"https://192.0.2.1/x"}, "not an IP address"},
                      GenBad{"https_credentials", "example.com", {"https://u:p@r.example.com/"}, "credentials"},
                      GenBad{"https_port", "example.com", {"https://r.example.com:0/"}, "invalid port"},
                      GenBad{"no_domain", "", {"mailto:a@example.com"}, "no domain given"},
                      GenBad{"ip_domain", "192.0.2.1", {"mailto:a@example.com"}, "is an IP address"},
                      GenBad{"double_dot", "a..example.com", {"mailto:a@example.com"}, "not a valid domain name"},
                      GenBad{"long_label", std::string(64, 'a') + ".com", {"mailto:a@example.com"}, "not a valid domain name"},
                      GenBad{"underscore", "_x.example.com", {"mailto:a@example.com"}, "not a valid domain name"},
                      GenBad{"single_label", "localhost", {"mailto:a@example.com"}, "has no dot"},
                      GenBad{"email_as_domain", "me@example.com", {"mailto:a@example.com"}, "looks like an email address"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(Generate, ReportsEveryProblemAtOnce) {
  auto g = generate_record("a..b", {"http://x.example/", "ftp://y.example/"});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().size(), 3u);
}

// generate -> check round trips: what the generator writes, the checker accepts with
// exactly the generator's destinations.
TEST(Generate, RoundTripsThroughCheck) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> inputs = {
      {"example.com", {"mailto:tlsrpt@example.com"}},
      {"mail.example.org", {"mailto:tls-reports+x@reports.example.net", "https://tlsrpt.example.net/v1/report"}},
      {"bücher.example", {"tlsrpt@bücher.example"}},
      {"example.com", {"https://r.example.com/q?a=1;b=2,c!", "mailto:\"odd, name\"@example.com"}},
      {"example.com", {"mailto:a!b@example.com?subject=TLS report; daily"}},
  };
  for (const auto& [domain, ruas] : inputs) {
    auto g = generate_record(domain, ruas);
    ASSERT_TRUE(g) << domain << ": " << g.error().front();
    RecordCheck c = check_record(g->value);
    EXPECT_TRUE(c.valid) << g->value << "\n" << dump(c);
    ASSERT_EQ(c.rua.size(), g->rua.size()) << g->value;
    for (std::size_t i = 0; i < c.rua.size(); ++i) {
      EXPECT_EQ(c.rua[i].uri, g->rua[i]);
      EXPECT_TRUE(c.rua[i].usable);
    }
    EXPECT_TRUE(check_record_set({g->value}).valid);
  }
}

TEST(Generate, LongValueSplitsIntoStrings) {
  std::vector<std::string> ruas;
  for (int i = 0; i < 4; ++i) ruas.push_back("https://tlsrpt-collector-" + std::to_string(i) + ".reports.example.net/" + std::string(60, 'p'));
  auto g = generate_record("example.com", ruas);
  ASSERT_TRUE(g) << g.error().front();
  ASSERT_GT(g->value.size(), 255u);
  EXPECT_TRUE(has(g->warnings, "at most 255"));
  auto parts = split_character_strings(g->value);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size(), 255u);
  EXPECT_EQ(parts[0] + parts[1], g->value);
  std::string line = bind_zone_line(*g);
  EXPECT_EQ(line, "_smtp._tls.example.com. 3600 IN TXT \"" + parts[0] + "\" \"" + parts[1] + "\"");
}

TEST(Split, Boundaries) {
  EXPECT_EQ(split_character_strings(""), std::vector<std::string>{""});
  EXPECT_EQ(split_character_strings(std::string(255, 'a')).size(), 1u);
  EXPECT_EQ(split_character_strings(std::string(256, 'a')).size(), 2u);
  EXPECT_EQ(split_character_strings(std::string(510, 'a')).size(), 2u);
  EXPECT_EQ(split_character_strings(std::string(511, 'a')).size(), 3u);
  EXPECT_EQ(split_character_strings("abcdef", 4), (std::vector<std::string>{"abcd", "ef"}));
}

TEST(BindLine, EscapesQuotesAndBackslashes) {
  GeneratedRecord g;
  g.host = "_smtp._tls.example.com";
  g.value = "a\"b\\c";
  EXPECT_EQ(bind_zone_line(g, 300), "_smtp._tls.example.com. 300 IN TXT \"a\\\"b\\\\c\"");
}

}  // namespace
}  // namespace tlsrpt
