// RFC 3339 §5.6 date-time parsing and formatting for report date ranges. Pure
// functions over strings; no clock, no time zones database.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>

namespace tlsrpt {

struct ParsedDateTime {
  std::chrono::sys_seconds time;  // UTC
  bool had_zone = true;           // false: no "Z"/offset, read as UTC (quirk(microsoft))
  bool utc = true;                // zone was Z, +00:00 or -00:00
  bool had_fraction = false;      // fractional seconds were dropped
};

// Accepts "2016-04-01T00:00:00Z", lower-case t/z, fractional seconds, numeric
// offsets, and (tolerated) no zone at all. Refuses hour 24, impossible dates and
// anything else, with a lower-case reason.
std::expected<ParsedDateTime, std::string> parse_rfc3339(std::string_view s);

// "2016-04-01T00:00:00Z"
std::string format_rfc3339(std::chrono::sys_seconds t);
// "2016-04-01"
std::string format_date(std::chrono::sys_seconds t);
// "2016-04-01" -> midnight UTC of that day.
std::expected<std::chrono::sys_days, std::string> parse_date(std::string_view s);

}  // namespace tlsrpt
