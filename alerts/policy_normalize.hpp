// Policy strings brought to one comparable form before the detectors compare them
// (docs/receiver-rules.md#policy-strings-in-alerts: reporters reorder, re-case and re-space the same
// policy). Pure string functions; nothing here looks anything up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::alerts {

// An MTA-STS policy (RFC 8461 §3.2) as a reporter echoed it (RFC 8460 §4.5).
struct StsPolicy {
  std::string mode;               // "enforce", "testing", "none" (lower case), "" when absent
  std::vector<std::string> mx;    // mx patterns: mx lines and mx-host, normalised, sorted, unique
  std::vector<std::string> lines;  // normalised policy lines, for evidence
};

// Lenient: LF or CRLF inside strings, missing space after the colon, any key case,
// unknown keys kept; RFC 8461 §3.2: of a repeated non-mx field only the first counts.
StsPolicy normalize_sts(const std::vector<std::string>& policy_strings, const std::vector<std::string>& mx_hosts);

// Trim, lower case, drop one trailing dot.
std::string normalize_mx_name(std::string_view name);

// TLSA RRs (RFC 6698 §2.2 presentation form) as a set: fields single-spaced, numbers
// without leading zeros, hex upper case (case-insensitive per RFC 6698), sorted, unique.
std::vector<std::string> normalize_tlsa(const std::vector<std::string>& records);

// RFC 8461 §4.1: a pattern is a full name, or "*." plus a suffix where "*" stands for
// exactly one whole left-most label. Both arguments normalised.
bool mx_pattern_matches(std::string_view pattern, std::string_view host);
bool mx_covered(const std::vector<std::string>& patterns, std::string_view host);

// Sorted set differences a \ b (inputs sorted).
std::vector<std::string> set_minus(const std::vector<std::string>& a, const std::vector<std::string>& b);

}  // namespace tlsrpt::alerts
