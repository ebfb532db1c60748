// An alert: what the drift detectors raise after a report is stored (design §1,
// hop [5]). The detectors and sinks arrive with the alerts issue; this header fixes
// the value type they share.
#pragma once

#include <string>
#include <string_view>

namespace tlsrpt::alerts {

enum class Severity { info, warning, critical };
std::string_view to_token(Severity s);

struct Alert {
  std::string kind;  // "mx-change", "certificate-change", "starttls-failure", ...
  Severity severity = Severity::info;
  std::string policy_domain;
  std::string policy_type;
  std::string day;
  std::string summary;
  std::string explanation;
  std::string evidence_json;
};

}  // namespace tlsrpt::alerts
