// parser/report_parser.cpp: what is truly broken is refused with the field path and
// the problem; hostile JSON (depth, size, numbers, encodings) is refused within the
// limits; valid reports come out exactly as written.
#include "parser/report_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "parser/notes.hpp"

namespace tlsrpt {
namespace {

// A minimal valid report; `policy_extra` and `failure` are spliced in.
std::string report(const std::string& top_extra = "", const std::string& summary =
                                                          R"("total-successful-session-count":5,"total-failure-session-count":1)",
                   const std::string& failure = R"({"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.example.com","failed-session-count":1})") {
  return R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"contact-info":"a@b.example","report-id":"r1",)" +
         top_extra +
         R"("policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx.example.com","max_age: 86400"],"policy-domain":"example.com","mx-host":["mx.example.com"]},"summary":{)" +
         summary + R"(},"failure-details":[)" + failure + "]}]}";
}

std::expected<ParsedReport, Error> parse(const std::string& json, const Limits& limits = {}) {
  ReportParser p(limits);
  return p.parse(json);
}

void expect_rejected(const std::string& json, RejectReason reason, const std::string& where,
                     const std::string& message_part, const Limits& limits = {}) {
  auto r = parse(json, limits);
  ASSERT_FALSE(r) << "accepted: " << json.substr(0, 200);
  EXPECT_EQ(r.error().reason, reason) << r.error().text();
  EXPECT_EQ(r.error().where, where) << r.error().text();
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().text();
}

TEST(ReportParser, ValidReportRoundTrips) {
  auto r = parse(report());
  ASSERT_TRUE(r) << r.error().text();
  const Report& rep = r->report;
  EXPECT_EQ(rep.organization_name, "Org");
  EXPECT_EQ(rep.report_id, "r1");
  EXPECT_EQ(rep.contact_info, "a@b.example");
  ASSERT_EQ(rep.policies.size(), 1u);
  EXPECT_EQ(rep.policies[0].policy.type.value, PolicyType::sts);
  EXPECT_EQ(rep.policies[0].policy.domain, "example.com");
  EXPECT_EQ(rep.policies[0].summary.successful, 5u);
  EXPECT_EQ(rep.policies[0].summary.failed, 1u);
  ASSERT_EQ(rep.policies[0].failures.size(), 1u);
  EXPECT_EQ(rep.policies[0].failures[0].result_type.value, ResultType::certificate_expired);
  EXPECT_TRUE(r->notes.empty()) << r->notes.front().code;
}

TEST(ReportParser, ParserIsReusable) {
  ReportParser p;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(p.parse(report()));
    ASSERT_FALSE(p.parse("{]"));
  }
}

// ---- what must be refused, each with its reason, JSON path and message
// (docs/receiver-rules.md#report-format) -------------------------------------------

TEST(ReportParser, NotJson) {
  expect_rejected("hello", RejectReason::not_json, "", "not valid JSON");
  expect_rejected("{\"organization-name\": }", RejectReason::not_json, "organization-name", "");
  expect_rejected("", RejectReason::empty, "", "empty");
  expect_rejected("  \n ", RejectReason::empty, "", "empty");
}

TEST(ReportParser, WrongTopLevelType) {
  expect_rejected("[1,2]", RejectReason::wrong_type, "", "must be a JSON object, got an array");
  expect_rejected("\"x\"", RejectReason::wrong_type, "", "got a string");
  expect_rejected("42", RejectReason::wrong_type, "", "got a number");
}

