// Checks of a parsed report against the moment it was received: what the parser,
// which has no clock, cannot judge. Pure: the caller passes the time; nothing here
// reads a clock, a socket or the database.
#pragma once

#include <chrono>
#include <optional>

#include "parser/error.hpp"
#include "parser/report.hpp"

namespace tlsrpt::daemon {

// RFC 8460 §4.1: a report covers a day that has ended. A sender's clock may be off,
// and a day ends up to 14 hours later in the eastmost zones than in UTC: a report
// may start at most this long after it was received; later ones are refused.
inline constexpr std::chrono::hours kMaxReportAhead{24};

// An error (RejectReason::invalid_value at "date-range") for a report whose
// date-range starts more than kMaxReportAhead after `received_at`.
std::optional<Error> check_received(const Report& report, std::chrono::sys_seconds received_at);

}  // namespace tlsrpt::daemon
