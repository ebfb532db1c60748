// Why an input was refused: a value, never an exception (docs/architecture.md#errors). Every
// rejection names its reason (a stable token for metrics and replies), the path of
// the field at fault, and a lower-case message without a trailing period.
#pragma once

#include <string>
#include <string_view>

namespace tlsrpt {

enum class RejectReason {
  empty,              // nothing to parse
  too_large,          // over a size cap (compressed body, decompressed report)
  gzip_ratio,         // inflated past the compression-ratio cap (a gzip bomb)
  gzip_corrupt,       // bad gzip header, deflate data or CRC/ISIZE trailer
  gzip_truncated,     // the gzip stream ends early
  nested_gzip,        // gzip inside gzip
  not_json,           // not a JSON document at all, or JSON syntax errors
  invalid_utf8,       // I-JSON §2.1
  wrong_type,         // a member has the wrong JSON type
  missing_field,      // a required member is absent
  duplicate_member,   // I-JSON §2.3: a known member appears twice
  invalid_value,      // a value breaks the RFC (inverted date range, empty id ...)
  invalid_datetime,   // not an RFC 3339 date-time
  invalid_count,      // negative, fractional or non-numeric session count
  count_too_large,    // above 2^53-1 (I-JSON §2.2)
  too_deep,           // nesting deeper than the limit
  too_many_items,     // more policies / failure-details / values than the limits
  not_a_report,       // a mail or file that holds no TLS report
  unsupported,        // a format this build cannot read (yet)
};

std::string_view to_token(RejectReason r);

struct Error {
  RejectReason reason = RejectReason::not_json;
  std::string where;    // JSON path such as "policies[0].summary", or "" for the whole input
  std::string message;  // "missing \"total-failure-session-count\""

  // "policies[0].summary: missing ..." or just the message when there is no path.
  std::string text() const { return where.empty() ? message : where + ": " + message; }
};

}  // namespace tlsrpt