TEST(ReportParser, MissingRequiredMembers) {
  const std::string full = report();
  struct Case {
    std::string cut, message;
  };
  for (const auto& [cut, message] : std::vector<Case>{
           {R"("organization-name":"Org",)", "missing \"organization-name\""},
           {R"("report-id":"r1",)", "missing \"report-id\""},
           {R"("date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},)",
            "missing \"date-range\""},
       }) {
    std::string json = full;
    json.erase(json.find(cut), cut.size());
    expect_rejected(json, RejectReason::missing_field, "", message);
  }
  std::string no_policies = R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"report-id":"r1"})";
  expect_rejected(no_policies, RejectReason::missing_field, "", "missing \"policies\"");
  std::string no_end = R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z"},"report-id":"r","policies":[]})";
  expect_rejected(no_end, RejectReason::missing_field, "date-range", "missing \"end-datetime\"");
  std::string no_summary = R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"r","policies":[{"policy":{"policy-type":"sts","policy-domain":"e.x"}}]})";
  expect_rejected(no_summary, RejectReason::missing_field, "policies[0]", "missing \"summary\"");
  std::string no_type = R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"r","policies":[{"policy":{"policy-domain":"e.x"},"summary":{}}]})";
  expect_rejected(no_type, RejectReason::missing_field, "policies[0].policy", "missing \"policy-type\"");
}

TEST(ReportParser, EmptyIdentifiers) {
  std::string json = report();
  json.replace(json.find("\"Org\""), 5, "\"  \"");
  expect_rejected(json, RejectReason::invalid_value, "organization-name", "must not be empty");
  json = report();
  json.replace(json.find("\"r1\""), 4, "\"\"");
  expect_rejected(json, RejectReason::invalid_value, "report-id", "must not be empty");
}

TEST(ReportParser, PoliciesMustBeAnArray) {
  std::string json = R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"r","policies":{"policy":{}}})";
  expect_rejected(json, RejectReason::wrong_type, "policies", "must be an array");
}

TEST(ReportParser, UnparseableDates) {
  for (const char* bad : {"2016-04-01T24:00:00Z", "2016-13-01T00:00:00Z", "2016-02-30T00:00:00Z", "yesterday",
                          "2016-04-01 00:00:00Z", "2016-04-01T00:00Z", "2016-04-01T00:00:00+25:00"}) {
    std::string json = report();
    json.replace(json.find("2024-01-01T00:00:00Z"), 20, bad);
    expect_rejected(json, RejectReason::invalid_datetime, "date-range.start-datetime", bad);
  }
  std::string json = report();
  json.replace(json.find("\"2024-01-01T00:00:00Z\""), 22, "20240101");
  expect_rejected(json, RejectReason::wrong_type, "date-range.start-datetime", "expected a string, got a number");
}

TEST(ReportParser, InvertedDateRange) {
  std::string json = report();
  json.replace(json.find("2024-01-01T00:00:00Z"), 20, "2024-01-02T00:00:00Z");
  expect_rejected(json, RejectReason::invalid_value, "date-range", "is before start-datetime");
}

TEST(ReportParser, BadCounts) {
  auto with = [](const std::string& v) {
    return report("", R"("total-successful-session-count":)" + v + R"(,"total-failure-session-count":1)");
  };
  const std::string where = "policies[0].summary.total-successful-session-count";
  expect_rejected(with("-1"), RejectReason::invalid_count, where, "must not be negative");
  expect_rejected(with("1.5"), RejectReason::invalid_count, where, "must be an integer");
  expect_rejected(with("1e2"), RejectReason::invalid_count, where, "must be an integer");
  expect_rejected(with("\"5\""), RejectReason::invalid_count, where, "got a string");
  expect_rejected(with("null"), RejectReason::invalid_count, where, "got null");
  expect_rejected(with("true"), RejectReason::invalid_count, where, "got a boolean");
  expect_rejected(with("9007199254740992"), RejectReason::count_too_large, where, "above 2^53-1");
  expect_rejected(with("18446744073709551615"), RejectReason::count_too_large, where, "above 2^53-1");
  expect_rejected(with("99999999999999999999999"), RejectReason::count_too_large, where, "above 2^53-1");
  expect_rejected(with("-99999999999999999999999"), RejectReason::invalid_count, where, "negative");
  expect_rejected(with("1e999"), RejectReason::invalid_count, where, "");
  // Not "above 2^53-1": a leading zero is simply not JSON.
  expect_rejected(with("007"), RejectReason::invalid_count, where, "must not have leading zeros, got 007");
  expect_rejected(with("00"), RejectReason::invalid_count, where, "leading zeros");
  Limits any_sum;  // one count of 2^53-1 is valid JSON for it; the per-report sum is capped apart
  any_sum.max_sessions_per_report = 1ULL << 60;
  auto r = parse(with("9007199254740991"), any_sum);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->report.policies[0].summary.successful, kMaxCount);

  std::string fd = report("", R"("total-successful-session-count":1,"total-failure-session-count":1)",
                          R"({"result-type":"certificate-expired","failed-session-count":-3})");
  expect_rejected(fd, RejectReason::invalid_count, "policies[0].failure-details[0].failed-session-count", "negative");
}

