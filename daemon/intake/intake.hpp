// Step 2 of the flow (docs/architecture.md#2-intake): the ONE stage every channel's
// submission passes through — HTTPS, SMTP, LMTP, Maildir, `report import`,
// `report release`. A channel adapter only translates bytes in and replies out; what
// a report is checked against, how it is authenticated, attributed and counted is
// decided here, in this order:
//
//   1. ingest         the configured [limits]; gzip, JSON or a mail, told by content
//   2. received date  a report may not start more than 24 h after it arrived
//   3. attribution    domainless policies -> TLS-Report-Domain / the POST path domain
//   4. domains        policies for domains not served are left out of the counts;
//                     a report with nothing for a served domain is refused
//   5. authentication DKIM, aligned with From (mail); the admin (import, release);
//                     nobody (HTTPS, RFC 8460 §7)
//   6. reporter       a well-known reporter's name signed by another domain is held
//   7. footprint      what the rows keep, bounded by the submission's size (parser/footprint.hpp)
//
// Unauthenticated input from a network client (HTTPS before step 1, mail without a
// DKIM pass after step 5) is charged to that client's daily budget (client_budget.hpp);
// beyond it the submission is refused for now (over_budget: 429 / 451 4.7.0). The
// charge rides on the decision and is settled by log_outcome(): refunded when the
// final outcome is one the sender must retry (storage_unavailable, disk_full,
// overloaded ...) or a duplicate (nothing new stored); kept for everything stored and
// for refused bodies (they cost their parsing).
//
// The rules are swapped whole on SIGHUP. Blocking (DKIM key lookups): never call
// check() on a network thread.
#pragma once

#include <atomic>
#include <expected>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/intake/client_budget.hpp"
#include "daemon/intake/dkim_verifier.hpp"
#include "daemon/net/client_key.hpp"
#include "daemon/protocol/reply_table.hpp"
#include "parser/ingest.hpp"

namespace tlsrpt::daemon {

// What the intake checks against: the reloadable part of the configuration.
struct IntakeRules {
  Limits limits;
  std::vector<std::string> domains;  // normalised policy domains served; empty = every domain
  DkimPolicy dkim = DkimPolicy::require;
  std::vector<std::string> trusted_authserv_ids;
  // Verifies signatures with keys fetched through [dns]; null only where no
  // mail is checked (tests), which makes a DKIM check a temperror.
  std::shared_ptr<const DkimVerifier> verifier;
};
// The rules of a configuration, with a verifier using its [dns] settings.
std::expected<IntakeRules, std::string> intake_rules(const Config& cfg);

// Who vouches for a submission besides its own content.
enum class Authority {
  sender,  // the channel's rules: DKIM for mail, nobody for HTTPS
  admin,   // `report import`, `report release --force`: the admin vouches
};

struct Submission {
  Transport transport = Transport::https;
  std::string source;      // peer address, file path ... (stored with the report)
  std::string media_type;  // as labelled ("" if none); mail channels: message/rfc822
  std::string_view bytes;  // as received (HTTPS: after Content-Encoding)
  // HTTPS: the domain named by a per-domain POST path (`POST /v1/example.com`),
  // normalised; attributes domainless policies. "" otherwise.
  std::string path_domain;
  Authority authority = Authority::sender;
  std::string admin_method;  // Authority::admin: how, for report_auth ("import", ...)
  std::chrono::sys_seconds received_at{};
  // The network peer (HTTPS, SMTP and LMTP over TCP) whose daily budget of
  // unauthenticated bytes this is charged to; nullopt: not budgeted (Maildir,
  // import, a unix socket).
  std::optional<ClientKey> client;
  // The bytes as they came over the wire when that differs from bytes.size() (HTTPS
  // Content-Encoding): what the budget charges, as the raw submission stores them.
  std::size_t received_bytes = 0;
};

struct IntakeDecision {
  enum class Kind {
    store,        // go on to the store, counted (or a duplicate/conflict there)
    hold,         // kept among the held reports, not counted (hold_reason)
    reject,       // refused for good (outcome, error)
    retry_later,  // refused for now: the sender should retry (outcome)
  };
  Kind kind = Kind::reject;
  std::optional<Ingested> report;  // store and hold (moved on to the store)
  std::string report_id, organization_name;  // store and hold: for the log line
  Provenance provenance;           // store and hold
  std::string hold_reason;         // hold
  Outcome outcome = Outcome::malformed;  // reject and retry_later: the reply table's row
  std::optional<Error> error;      // reject: the parser's error, for the HTTP body
  std::string detail;              // why (for the reply and the log)
  std::chrono::seconds retry_after{0};  // retry_later with over_budget: to 00:00 UTC
  // What the client's daily budget was charged (null: nothing); log_outcome settles it.
  std::shared_ptr<BudgetCharge> charge;
};

class Intake {
 public:
  explicit Intake(IntakeRules rules);

