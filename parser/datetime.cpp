// RFC 3339 §5.6: date-time = full-date "T" full-time; full-time = partial-time
// time-offset. The offset is mandatory in the RFC; its absence is a tolerated quirk.
#include "parser/datetime.hpp"

#include <cstdio>

namespace tlsrpt {
namespace {

struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  bool digits(std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    out = v;
    return true;
  }
  bool lit(char c) {
    if (peek() != c) return false;
    ++i;
    return true;
  }
};

}  // namespace

std::expected<ParsedDateTime, std::string> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  Cursor c{s};
  int y, mo, d, h, mi, sec;
  if (!c.digits(4, y) || !c.lit('-') || !c.digits(2, mo) || !c.lit('-') || !c.digits(2, d))
    return std::unexpected("not an RFC 3339 date-time (expected YYYY-MM-DDThh:mm:ssZ)");
  // RFC 3339 §5.6 note: "T" may be lower case.
  if (!(c.lit('T') || c.lit('t')))
    return std::unexpected("not an RFC 3339 date-time (expected 'T' after the date)");
  if (!c.digits(2, h) || !c.lit(':') || !c.digits(2, mi) || !c.lit(':') || !c.digits(2, sec))
    return std::unexpected("not an RFC 3339 date-time (expected hh:mm:ss)");
  ParsedDateTime out;
  if (c.lit('.')) {
    std::size_t start = c.i;
    while (!c.done() && c.peek() >= '0' && c.peek() <= '9') ++c.i;
    if (c.i == start) return std::unexpected("not an RFC 3339 date-time (empty fraction)");
    out.had_fraction = true;
  }
  int offset_minutes = 0;
  if (c.done()) {
    out.had_zone = false;  // quirk(microsoft): "2023-01-10T00:00:00", read as UTC
  } else if (c.lit('Z') || c.lit('z')) {
  } else if (c.peek() == '+' || c.peek() == '-') {
    int sign = c.peek() == '-' ? -1 : 1;
    ++c.i;
    int oh, om;
    if (!c.digits(2, oh) || !c.lit(':') || !c.digits(2, om) || oh > 23 || om > 59)
      return std::unexpected("not an RFC 3339 date-time (bad time offset)");
    offset_minutes = sign * (oh * 60 + om);
    out.utc = offset_minutes == 0;
  } else {
    return std::unexpected("not an RFC 3339 date-time (bad time zone)");
  }
  if (!c.done()) return std::unexpected("not an RFC 3339 date-time (trailing characters)");

  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::unexpected("not a valid calendar date");
  // RFC 3339 §5.6: time-hour 00-23 (no "24:00"), time-second 00-60 (leap second).
  if (h > 23) return std::unexpected("hour out of range (00-23)");
  if (mi > 59) return std::unexpected("minute out of range (00-59)");
  if (sec > 60) return std::unexpected("second out of range (00-60)");
  out.time = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} - minutes{offset_minutes};
  return out;
}

std::string format_rfc3339(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  auto days = floor<std::chrono::days>(t);
  year_month_day ymd{days};
  hh_mm_ss hms{t - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count() % 24), static_cast<int>(hms.minutes().count() % 60),
                static_cast<int>(hms.seconds().count() % 60));
  return buf;
}

std::string format_date(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  year_month_day ymd{floor<days>(t)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::expected<std::chrono::sys_days, std::string> parse_date(std::string_view s) {
  using namespace std::chrono;
  Cursor c{s};
  int y, mo, d;
  if (!c.digits(4, y) || !c.lit('-') || !c.digits(2, mo) || !c.lit('-') || !c.digits(2, d) ||
      !c.done())
    return std::unexpected("expected a date as YYYY-MM-DD");
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::unexpected("not a valid calendar date");
  return sys_days{ymd};
}

}  // namespace tlsrpt
