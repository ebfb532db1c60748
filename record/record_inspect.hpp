// `record inspect` as a function: what DNS publishes at `_smtp._tls.<domain>`, what a
// sender concludes from it, and the look-around (MTA-STS TXT, MX, TLSA) that says where
// the domain is in its rollout. Also the JSON of check / generate / inspect results,
// shared by the CLI and the inspection endpoint. Never logs the queried domain.
#pragma once

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "record/dns_resolver.hpp"
#include "record/record.hpp"

namespace tlsrpt::record {

// Most MX hosts whose TLSA records are looked up (an MX RRset is attacker-sized).
inline constexpr std::size_t kMaxMxInspected = 10;
// Time for a whole inspection; once spent, the query under way is cut and the remaining
// look-around queries are skipped.
inline constexpr std::chrono::milliseconds kInspectBudget{20'000};
// Longest domain input read before any conversion.
inline constexpr std::size_t kMaxDomainInput = 1024;

// The domain an admin or a web visitor asked about, checked before any DNS query:
// returns the lower-case A-label, or why it is refused. Refuses IP literals, URLs,
// addresses, names over 253 characters, labels over 63, empty labels ("a..b"),
// underscores ("_x") and single labels. A leading "_smtp._tls." is tolerated.
std::expected<std::string, std::string> validate_inspect_domain(std::string_view input);

// Why a name (from validate_inspect_domain) is not one the public inspection site
// answers for, or nullopt when it is: the name must be registrable under a suffix of the
// public suffix list (not "intranet.corp", "host.local", "x.internal", "nas.lan"), and
// not a special-use name (RFC 6761/7686/8375: anything under .arpa, such as
// home.arpa, or .onion). No DNS query; the internal names of the host's resolver stay
// internal. `record inspect` (the admin's own tool) does not ask.
std::optional<std::string> private_name_refusal(std::string_view domain);

struct MtaStsLook {
  std::string name;                  // "_mta-sts.<domain>"
  DnsStatus status = DnsStatus::error;
  std::string detail;
  std::vector<std::string> records;  // every TXT record there (joined)
  std::string id;                    // id= of the one "v=STSv1;" record, when valid
  bool valid = false;                // exactly one syntactically valid "v=STSv1;" record
  std::vector<std::string> problems;
};

struct MxLook {
  std::uint16_t preference = 0;
  std::string host;
  std::string tlsa_name;             // "_25._tcp.<host>" (RFC 7672 §2.2.3)
  DnsStatus tlsa_status = DnsStatus::error;
  std::string tlsa_detail;
  std::vector<std::string> tlsa;     // "usage selector mtype HEX"
  bool not_public = false;           // TLSA not looked up: the host is not a public name (public_names_only)
};

struct InspectResult {
  std::string domain;                // A-label
  std::string name;                  // "_smtp._tls.<domain>"
  DnsStatus status = DnsStatus::error;  // of the TXT lookup at `name`
  std::string detail;
  std::vector<TxtRecord> txt;        // every TXT record found at `name`
  RecordSetCheck set;                // the sender's view: kept records, check, errors, warnings
  std::vector<std::string> errors;   // set.errors plus DNS and placement findings
  std::vector<std::string> warnings; // set.warnings plus look-around findings
  bool looked_around = false;
  MtaStsLook mta_sts;
  DnsStatus mx_status = DnsStatus::error;
  std::string mx_detail;
  bool implicit_mx = false;          // no MX: mail goes to the domain's own address (RFC 5321 §5.1)
  bool null_mx = false;              // "MX 0 ." (RFC 7505): the domain takes no mail
  std::vector<MxLook> mx;
  std::string stage;                 // "none", "tlsrpt", "tlsrpt+mta-sts", "tlsrpt+dane", "tlsrpt+mta-sts+dane",
                                     // or "unknown" when DNS could not answer
  std::string summary;               // the verdict for people

  bool dns_failed() const { return lookup_failed(status); }
  bool valid() const { return !dns_failed() && set.valid; }
};

// One line for people: "valid TLS-RPT record", "no TLS-RPT record", "DNS could not answer" ...
std::string inspect_headline(const InspectResult& r);
// "no TLS-RPT yet", "TLS-RPT only", "TLS-RPT with MTA-STS" ... for a stage token.
std::string_view stage_label(std::string_view stage);

// Runs every lookup through `resolver` (the domain must come from
// validate_inspect_domain). When the TLS-RPT lookup itself fails, no more queries
// are made: the server is unlikely to answer the others. No query runs past `budget`
// (resolver.stop_at); look-around queries stop when it is spent (a warning says so).
// With `public_names_only` (the public site), a name the domain's DNS leads to (an MX
// host) is looked up only when private_name_refusal() lets it: an attacker's public
// domain with "MX 10 exchange.corp.internal" gets "not looked up (not a public name)",
// not the internal view's answer. (The other names queried are the domain itself,
// prefixed names under it, and its parent, which are public when the domain is.)
InspectResult inspect_domain(DnsResolver& resolver, const std::string& domain,
                             std::chrono::milliseconds budget = kInspectBudget, bool public_names_only = false);

// What the page and the CLI say about an MX host's TLSA lookup that found nothing.
std::string tlsa_absence(const MxLook& m);

// Checks the `_mta-sts` TXT records as RFC 8461 §3.1 senders do (pure; for tests).
void judge_mta_sts(MtaStsLook& look);
// Decides stage and summary from the record set and the look-around (pure; for tests).
void judge_rollout(InspectResult& r);

// JSON documents (compact, one line):
// check:    {"valid", "record", "rua": [{"uri","scheme","target","usable"}], "extensions": [{"name","value"}],
//            "errors", "warnings"}
// generate: {"host", "type", "value"}; refusal: {"errors": [...]}
// inspect:  {"domain", "name", "status", "detail", "valid", "records", "strings", "tlsrpt_records", "discarded",
//            "rua", "extensions", "errors", "warnings", "mta_sts": {...}, "mx": {...}, "rollout": {"stage","summary"}}
std::string check_json(std::string_view record, const RecordCheck& c);
std::string generate_json(const GeneratedRecord& g);
std::string errors_json(const std::vector<std::string>& errors);
std::string inspect_json(const InspectResult& r);

}  // namespace tlsrpt::record
