// An alert: what the drift detectors raise after a report is stored (docs/architecture.md#5-alerts,
// hop [5]), and what every sink delivers. Plain values and their JSON form only:
// no I/O, no SQL, no clock. Report-derived strings in here are attacker controlled;
// each sink escapes them for its own output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/json_writer.hpp"
#include "parser/report.hpp"

namespace tlsrpt::alerts {

enum class Severity { info, warning, critical };
std::string_view to_token(Severity s);
std::optional<Severity> severity_from_token(std::string_view token);

// The `kind` strings are part of the interface (README.md#alerts): sinks, the `alerts` view
// and admins' filters match on them.
inline constexpr std::string_view kMxChange = "mx-change";
inline constexpr std::string_view kCertificateChange = "certificate-change";
inline constexpr std::string_view kStarttlsFailure = "starttls-failure";
inline constexpr std::string_view kPolicyFailure = "policy-failure";
inline constexpr std::string_view kFailureRate = "failure-rate";
// Not a detector kind: the "N more alerts suppressed" notice of the hourly cap.
inline constexpr std::string_view kAlertsSuppressed = "alerts-suppressed";

inline constexpr std::string_view kAllKinds[] = {kMxChange, kCertificateChange, kStarttlsFailure, kPolicyFailure,
                                                 kFailureRate};

// "MX change", "Certificate change" ...: the words before the dash in a summary.
std::string_view kind_title(std::string_view kind);

struct NamedCount {
  std::string name;
  Count sessions = 0;
  bool operator==(const NamedCount&) const = default;
};

// What the alert rests on, for an admin to check and for programs to match.
struct Evidence {
  // organization-name of the reports behind it, with the aligned DKIM signer that
  // vouched for it: "Google Inc. (signed by google.com)"
  std::vector<std::string> reporters;
  std::vector<std::string> reporter_ids;  // their identities ("dkim:google.com"): whose alert budget it spends
  std::string sources;                  // "authenticated" | "unauthenticated" | "mixed" (RFC 8460 §7)
  Count reports = 0;                    // reports (policy blocks) behind it
  Count successful_sessions = 0;        // the day's sessions for the domain
  Count failed_sessions = 0;
  std::optional<double> failure_ratio;           // failure-rate only
  std::optional<double> baseline_failure_ratio;  // failure-rate only
  std::vector<NamedCount> result_types;  // failed sessions per result type, largest first
  std::vector<NamedCount> mx_hosts;      // failed sessions per receiving MX, largest first
  std::vector<std::string> old_policy;   // normalised policy lines the baseline saw
  std::vector<std::string> new_policy;   // normalised policy lines of the new day
  std::vector<std::string> added;        // MX patterns / TLSA records now present
  std::vector<std::string> removed;      // ... and now gone
  bool first_report = false;             // no baseline for this domain yet
  int baseline_days = 0;                 // days of baseline data compared against
  std::uint64_t suppressed = 0;          // alerts-suppressed only: how many were held back
  bool operator==(const Evidence&) const = default;
};

struct Alert {
  std::int64_t id = 0;  // the stored alert's row id, 0 before it is stored
  std::string kind;     // one of kAllKinds (or kAlertsSuppressed)
  Severity severity = Severity::info;
  std::string policy_domain;
  std::string policy_type;  // "sts", "tlsa", "no-policy-found", or the sender's token
  std::string day;          // YYYY-MM-DD (UTC): the report day the condition was seen on
  std::string summary;      // one line, starts with kind_title(kind)
  std::string explanation;  // plain language: what it means, what to check, what to do
  Evidence evidence;
  // Why this is being sent: "new", "reminder" (still happening after the cooldown),
  // "escalation" (severity went up) or "summary". Set by the lifecycle.
  std::string notification = "new";
};

// {"kind":...,"severity":...,"policy_domain":...,...,"evidence":{...}}: the file sink's
// line, the webhook's body and `alerts list --format json`'s element.
void write_json(JsonWriter& w, const Alert& a);
std::string to_json(const Alert& a);
void write_json(JsonWriter& w, const Evidence& e);
std::string to_json(const Evidence& e);

}  // namespace tlsrpt::alerts
