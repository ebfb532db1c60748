// parser/datetime.cpp: RFC 3339 §5.6 date-times as reports carry them.
#include "parser/datetime.hpp"

#include <gtest/gtest.h>

namespace tlsrpt {
namespace {

using namespace std::chrono;

sys_seconds at(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

TEST(Datetime, Utc) {
  auto r = parse_rfc3339("2016-04-01T23:59:59Z");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->time, at(2016, 4, 1, 23, 59, 59));
  EXPECT_TRUE(r->had_zone);
  EXPECT_TRUE(r->utc);
}

TEST(Datetime, LowerCaseAndFraction) {
  auto r = parse_rfc3339("2016-04-01t12:00:00.123456z");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->time, at(2016, 4, 1, 12));
  EXPECT_TRUE(r->had_fraction);
}

TEST(Datetime, OffsetsConvertToUtc) {
  auto r = parse_rfc3339("2016-04-01T02:30:00+02:30");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->time, at(2016, 4, 1, 0, 0, 0));
  EXPECT_FALSE(r->utc);
  r = parse_rfc3339("2016-04-01T22:00:00-02:00");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->time, at(2016, 4, 2, 0, 0, 0));
  r = parse_rfc3339("2016-04-01T00:00:00-00:00");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->utc);
}

TEST(Datetime, MissingZoneIsReadAsUtc) {
  // quirk(microsoft): "2023-01-10T00:00:00"
  auto r = parse_rfc3339("2023-01-10T00:00:00");
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->had_zone);
  EXPECT_EQ(r->time, at(2023, 1, 10));
}

TEST(Datetime, LeapSecondAndLeapDay) {
  EXPECT_TRUE(parse_rfc3339("2016-12-31T23:59:60Z"));
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
}

TEST(Datetime, Refused) {
  for (const char* bad : {"", "2016-04-01", "2016-04-01T24:00:00Z", "2016-04-01T23:60:00Z", "2016-04-01T23:59:61Z",
                          "2016-00-01T00:00:00Z", "2016-04-31T00:00:00Z", "16-04-01T00:00:00Z",
                          "2016-04-01T00:00:00ZZ", "2016-04-01T00:00:00+0200", "2016-04-01T00:00:00.Z",
                          "2016-04-01T00:00:00 Z", "2016/04/01T00:00:00Z", "２０１６-04-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

TEST(Datetime, Formatting) {
  EXPECT_EQ(format_rfc3339(at(2016, 4, 1, 23, 59, 59)), "2016-04-01T23:59:59Z");
  EXPECT_EQ(format_rfc3339(at(1999, 12, 31)), "1999-12-31T00:00:00Z");
  EXPECT_EQ(format_date(at(2016, 4, 1, 23, 59, 59)), "2016-04-01");
}

TEST(Datetime, ParseDate) {
  auto d = parse_date("2024-02-29");
  ASSERT_TRUE(d);
  EXPECT_EQ(sys_seconds{*d}, at(2024, 2, 29));
  EXPECT_FALSE(parse_date("2024-02-30"));
  EXPECT_FALSE(parse_date("2024-2-3"));
  EXPECT_FALSE(parse_date("2024-02-03x"));
}

}  // namespace
}  // namespace tlsrpt
