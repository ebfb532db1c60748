// Authentication-Results (RFC 8601) header values -> the DKIM verdict of an upstream
// verifier we trust (RFC 8460 §3 lets the receiver rely on it instead of verifying
// itself). Pure: parses text only. Trust is the caller's: a header counts only when
// its authserv-id is listed, and the border MTA must strip forged headers bearing
// that id from incoming mail (RFC 8601 §5), as Postfix milters and rspamd do.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/dkim_result.hpp"
#include "parser/error.hpp"

namespace tlsrpt {

// One resinfo: "dkim=pass (2048-bit key) header.d=example.com header.s=sel".
struct AuthResultsEntry {
  std::string method;  // lower case, without a "/version"
  std::string result;  // lower case
  std::string reason;
  std::vector<std::pair<std::string, std::string>> properties;  // "header.d" (lower case) -> value

  // The value of `name` ("header.d"), "" when absent.
  std::string_view property(std::string_view name) const;
};

struct AuthResults {
  std::string authserv_id;  // as written; compare case-insensitively
  std::vector<AuthResultsEntry> entries;  // empty for "; none"
};

// Parses one header value (unfolded or not; comments are dropped). Malformed
// resinfo clauses are skipped; only a missing authserv-id is an error.
std::expected<AuthResults, Error> parse_auth_results(std::string_view value);

// The DKIM verdict of the headers among `header_values` whose authserv-id is in
// `trusted_ids`; nullopt when no header is from a trusted id (verify yourself).
// A pass counts only for a signature that does not use l= (RFC 8460 §3): each
// passing entry is matched against `dkim_signatures` (the mail's DKIM-Signature
// values) by d=, s= and b= prefix where the entry names them, and only for a d=
// that `aligned` accepts.
std::optional<DkimResult> dkim_from_auth_results(const std::vector<std::string>& header_values,
                                                 const std::vector<std::string>& trusted_ids,
                                                 const std::vector<std::string>& dkim_signatures = {},
                                                 const SignerFilter& aligned = {});

// The tags of a DKIM-Signature value (RFC 6376 §3.2 tag-list): names as written,
// values with folding whitespace removed; in order, duplicates kept.
std::vector<std::pair<std::string, std::string>> parse_dkim_tags(std::string_view value);

}  // namespace tlsrpt
