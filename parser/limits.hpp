// Every size limit on untrusted report input, by name, in one place (docs/guarantees.md#limits-and-deadlines).
// The defaults are sized for real reports (1-30 KB) with room to spare; the config
// may change them, nothing else does.
#pragma once

#include <cstddef>

namespace tlsrpt {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;

struct Limits {
  // Bytes as submitted (an HTTPS body, a decoded mail attachment, a file).
  std::size_t max_submission_bytes = 2 * kMiB;
  // Bytes of JSON after gunzip; a gzip bomb stops here.
  std::size_t max_report_bytes = 16 * kMiB;
  // Inflated/compressed ratio allowed once the output passes ratio_grace_bytes
  // (Apache mod_deflate's DeflateInflateRatioLimit is 200; real reports reach ~30).
  std::size_t max_inflate_ratio = 200;
  std::size_t ratio_grace_bytes = 1 * kMiB;
  // JSON shape. A report is 5 levels deep; 32 leaves room for unknown members.
  std::size_t max_json_depth = 32;
  std::size_t max_json_values = 200'000;  // every value in the document, known or not
  std::size_t max_policies = 1'000;
  std::size_t max_failure_details = 10'000;  // across all policies of one report
  // Successful plus failed sessions summed over a report's policies: each count may
  // be 2^53-1 (I-JSON), but no sender makes 10^12 SMTP sessions to one receiver a day,
  // and sums of such reports would overflow the stored totals.
  unsigned long long max_sessions_per_report = 1'000'000'000'000ULL;
  std::size_t max_policy_strings = 1'000;    // per policy (policy-string + mx-host)
  // Identifiers (organization-name, report-id, domains, host names, addresses).
  std::size_t max_identifier_bytes = 1'024;
  // Free text (policy strings, failure-reason-code, helo, additional-information):
  // longer values are truncated and noted, not refused.
  std::size_t max_text_bytes = 8 * kKiB;
  // Data-quality notes kept per report; the rest is summarised in one note.
  std::size_t max_notes = 100;
  // The stored footprint (parser/footprint.hpp): each failure-detail string the rows
  // keep (real ones: at most ~160 bytes), and the text all rows of one report keep,
  // as a multiple of the submission's bytes.
  std::size_t max_stored_text_bytes = 256;
  std::size_t max_stored_text_ratio = 4;

  // Used by the daemon's intake and store, not by the parser.
  // Unauthenticated bytes (HTTPS, unsigned mail) one client (IPv4 address or IPv6
  // /64) may submit per UTC day; 0: no budget.
  std::size_t max_unauthenticated_bytes_per_client = 64 * kMiB;
  // Reports are refused while the database's filesystem has less free space than
  // this, or than 1 % of its size when that is less.
  std::size_t min_free_disk = 256 * kMiB;

  // Mail (RFC 8460 §5.3). The decoded report part is a submission like any other
  // and is bounded by max_submission_bytes.
  std::size_t max_mail_bytes = 10 * kMiB;          // the whole message (docs/guarantees.md#limits-and-deadlines)
  std::size_t max_mail_header_bytes = 256 * kKiB;  // top-level header block (real: 0.5-14 KiB)
  std::size_t max_mime_parts = 100;                // every part of the MIME tree (real: 3)
  std::size_t max_mime_depth = 10;                 // multipart nesting (real: 1)
};

}  // namespace tlsrpt
