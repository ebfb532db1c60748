// What the drift detectors look at: one policy domain's observations on the day under
// test and on the days before it (the baseline), as plain values the daemon reads from
// storage. No SQL, no clock: the detectors are pure functions of this.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "parser/report.hpp"

namespace tlsrpt::alerts {

// Failed sessions of one result type at one receiving MX (RFC 8460 §4.4
// failure-details, summed over the reports of an observation).
struct FailureObservation {
  std::string result_type;                           // wire token, known or not
  std::optional<std::string> receiving_mx_hostname;  // as stored (lower case, no trailing dot)
  Count failed_sessions = 0;
};

// One policy as one reporter applied it on one day: the policy blocks of that
// reporter's reports with the same policy type, policy-string and mx-host, summed.
struct PolicyObservation {
  std::string reporter;                    // organization-name
  // The reporter identity (docs/receiver-rules.md#report-identity): "dkim:<d>" when an
  // aligned DKIM signature by <d> authenticated the reports, else "org:<name> <<contact>>".
  std::string reporter_id;
  bool authenticated = true;               // false: HTTPS or failed DKIM (RFC 8460 §7)
  std::string policy_type;                 // "sts", "tlsa", "no-policy-found", or the token sent
  std::vector<std::string> policy_strings;  // as reported (normalised by the detectors)
  std::vector<std::string> mx_hosts;        // mx-host patterns as reported
  Count reports = 1;
  Count successful_sessions = 0;
  Count failed_sessions = 0;
  std::vector<FailureObservation> failures;
};

struct DayObservations {
  std::string day;  // YYYY-MM-DD
  std::vector<PolicyObservation> policies;
};

struct DetectorInput {
  std::string policy_domain;
  DayObservations current;                // the day under test (every report stored for it so far)
  std::vector<DayObservations> baseline;  // earlier days of the window, oldest first; days without data may be absent
};

struct DetectorConfig {
  // failure-rate fires at or above this share of failed sessions, on at least
  // min_sessions sessions of the day, when the share is also at least
  // kBaselineFactor times the baseline's.
  double failure_ratio = 0.05;
  Count min_sessions = 50;
  // Reports flagged unauthenticated count only when this is set (RFC 8460 §7:
  // HTTPS reports are unauthenticated; unsigned mailed reports must be ignored).
  bool trust_unauthenticated = false;
};

// "Well above the baseline" for failure-rate: today's ratio is at least this many
// times the baseline's.
// A baseline with fewer than min_sessions sessions is noise and counts as ratio 0.
inline constexpr unsigned kBaselineFactor = 2;

}  // namespace tlsrpt::alerts
