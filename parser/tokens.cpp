// The wire tokens of RFC 8460 §4.4 (policy-type) and §4.3/IANA (result-type): the
// only place where they are spelled.
#include "parser/error.hpp"
#include "parser/report.hpp"

#include <array>
#include <utility>

namespace tlsrpt {
namespace {

constexpr std::array<std::pair<PolicyType, std::string_view>, 3> kPolicyTypes{{
    {PolicyType::sts, "sts"},
    {PolicyType::tlsa, "tlsa"},
    {PolicyType::no_policy_found, "no-policy-found"},
}};

constexpr std::array<std::pair<ResultType, std::string_view>, 11> kResultTypes{{
    {ResultType::starttls_not_supported, "starttls-not-supported"},
    {ResultType::certificate_host_mismatch, "certificate-host-mismatch"},
    {ResultType::certificate_expired, "certificate-expired"},
    {ResultType::certificate_not_trusted, "certificate-not-trusted"},
    {ResultType::validation_failure, "validation-failure"},
    {ResultType::tlsa_invalid, "tlsa-invalid"},
    {ResultType::dnssec_invalid, "dnssec-invalid"},
    {ResultType::dane_required, "dane-required"},
    {ResultType::sts_policy_fetch_error, "sts-policy-fetch-error"},
    {ResultType::sts_policy_invalid, "sts-policy-invalid"},
    {ResultType::sts_webpki_invalid, "sts-webpki-invalid"},
}};

template <class Enum, std::size_t N>
std::string_view find_token(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum e) {
  for (const auto& [value, token] : table)
    if (value == e) return token;
  return "unknown";
}

template <class Enum, std::size_t N>
OpenEnum<Enum> find_enum(const std::array<std::pair<Enum, std::string_view>, N>& table,
                         std::string_view token) {
  for (const auto& [value, t] : table)
    if (t == token) return {value, {}};
  return {Enum::unknown, std::string(token)};
}

}  // namespace

std::string_view to_token(PolicyType t) { return find_token(kPolicyTypes, t); }
std::string_view to_token(ResultType t) { return find_token(kResultTypes, t); }
OpenEnum<PolicyType> policy_type_from_token(std::string_view token) {
  return find_enum(kPolicyTypes, token);
}
OpenEnum<ResultType> result_type_from_token(std::string_view token) {
  return find_enum(kResultTypes, token);
}

std::string_view to_token(RejectReason r) {
  switch (r) {
    case RejectReason::empty: return "empty";
    case RejectReason::too_large: return "too-large";
    case RejectReason::gzip_ratio: return "gzip-ratio";
    case RejectReason::gzip_corrupt: return "gzip-corrupt";
    case RejectReason::gzip_truncated: return "gzip-truncated";
    case RejectReason::nested_gzip: return "nested-gzip";
    case RejectReason::not_json: return "not-json";
    case RejectReason::invalid_utf8: return "invalid-utf8";
    case RejectReason::wrong_type: return "wrong-type";
    case RejectReason::missing_field: return "missing-field";
    case RejectReason::duplicate_member: return "duplicate-member";
    case RejectReason::invalid_value: return "invalid-value";
    case RejectReason::invalid_datetime: return "invalid-datetime";
    case RejectReason::invalid_count: return "invalid-count";
    case RejectReason::count_too_large: return "count-too-large";
    case RejectReason::too_deep: return "too-deep";
    case RejectReason::too_many_items: return "too-many-items";
    case RejectReason::not_a_report: return "not-a-report";
    case RejectReason::unsupported: return "unsupported";
  }
  return "unknown";
}

}  // namespace tlsrpt
