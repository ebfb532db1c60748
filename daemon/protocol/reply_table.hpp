// ONE table from an ingestion outcome to what each transport answers (docs/receiver-rules.md#reply-table):
// HTTP status, SMTP reply code and enhanced status code, and the text. Transports
// never invent replies for outcomes; Postfix keeps its status map the same way.
#pragma once

#include <string_view>

#include "parser/error.hpp"

namespace tlsrpt::daemon {

enum class Outcome {
  stored,               // committed and counted
  duplicate,            // committed earlier: success, counted once
  conflict,             // committed, flagged (same report-id, other content)
  held,                 // a mailed report kept but not counted (no valid DKIM signature)
  malformed,            // not a valid report (JSON, schema, gzip)
  too_large,            // over a size cap
  unsupported_media,    // a media type or content encoding we do not take
  not_a_report,         // a mail without a TLS report
  no_policy_for_domain, // every policy is for a domain we do not serve
  storage_unavailable,  // the commit failed (busy, full, I/O): try again later
  overloaded,           // too many connections or bytes in flight: try again later
  client_connection_limit,  // the client is at max_connections_per_client (SMTP: 421 before closing)
  connection_limit,         // max_connections reached and no idle connection to evict
  evicted_idle,             // an idle connection closed to make room for a new one
  over_budget,          // the client's unauthenticated bytes today are spent: try tomorrow
  disk_full,            // the database's filesystem is below limits.min_free_disk: try later
  method_not_allowed,
  not_found,
  bad_request,          // HTTP framing problems
  unauthorized,         // the admin listener without valid credentials (admin.password_file)
  too_many_attempts,    // the admin listener after too many failed credentials from one address
  timeout,
};

struct Reply {
  int http_status;
  int smtp_code;
  std::string_view enhanced;  // RFC 3463
  std::string_view text;      // lower case, for people
  bool success() const { return http_status >= 200 && http_status < 300; }
  bool retry_later() const { return http_status == 503 || http_status == 429; }
};

const Reply& reply_for(Outcome o);
std::string_view to_token(Outcome o);

// The outcome for a rejected input (RejectReason from the parser).
Outcome outcome_for(RejectReason r);

}  // namespace tlsrpt::daemon
