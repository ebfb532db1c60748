#include "daemon/protocol/report_checks.hpp"

#include "parser/datetime.hpp"

namespace tlsrpt::daemon {

std::optional<Error> check_received(const Report& report, std::chrono::sys_seconds received_at) {
  // A report dated years ahead is not a report of a day that ended; counting it
  // would put sessions on days that have not happened (scenario 12 in
  // docs/guarantees.md#reliability-scenarios).
  if (report.date_range.start > received_at + kMaxReportAhead)
    return Error{RejectReason::invalid_value, "date-range",
                 "start-datetime " + format_rfc3339(report.date_range.start) + " is more than " +
                     std::to_string(kMaxReportAhead.count()) + " hours after the report was received (" +
                     format_rfc3339(received_at) + ")"};
  return std::nullopt;
}

}  // namespace tlsrpt::daemon
