// daemon/protocol/report_checks.cpp: a report's dates against the moment it was received
// (docs/receiver-rules.md#intake; reliability scenario 12 sends one dated years ahead).
#include "daemon/protocol/report_checks.hpp"

#include <gtest/gtest.h>

#include "parser/datetime.hpp"

namespace tlsrpt::daemon {
namespace {

std::chrono::sys_seconds at(const char* text) { return parse_rfc3339(text)->time; }

Report day(const char* start, const char* end) {
  Report r;
  r.date_range = {at(start), at(end)};
  return r;
}

TEST(CheckReceived, PastAndCurrentDaysPass) {
  const auto now = at("2026-11-29T10:00:00Z");
  EXPECT_FALSE(check_received(day("2026-11-28T00:00:00Z", "2026-11-28T23:59:59Z"), now));
  EXPECT_FALSE(check_received(day("2016-04-01T00:00:00Z", "2016-04-02T00:00:00Z"), now));
  // A sender whose clock runs ahead, or in UTC+14: today's and tomorrow's date still pass.
  EXPECT_FALSE(check_received(day("2026-11-29T00:00:00Z", "2026-11-29T23:59:59Z"), now));
  EXPECT_FALSE(check_received(day("2026-11-30T10:00:00Z", "2026-12-01T10:00:00Z"), now));
}

TEST(CheckReceived, FarAheadIsRefused) {
  const auto now = at("2026-11-29T10:00:00Z");
  auto e = check_received(day("2036-11-01T00:00:00Z", "2036-11-01T23:59:59Z"), now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->reason, RejectReason::invalid_value);
  EXPECT_EQ(e->where, "date-range");
  EXPECT_EQ(e->message,
            "start-datetime 2036-11-01T00:00:00Z is more than 24 hours after the report was received "
            "(2026-11-29T10:00:00Z)");
  EXPECT_TRUE(check_received(day("2026-11-30T10:00:01Z", "2026-12-01T10:00:00Z"), now));
}

}  // namespace
}  // namespace tlsrpt::daemon