  // SIGHUP: later submissions see the new rules; running checks keep theirs.
  void set_rules(IntakeRules rules);
  IntakeRules rules() const { return rules_.load()->rules; }

  // Steps 1-6 above, with a per-thread parser sized by the current limits.
  IntakeDecision check(const Submission& s) const;
  IntakeDecision check(const Submission& s, Ingestor& ingestor) const;

  struct Rules {
    IntakeRules rules;
    std::uint64_t generation = 0;  // unique per set_rules(): which parser fits them
  };

 private:
  IntakeDecision charged(const Submission& s, const IntakeRules& rules, Ingestor& ingestor) const;
  IntakeDecision decide(const Submission& s, const IntakeRules& rules, Ingestor& ingestor,
                        std::shared_ptr<BudgetCharge>& charge) const;
  struct Auth;
  Auth authenticate(const Submission& s, const Ingested& report, const IntakeRules& rules) const;
  std::optional<IntakeDecision> over_budget(const Submission& s, const IntakeRules& rules,
                                            std::shared_ptr<BudgetCharge>& charge) const;

  std::atomic<std::shared_ptr<const Rules>> rules_;
  std::shared_ptr<ClientBudget> budget_ = std::make_shared<ClientBudget>();  // kept across SIGHUP
};

// The one call that closes a submission, whatever the channel (every path calls it
// exactly once, with the final outcome): its log line, the metric of an outcome that
// never reached a commit (rejected, deferred; committed outcomes are counted by the
// commit, commit.hpp), and the budget settled (settle_budget). `outcome` is the
// decision's for a refusal, the store's otherwise; `detail` says why it was not stored.
void log_outcome(const Submission& s, const IntakeDecision& d, Outcome outcome, std::string_view detail = {});

// Settles d.charge: refunded when `outcome` is one the sender must retry (the reply
// table's 503 / 429 rows) or a duplicate, kept otherwise; true when it refunded. Only
// the first settlement of a charge counts.
bool settle_budget(const IntakeDecision& d, Outcome outcome);

// The pure steps, for the unit tests and the fuzzer.

// Step 3: gives each policy without a policy-domain the domain the envelope names
// (`attribute_to`, "" = none), with a note. Returns how many.
std::size_t attribute_domainless(Ingested& report, std::string_view attribute_to);

// Step 4: drops the policies for domains not served (kept in the raw report, noted);
// false when nothing is left that is served or unattributed: refuse the report.
bool keep_served(Ingested& report, const std::vector<std::string>& domains);

// A domain is served when `domains` is empty, names it, or names a parent of it
// (DANE policies name MX hosts: mx1.example.com is served with example.com).
bool is_served(std::string_view domain, const std::vector<std::string>& domains);

// RFC 8460 §3 ("by the reporting domain"): d= is the From domain or its
// organizational domain (RFC 7489 §3.2, public suffix list). Stricter than DMARC's
// relaxed alignment: a sibling or child of the From domain does not count.
bool dkim_aligned(std::string_view signing_domain, std::string_view from_domain);

// Step 6: the hold reason when the report names a well-known reporter's
// organization-name but was signed by a domain that does not sign for it; "" when not.
std::string impersonation(const Report& report, std::string_view signing_domain);

// A TXT lookup for the DKIM verifier through the project's c-ares resolver, with the
// [dns] servers and deadline. Thread-safe: each lookup uses a channel no other thread
// uses at the time (kept for reuse, at most kMaxIdleResolvers idle). Answers are
// cached by their TTL, at most kMaxKeyCacheTtl; "no such key" for
// kNegativeKeyCacheTtl; temporary failures not at all; at most kMaxKeyCacheEntries
// names. A new lookup (SIGHUP) starts with an empty cache.
TxtLookup make_txt_lookup(std::vector<std::string> servers, std::chrono::milliseconds timeout);
inline constexpr std::chrono::seconds kMaxKeyCacheTtl{3600};
inline constexpr std::chrono::seconds kNegativeKeyCacheTtl{60};
inline constexpr std::size_t kMaxKeyCacheEntries = 4096;
inline constexpr std::size_t kMaxIdleResolvers = 16;

}  // namespace tlsrpt::daemon
