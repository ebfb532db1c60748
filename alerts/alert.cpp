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

}  // namespace tlsrpt::alerts
