// The drift detectors (README.md#alerts): one policy domain's day against its baseline ->
// the conditions present that day, as alerts with plain-language text and evidence,
// plus which kinds the day shows as clean (so open alerts can be resolved). Pure
// functions: no storage, no clock, no configuration files.
#pragma once

#include <string>
#include <vector>

#include "alerts/alert.hpp"
#include "alerts/detector_input.hpp"

namespace tlsrpt::alerts {

struct Finding {
  Alert alert;
  // The condition is new compared with the baseline (a change, or failures absent on
  // the latest earlier day with data, or no baseline at all for failure kinds): it may
  // open an alert. Otherwise it only keeps an already open alert alive.
  bool opens = false;
  // At least one authenticated report is behind it (see DetectorConfig).
  bool authenticated = true;
};

struct Evaluation {
  std::vector<Finding> findings;         // at most one per kind
  std::vector<std::string> clean_kinds;  // kinds whose condition the day's reports show absent
};

// Kinds neither in findings nor in clean_kinds could not be judged from the day's
// reports (no policy of the relevant type, or failure-rate held back because a more
// specific failure alert explains the failures).
Evaluation evaluate(const DetectorInput& in, const DetectorConfig& cfg);

// Longest report-derived name quoted in a summary or explanation; longer ones are cut
// (the evidence keeps kMaxEvidenceText bytes).
inline constexpr std::size_t kMaxNameInText = 100;
inline constexpr std::size_t kMaxEvidenceText = 512;
// Most entries in one evidence list (reporters, MX hosts, policy lines ...).
inline constexpr std::size_t kMaxEvidenceItems = 50;

}  // namespace tlsrpt::alerts