TEST(ReportParser, InvalidUtf8) {
  std::string json = report();
  json.replace(json.find("Org"), 3, "O\xff\xfe");
  expect_rejected(json, RejectReason::invalid_utf8, "", "not valid UTF-8");
  json = report();
  json.replace(json.find("Org"), 3, "\xc0\xaf");  // overlong '/'
  expect_rejected(json, RejectReason::invalid_utf8, "", "not valid UTF-8");
}

TEST(ReportParser, LoneSurrogateEscape) {
  std::string json = report();
  json.replace(json.find("Org"), 3, "O\\uDEADx");
  expect_rejected(json, RejectReason::invalid_utf8, "organization-name", "lone surrogate");
  // ...also inside members we do not interpret.
  expect_rejected(report(R"("x-vendor":{"note":"\uD800"},)"), RejectReason::invalid_utf8, "x-vendor.note", "");
}

TEST(ReportParser, UnescapedControlCharacters) {
  std::string json = report();
  json.replace(json.find("Org"), 3, "O\nrg");
  expect_rejected(json, RejectReason::not_json, "", "unescaped control character");
}

TEST(ReportParser, NulInIdentifiersIsRefused) {
  std::string json = report();
  json.replace(json.find("\"r1\""), 4, "\"r\\u0000\"");
  expect_rejected(json, RejectReason::invalid_value, "report-id", "NUL");
}

TEST(ReportParser, DuplicateKnownMembers) {
  expect_rejected(report(R"("report-id":"r2",)"), RejectReason::duplicate_member, "", "duplicate member \"report-id\"");
  auto r = report("", R"("total-successful-session-count":5,"total-successful-session-count":500)");
  expect_rejected(r, RejectReason::duplicate_member, "policies[0].summary", "total-successful-session-count");
}

TEST(ReportParser, TrailingData) {
  expect_rejected(report() + "}", RejectReason::not_json, "", "data after the report object");
  expect_rejected(report() + " {\"second\":1}", RejectReason::not_json, "", "");
  EXPECT_TRUE(parse(report() + " \n"));
}

TEST(ReportParser, NestingDeeperThanTheLimit) {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "[";
  for (int i = 0; i < 2000; ++i) deep += "]";
  auto r = parse(report("\"x-deep\":" + deep + ","));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_deep) << r.error().text();
  EXPECT_NE(r.error().where.find("x-deep"), std::string::npos);

  std::string objs;
  for (int i = 0; i < 40; ++i) objs += "{\"a\":";
  objs += "1";
  for (int i = 0; i < 40; ++i) objs += "}";
  r = parse(report("\"x-deep\":" + objs + ","));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_deep);
  // Nesting within the limit is fine.
  EXPECT_TRUE(parse(report("\"x-shallow\":[[[[1]]]],")));
}

TEST(ReportParser, TooManyFailureDetails) {
  std::string many;
  for (int i = 0; i < 100'000; ++i) {
    if (i) many += ',';
    many += R"({"result-type":"certificate-expired","failed-session-count":1})";
  }
  auto r = parse(report("", R"("total-successful-session-count":1,"total-failure-session-count":1)", many));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items);
  EXPECT_EQ(r.error().where, "policies[0].failure-details");
  EXPECT_NE(r.error().message.find("10000"), std::string::npos);
}

