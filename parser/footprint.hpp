// A stored report's footprint bounded by its size (issue 19, item 2): what the rows of
// one report keep, cut down before the store writes them. Runs after the canonical
// JSON and its hash are taken (the dedupe identity stays the content as sent) and
// after the intake left out the policies not served; the raw submission keeps the
// original. Pure: no I/O.
//
//  1. Each string of a failure-detail (additional-information, failure-reason-code,
//     receiving-mx-helo, receiving-mx-hostname, the IP addresses, an unknown
//     result-type token) is cut to limits.max_stored_text_bytes (UTF-8 safe), and the
//     strings of one failure-detail together to kRowTextStrings of them, in that
//     order (addresses and host names first; later ones cut, then left out): a row
//     that outgrows a database page spills into overflow pages and costs ~3x its text
//     (review finding 1: six distinct 230-byte strings a row grew the database 14x
//     the gzipped upload).
//  2. The text the rows keep (policy strings, mx hosts, failure-detail strings) is at
//     most limits.max_stored_text_ratio times the submission's bytes, and at least
//     kStoredTextFloorStrings strings' worth. Beyond it, later policy strings and mx
//     hosts are left out of the rows and later failure-details keep only their
//     result-type (an unknown token becomes "unspecified") and count.
//  3. Failure-details of one policy that are then identical but for their count are
//     one row, their counts summed (failure_daily sums them the same way).
// Each step that changed something adds one data-quality note.
#pragma once

#include <cstddef>

#include "parser/limits.hpp"
#include "parser/report.hpp"

namespace tlsrpt {

// The budget's floor, in strings of max_stored_text_bytes: small reports are never cut.
inline constexpr std::size_t kStoredTextFloorStrings = 64;
// The text one failure-detail row keeps, in strings of max_stored_text_bytes (512
// bytes by default; real rows keep under 400).
inline constexpr std::size_t kRowTextStrings = 2;

struct FootprintSummary {
  std::size_t strings_cut = 0;       // step 1
  std::size_t strings_dropped = 0;   // step 2
  std::size_t details_merged = 0;    // step 3: rows saved
};

// The stored-text budget of a submission of `submission_bytes`.
std::size_t stored_text_budget(const Limits& limits, std::size_t submission_bytes);

// Steps 1-3 on `parsed` (its notes gain one per step that changed something).
FootprintSummary bound_footprint(ParsedReport& parsed, const Limits& limits, std::size_t submission_bytes);

}  // namespace tlsrpt
