// Read-side queries behind `tlsrptd stats`: per policy domain and type, sessions
// and failures over a day range, read from the stable views (policy_daily,
// failure_daily) so the CLI shows exactly what an admin's own SQL would.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "parser/report.hpp"
#include "storage/sqlite.hpp"

namespace tlsrpt::storage {

struct StatsFilter {
  std::optional<std::string> domain;  // policy domain, exact (normalised by the caller)
  std::optional<std::string> since;   // YYYY-MM-DD, inclusive
  std::optional<std::string> until;   // YYYY-MM-DD, inclusive
};

struct FailureCount {
  std::string result_type;
  std::optional<std::string> receiving_mx_hostname;
  Count failed_sessions = 0;
};

// Who reported, as docs/receiver-rules.md#report-identity tells reporters apart.
struct ReporterCount {
  std::string organization_name;
  std::string signing_domain;  // the aligned DKIM d=; "" when not authenticated by DKIM
  Count reports = 0;
  Count successful_sessions = 0;
  Count failed_sessions = 0;
};

struct PolicyStats {
  std::string policy_domain;  // "" for policies no domain could be attributed to
  std::string policy_type;
  Count successful_sessions = 0;
  Count failed_sessions = 0;
  Count reports = 0;
  Count conflicts = 0;  // reports kept but not counted (same reporter and report-id, other content)
  std::string first_day, last_day;
  std::vector<FailureCount> failures;  // largest first
  std::vector<ReporterCount> reporters;  // most sessions first
  // successful / (successful + failed); nullopt when there were no sessions.
  std::optional<double> success_rate() const;
};

// Per policy domain and type, from the views; then the unattributed policies (policy
// domain "", counted for no domain, docs/receiver-rules.md#domains), if any.
std::expected<std::vector<PolicyStats>, StoreError> query_stats(Db& db, const StatsFilter& filter);

}  // namespace tlsrpt::storage
