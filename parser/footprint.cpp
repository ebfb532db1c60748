#include "parser/footprint.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "parser/notes.hpp"
#include "parser/text.hpp"

namespace tlsrpt {
namespace {

// Step 1 on one string; true when it was cut.
bool cut(std::string& s, std::size_t max) {
  if (s.size() <= max) return false;
  s.resize(cut_utf8(s, max).size());
  return true;
}

// The optional strings of a failure-detail, in one list for the steps below.
std::array<std::optional<std::string>*, 6> strings_of(FailureDetail& f) {
  return {&f.sending_mta_ip, &f.receiving_mx_hostname, &f.receiving_mx_helo, &f.receiving_ip,
          &f.additional_information, &f.failure_reason_code};
}

// The text a policy's row keeps, within what is left of the budget.
void bound_policy(Policy& policy, std::size_t& left, FootprintSummary& sum) {
  for (auto* list : {&policy.strings, &policy.mx_hosts}) {
    std::size_t kept = 0;
    for (auto& s : *list) {
      if (s.size() > left) break;
      left -= s.size();
      ++kept;
    }
    sum.strings_dropped += list->size() - kept;
    list->resize(kept);
  }
}

// Steps 1 and 2 on one failure-detail.
void bound_failure(FailureDetail& f, std::size_t max, std::size_t& left, FootprintSummary& sum) {
  std::size_t bytes = 0;
  const std::size_t row_max = kRowTextStrings * max;
  for (auto* field : strings_of(f)) {
    if (!*field) continue;
    if (bytes >= row_max && !(*field)->empty()) {  // the row's text is spent
      field->reset();
      ++sum.strings_dropped;
      continue;
    }
    if (cut(**field, std::min(max, row_max - bytes))) ++sum.strings_cut;
    bytes += (*field)->size();
  }
  if (!f.result_type.known()) {
    if (cut(f.result_type.unknown_token, max)) ++sum.strings_cut;
    bytes += f.result_type.unknown_token.size();
  }
  if (bytes <= left) {
    left -= bytes;
    return;
  }
  for (auto* field : strings_of(f)) {
    if (*field) ++sum.strings_dropped;
    field->reset();
  }
  if (!f.result_type.known() && f.result_type.unknown_token != "unspecified") {
    f.result_type.unknown_token = "unspecified";
    ++sum.strings_dropped;
  }
}

// What makes a failure row distinct: every stored field but the count.
std::string row_key(FailureDetail& f) {
  std::string key(f.result_type.token());
  for (auto* field : strings_of(f)) {
    key += '\x1f';  // a separator, with presence: absent and "" differ
    if (*field) key += std::to_string((*field)->size()) + ":" + **field;
  }
  return key;
}

// Step 3: identical rows of one policy merged into the first, in order.
std::size_t merge_failures(std::vector<FailureDetail>& failures) {
  std::unordered_map<std::string, std::size_t> first;
  std::vector<FailureDetail> kept;
  for (auto& f : failures) {
    auto [it, fresh] = first.try_emplace(row_key(f), kept.size());
    if (fresh) {
      kept.push_back(std::move(f));
      continue;
    }
    Count& c = kept[it->second].failed_session_count;
    c = std::min<Count>(kMaxCount, c + std::min(kMaxCount, f.failed_session_count));
  }
  const std::size_t merged = failures.size() - kept.size();
  failures = std::move(kept);
  return merged;
}

}  // namespace

std::size_t stored_text_budget(const Limits& limits, std::size_t submission_bytes) {
  const std::size_t floor = kStoredTextFloorStrings * limits.max_stored_text_bytes;
  return std::max(floor, limits.max_stored_text_ratio * submission_bytes);
}

FootprintSummary bound_footprint(ParsedReport& parsed, const Limits& limits, std::size_t submission_bytes) {
  FootprintSummary sum;
  std::size_t left = stored_text_budget(limits, submission_bytes);
  std::size_t details = 0;
  for (auto& pr : parsed.report.policies) {
    bound_policy(pr.policy, left, sum);
    for (auto& f : pr.failures) bound_failure(f, limits.max_stored_text_bytes, left, sum);
    details += pr.failures.size();
    sum.details_merged += merge_failures(pr.failures);
  }
  auto note = [&](std::string_view code, std::string detail) {
    parsed.notes.push_back(Note{std::string(code), "", std::move(detail)});
  };
  if (sum.strings_cut)
    note(note::kStoredTextCut, std::to_string(sum.strings_cut) + " failure-detail strings stored cut to " +
                                   std::to_string(limits.max_stored_text_bytes) + " bytes; the raw report keeps them");
  if (sum.strings_dropped)
    note(note::kStoredTextBudget, std::to_string(sum.strings_dropped) + " strings left out of the stored rows (" +
                                      std::to_string(limits.max_stored_text_ratio) +
                                      "x the submission's bytes spent); the raw report keeps them");
  if (sum.details_merged)
    note(note::kFailureDetailsMerged, std::to_string(details) + " failure-details stored as " +
                                          std::to_string(details - sum.details_merged) +
                                          " rows (identical ones merged, counts summed)");
  return sum;
}

}  // namespace tlsrpt