TEST(ReportParser, TooManyPolicies) {
  std::string pols;
  for (int i = 0; i < 1001; ++i) {
    if (i) pols += ',';
    pols += R"({"policy":{"policy-type":"sts","policy-domain":"e.x"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}})";
  }
  std::string json = R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"r","policies":[)" + pols + "]}";
  auto r = parse(json);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items);
  EXPECT_NE(r.error().message.find("1000 policies"), std::string::npos);
}

TEST(ReportParser, TooManyValuesInUnknownMembers) {
  std::string arr = "[";
  for (int i = 0; i < 300'000; ++i) arr += i ? ",1" : "1";
  arr += "]";
  auto r = parse(report("\"x-junk\":" + arr + ","));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items);
}

TEST(ReportParser, HugeStrings) {
  // An identifier over the limit is refused; free text is truncated and noted.
  std::string big(2000, 'a');
  std::string json = report();
  json.replace(json.find("\"r1\""), 4, "\"" + big + "\"");
  expect_rejected(json, RejectReason::invalid_value, "report-id", "longer than 1024 bytes");

  std::string text(1 << 20, 'x');
  auto r = parse(report("", R"("total-successful-session-count":1,"total-failure-session-count":1)",
                        R"({"result-type":"validation-failure","failed-session-count":1,"failure-reason-code":")" + text + "\"}"));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->report.policies[0].failures[0].failure_reason_code->size(), 8192u);
  ASSERT_FALSE(r->notes.empty());
  EXPECT_EQ(r->notes[0].code, note::kTextTruncated);
}

TEST(ReportParser, ReportLargerThanTheLimit) {
  Limits limits;
  limits.max_report_bytes = 1000;
  expect_rejected(report("\"x-pad\":\"" + std::string(2000, 'p') + "\","), RejectReason::too_large, "",
                  "larger than 1000 bytes", limits);
}

TEST(ReportParser, WrongTypesNameThePath) {
  expect_rejected(report("", R"("total-successful-session-count":1,"total-failure-session-count":1)", "5"),
                  RejectReason::wrong_type, "policies[0].failure-details[0]", "expected an object, got a number");
  std::string json = report();
  json.replace(json.find("[\"version: STSv1\""), 1, "[1,");
  expect_rejected(json, RejectReason::wrong_type, "policies[0].policy.policy-string[0]", "expected a string");
}

TEST(ReportParser, UnknownMembersAreNotedNotFatal) {
  auto r = parse(report(R"("x-extension":{"a":[1,2,{"b":null}],"c":true},)"));
  ASSERT_TRUE(r) << r.error().text();
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0].code, note::kUnknownMember);
  EXPECT_EQ(r->notes[0].where, "x-extension");
}

TEST(ReportParser, NotesAreCapped) {
  std::string extra;
  for (int i = 0; i < 300; ++i) extra += "\"x" + std::to_string(i) + "\":1,";
  auto r = parse(report(extra));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->notes.size(), 101u);
  EXPECT_EQ(r->notes.back().code, note::kNotesTruncated);
}

TEST(ReportParser, EmptyPoliciesAreStoredWithANote) {
  auto r = parse(R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"contact-info":"x@y.z","report-id":"r","policies":[]})");
  ASSERT_TRUE(r) << r.error().text();
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0].code, note::kNoPolicies);
}

TEST(ReportParser, DatetimeVariants) {
  for (const char* ok : {"2024-01-01t00:00:00z", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00+00:00",
                         "2024-01-01T02:00:00+02:00"}) {
    std::string json = report();
    json.replace(json.find("2024-01-01T00:00:00Z"), 20, ok);
    auto r = parse(json);
    ASSERT_TRUE(r) << ok << ": " << r.error().text();
    EXPECT_EQ(report_day(r->report), "2024-01-01") << ok;
  }
}

