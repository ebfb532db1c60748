// The well-known reporters: large senders whose TLS reports carry a known
// organization-name and are DKIM-signed by known domains. A mailed report that claims
// one of these organization-names but is signed by another domain is kept and held,
// never counted (docs/well-known-reporters.md). The table lives in
// well_known_reporters.cpp, the single truth; the doc's copy is checked against it by a
// unit test. Pure lookups, no I/O beyond organizational_domain()'s PSL load.
#pragma once

#include <span>
#include <string_view>

namespace tlsrpt {

struct WellKnownReporter {
  std::string_view name;                                   // "Google"
  std::span<const std::string_view> organization_names;    // exactly as seen in reports
  std::span<const std::string_view> signing_domains;       // DKIM d= seen on its report mails
  std::string_view source;                                 // where the evidence is
};

// The entry one of whose organization names equals `organization_name` (ASCII case
// ignored, surrounding whitespace ignored, the whole name: "Google Inc." matches
// " google inc. " but not "Google Inc. Ltd" or "Google"), or nullptr.
const WellKnownReporter* well_known_reporter(std::string_view organization_name);

// True when `signing_domain` (a DKIM d=) is one of the entry's signing domains or
// relaxed-aligned with one (same organizational domain, parser/org_domain.hpp): for
// Google, d=google.com and d=mail.google.com, not d=evil-google.com or
// d=google.com.evil.example. Case and one trailing dot are ignored.
bool signs_for(const WellKnownReporter& reporter, std::string_view signing_domain);

// The whole table, in the order of docs/well-known-reporters.md.
std::span<const WellKnownReporter> well_known_reporters();

}  // namespace tlsrpt
