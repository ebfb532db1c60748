// The TLS-RPT domain model (RFC 8460 §4.4): what a report says, after parsing and
// normalisation. Plain values only: no I/O, no JSON, no SQL. Wire tokens live in
// tokens.cpp and nowhere else.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt {

using Count = std::uint64_t;
// I-JSON (RFC 7493 §2.2): integers above 2^53-1 are not exact in a double.
inline constexpr Count kMaxCount = (Count{1} << 53) - 1;

using SysSeconds = std::chrono::sys_seconds;

// RFC 8460 §4.4 "policy-type". The set is closed by the RFC, but senders invent
// values (mail-auth-3: "invalid-policy-type"); those are kept as their token.
enum class PolicyType { sts, tlsa, no_policy_found, unknown };

// RFC 8460 §4.3 and the IANA "STARTTLS Validation Result Types" registry, which is
// open (Expert Review): an unknown result type is kept as its token, never refused.
enum class ResultType {
  starttls_not_supported,
  certificate_host_mismatch,
  certificate_expired,
  certificate_not_trusted,
  validation_failure,
  tlsa_invalid,
  dnssec_invalid,
  dane_required,
  sts_policy_fetch_error,
  sts_policy_invalid,
  sts_webpki_invalid,
  unknown,
};

// An enum that keeps the sender's token when it is not one we know.
template <class Enum>
struct OpenEnum {
  Enum value = Enum::unknown;
  std::string unknown_token;  // set only when value == Enum::unknown

  bool known() const { return value != Enum::unknown; }
  std::string_view token() const;  // the wire token, known or not
  bool operator==(const OpenEnum&) const = default;
};

// Wire token <-> enum (tokens.cpp).
std::string_view to_token(PolicyType t);
std::string_view to_token(ResultType t);
OpenEnum<PolicyType> policy_type_from_token(std::string_view token);
OpenEnum<ResultType> result_type_from_token(std::string_view token);

template <>
inline std::string_view OpenEnum<PolicyType>::token() const {
  return known() ? to_token(value) : std::string_view(unknown_token);
}
template <>
inline std::string_view OpenEnum<ResultType>::token() const {
  return known() ? to_token(value) : std::string_view(unknown_token);
}

struct DateRange {
  SysSeconds start;
  SysSeconds end;
  bool operator==(const DateRange&) const = default;
};

struct Policy {
  OpenEnum<PolicyType> type;
  std::vector<std::string> strings;  // policy-string lines / TLSA RRs, as applied
  std::string domain;                // A-labels, lower case, no trailing dot
  std::vector<std::string> mx_hosts;  // mx-host patterns (sts only)
  bool operator==(const Policy&) const = default;
};

struct Summary {
  Count successful = 0;
  Count failed = 0;
  bool operator==(const Summary&) const = default;
};

struct FailureDetail {
  OpenEnum<ResultType> result_type;
  std::optional<std::string> sending_mta_ip;
  std::optional<std::string> receiving_mx_hostname;
  std::optional<std::string> receiving_mx_helo;
  std::optional<std::string> receiving_ip;
  Count failed_session_count = 0;
  std::optional<std::string> additional_information;
  std::optional<std::string> failure_reason_code;
  bool operator==(const FailureDetail&) const = default;
};

struct PolicyResult {
  Policy policy;
  Summary summary;
  std::vector<FailureDetail> failures;
  bool operator==(const PolicyResult&) const = default;
};

struct Report {
  std::string organization_name;
  DateRange date_range;
  std::optional<std::string> contact_info;
  std::string report_id;
  std::vector<PolicyResult> policies;
  bool operator==(const Report&) const = default;
};

// A tolerated deviation from RFC 8460, stored with the report ("data-quality note").
// `code` is a stable token (see notes.hpp), `where` the JSON path, `detail` free text.
struct Note {
  std::string code;
  std::string where;
  std::string detail;
  bool operator==(const Note&) const = default;
};

struct ParsedReport {
  Report report;
  std::vector<Note> notes;
};

// The UTC date of the report's start, YYYY-MM-DD: the `day` of policy_daily.
std::string report_day(const Report& r);

}  // namespace tlsrpt
