#include "alerts/alert.hpp"

namespace tlsrpt::alerts {

std::string_view to_token(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
  }
  return "info";
}

std::optional<Severity> severity_from_token(std::string_view token) {
  if (token == "info") return Severity::info;
  if (token == "warning") return Severity::warning;
  if (token == "critical") return Severity::critical;
  return std::nullopt;
}

std::string_view kind_title(std::string_view kind) {
  if (kind == kMxChange) return "MX change";
  if (kind == kCertificateChange) return "Certificate change";
  if (kind == kStarttlsFailure) return "STARTTLS failure";
  if (kind == kPolicyFailure) return "Policy failure";
  if (kind == kFailureRate) return "Failure rate";
  if (kind == kAlertsSuppressed) return "Alerts suppressed";
  return "Alert";
}

namespace {

void strings(JsonWriter& w, std::string_view key, const std::vector<std::string>& v) {
  w.key(key).begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
}

void counts(JsonWriter& w, std::string_view key, std::string_view name_key, const std::vector<NamedCount>& v) {
  w.key(key).begin_array();
  for (const auto& c : v) {
    w.begin_object();
    w.member(name_key, std::string_view(c.name));
    w.member("sessions", c.sessions);
    w.end_object();
  }
  w.end_array();
}

}  // namespace

void write_json(JsonWriter& w, const Evidence& e) {
  w.begin_object();
  strings(w, "reporters", e.reporters);
  strings(w, "reporter_ids", e.reporter_ids);
  w.member("sources", std::string_view(e.sources));
  w.member("reports", e.reports);
  w.member("successful_sessions", e.successful_sessions);
  w.member("failed_sessions", e.failed_sessions);
  if (e.failure_ratio) w.member("failure_ratio", *e.failure_ratio);
  if (e.baseline_failure_ratio) w.member("baseline_failure_ratio", *e.baseline_failure_ratio);
  counts(w, "result_types", "result_type", e.result_types);
  counts(w, "mx_hosts", "mx_host", e.mx_hosts);
  strings(w, "old_policy", e.old_policy);
  strings(w, "new_policy", e.new_policy);
  strings(w, "added", e.added);
  strings(w, "removed", e.removed);
  w.member("first_report", e.first_report);
  w.member("baseline_days", e.baseline_days);
  if (e.suppressed) w.member("suppressed", e.suppressed);
  w.end_object();
}

std::string to_json(const Evidence& e) {
  std::string out;
  JsonWriter w(out);
  write_json(w, e);
  return out;
}

void write_json(JsonWriter& w, const Alert& a) {
  w.begin_object();
  if (a.id) w.member("id", a.id);
  w.member("kind", std::string_view(a.kind));
  w.member("severity", to_token(a.severity));
  w.member("policy_domain", std::string_view(a.policy_domain));
  w.member("policy_type", std::string_view(a.policy_type));
  w.member("day", std::string_view(a.day));
  w.member("summary", std::string_view(a.summary));
  w.member("explanation", std::string_view(a.explanation));
  w.member("notification", std::string_view(a.notification));
  w.key("evidence");
  write_json(w, a.evidence);
  w.end_object();
}

std::string to_json(const Alert& a) {
  std::string out;
  JsonWriter w(out);
  write_json(w, a);
  return out;
}

}  // namespace tlsrpt::alerts