std::string with_domain(const std::string& domain) {
  std::string json = report();
  const std::string from = R"("policy-domain":"example.com")";
  return json.replace(json.find(from), from.size(), R"("policy-domain":)" + domain);
}

TEST(ReportParser, PolicyDomainMustBeAnLdhHostName) {
  // CR/LF, quotes and markup ending in a served domain would reach stats, metrics and
  // alerts as a "domain": refused like any field that breaks RFC 8460 §4.4.
  for (const char* bad : {R"("a\r\nb.example.com")", R"("x\"q.example.com")", R"("<script>x</script>.example.com")",
                          R"("a b.example.com")", R"("a_b.example.com")", R"("-a.example.com")", R"("a..example.com")"})
    expect_rejected(with_domain(bad), RejectReason::invalid_value, "policies[0].policy.policy-domain", "not a");
  auto idn = parse(with_domain(R"("B\u00fccher.Example.com.")"));
  ASSERT_TRUE(idn) << idn.error().text();
  EXPECT_EQ(idn->report.policies[0].policy.domain, "xn--bcher-kva.example.com");
}

TEST(ReportParser, SessionsPerReportAreCapped) {
  Limits small;
  small.max_sessions_per_report = 10;
  auto ok = parse(report("", R"("total-successful-session-count":9,"total-failure-session-count":1)"), small);
  EXPECT_TRUE(ok) << ok.error().text();
  expect_rejected(report("", R"("total-successful-session-count":10,"total-failure-session-count":1)"),
                  RejectReason::count_too_large, "policies[0].summary", "max_sessions_per_report", small);
  // The default: 10^12 a report, so 1000 policies of 2^53-1 are refused.
  std::string pols;
  for (int i = 0; i < 1000; ++i)
    pols += std::string(i ? "," : "") +
            R"({"policy":{"policy-type":"sts","policy-domain":"e.x"},"summary":{"total-successful-session-count":9007199254740991,"total-failure-session-count":0}})";
  expect_rejected(R"({"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"r","policies":[)" +
                      pols + "]}",
                  RejectReason::count_too_large, "policies[0].summary", "1000000000000");
}

// Review finding 9: the failure-details' counts join the bound, summed without wrapping.
TEST(ReportParser, FailureDetailCountsArePerReportCappedToo) {
  auto details = [](int n, const std::string& count) {
    std::string s;
    for (int i = 0; i < n; ++i)
      s += std::string(i ? "," : "") + R"({"result-type":"certificate-expired","failed-session-count":)" + count + "}";
    return s;
  };
  const std::string one_failure = R"("total-successful-session-count":0,"total-failure-session-count":1)";
  // 10 000 x (2^53-1) would wrap a uint64 sum (9.0e19 > 1.8e19): refused, not wrapped.
  expect_rejected(report("", one_failure, details(10'000, "9007199254740991")), RejectReason::count_too_large,
                  "policies[0].failure-details", "max_sessions_per_report");
  // The same bound as the summaries (limits.max_sessions_per_report), summed over the report.
  Limits small;
  small.max_sessions_per_report = 10;
  auto ok = parse(report("", one_failure, details(10, "1")), small);
  ASSERT_TRUE(ok) << ok.error().text();
  EXPECT_EQ(ok->report.policies[0].failures.size(), 10u);
  expect_rejected(report("", one_failure, details(11, "1")), RejectReason::count_too_large,
                  "policies[0].failure-details", "max_sessions_per_report", small);
  // A real sum mismatch below the bound is still only noted (quirk(mailru)).
  auto noted = parse(report("", one_failure, details(3, "2")));
  ASSERT_TRUE(noted) << noted.error().text();
  EXPECT_TRUE(std::any_of(noted->notes.begin(), noted->notes.end(),
                          [](const Note& n) { return n.code == note::kFailureSumMismatch; }));
}

}  // namespace
}  // namespace tlsrpt
