#include "daemon/protocol/reply_table.hpp"

#include <array>

namespace tlsrpt::daemon {
namespace {

struct Row {
  Outcome outcome;
  std::string_view token;
  Reply reply;
};

// RFC 8460 §5.4: success is "typically a 200 or 201"; §5.5: senders retry for up to
// 24 hours, so anything that might succeed later is a 503 / 4xx SMTP tempfail.
// The size follows the rows (std::to_array): adding an outcome is one line.
constexpr auto kTable = std::to_array<Row>({
    {Outcome::stored, "stored", {200, 250, "2.0.0", "report stored"}},
    {Outcome::duplicate, "duplicate", {200, 250, "2.0.0", "report already stored"}},
    {Outcome::conflict, "conflict", {200, 250, "2.0.0", "report stored (conflicts with a stored report)"}},
    // RFC 8460 §3: an unsigned mailed report MUST be ignored; it is accepted (a
    // bounce would be backscatter to a forged sender), kept, and not counted.
    {Outcome::held, "held", {202, 250, "2.0.0", "report kept but not counted"}},
    {Outcome::malformed, "malformed", {400, 554, "5.6.0", "malformed report"}},
    {Outcome::too_large, "too-large", {413, 552, "5.3.4", "report too large"}},
    {Outcome::unsupported_media, "unsupported-media", {415, 554, "5.6.0", "unsupported media type"}},
    {Outcome::not_a_report, "not-a-report", {400, 554, "5.6.0", "no TLS report found"}},
    {Outcome::no_policy_for_domain, "no-policy-for-domain", {422, 550, "5.7.1", "no policy for a domain served here"}},
    {Outcome::storage_unavailable, "storage-unavailable", {503, 451, "4.3.0", "storage temporarily unavailable, try again later"}},
    {Outcome::overloaded, "overloaded", {503, 421, "4.3.2", "too busy, try again later"}},
    // Connection caps (https/smtp.max_connections, max_connections_per_client): SMTP
    // greets a refused client, and an idle session evicted to make room, with these
    // before closing; HTTPS closes at accept (the 503 is never sent).
    {Outcome::client_connection_limit, "client-connection-limit", {503, 421, "4.7.0", "too many connections from your address, try again later"}},
    {Outcome::connection_limit, "connection-limit", {503, 421, "4.7.0", "too many connections, try again later"}},
    {Outcome::evicted_idle, "evicted-idle", {503, 421, "4.7.0", "idle connection closed to make room, try again later"}},
    // limits.max_unauthenticated_bytes_per_client: Retry-After is the time to 00:00 UTC.
    {Outcome::over_budget, "over-budget", {429, 451, "4.7.0", "too much unauthenticated data from your address today, try again tomorrow"}},
    // limits.min_free_disk: refused before SQLite would fail (RFC 3463 X.3.1: mail system full).
    {Outcome::disk_full, "disk-full", {503, 452, "4.3.1", "insufficient storage, try again later"}},
    {Outcome::method_not_allowed, "method-not-allowed", {405, 502, "5.5.1", "method not allowed"}},
    {Outcome::not_found, "not-found", {404, 550, "5.1.1", "not found"}},
    {Outcome::timeout, "timeout", {408, 421, "4.4.2", "timeout"}},
    // admin.password_file (HTTP only; SMTP has its own AUTH codes, RFC 4954).
    {Outcome::unauthorized, "unauthorized", {401, 530, "5.7.0", "authentication required"}},
    {Outcome::too_many_attempts, "too-many-attempts", {429, 421, "4.7.0", "too many failed authentications, try again later"}},
    {Outcome::bad_request, "bad-request", {400, 500, "5.5.2", "bad request"}},
});

const Row& row(Outcome o) {
  for (const auto& r : kTable)
    if (r.outcome == o) return r;
  return kTable.back();
}

}  // namespace

const Reply& reply_for(Outcome o) { return row(o).reply; }
std::string_view to_token(Outcome o) { return row(o).token; }

Outcome outcome_for(RejectReason r) {
  switch (r) {
    case RejectReason::too_large:
    case RejectReason::gzip_ratio:
      return Outcome::too_large;
    case RejectReason::not_a_report:
      return Outcome::not_a_report;
    case RejectReason::unsupported:
      return Outcome::unsupported_media;
    default:
      return Outcome::malformed;
  }
}

}  // namespace tlsrpt::daemon
