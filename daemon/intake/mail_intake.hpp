// What happens to a mailed report (RFC 8460 §5.3) before it is stored, whichever
// way the mail came (SMTP, LMTP, Maildir): unwrap and parse it (parser/ingest), then
// apply the DKIM policy (RFC 8460 §3: "Reports lacking such a signature MUST be
// ignored"): store it (authenticated or not), hold it (kept, not counted), refuse it,
// or ask the sender to retry. Blocking (DKIM key lookups): never call it on a
// network thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/intake/dkim_verifier.hpp"
#include "daemon/protocol/reply_table.hpp"
#include "parser/ingest.hpp"

namespace tlsrpt::daemon {

struct MailDecision {
  enum class Kind { store, hold, reject, retry_later };
  Kind kind = Kind::reject;
  std::optional<Ingested> report;  // store and hold
  Provenance provenance;           // store and hold
  std::string hold_reason;         // hold
  Outcome outcome = Outcome::malformed;  // reject and retry_later: the reply table's row
  std::string detail;              // why (for the reply and the log)
};

class MailIntake {
 public:
  // `verifier` may be null only when the policy is DkimPolicy::off.
  MailIntake(DkimPolicy policy, std::vector<std::string> trusted_authserv_ids, std::shared_ptr<DkimVerifier> verifier);

  MailDecision evaluate(std::string_view message, Transport transport, std::string source, Ingestor& ingestor) const;

 private:
  DkimResult check_dkim(std::string_view message, const Ingested& report) const;

  DkimPolicy policy_;
  std::vector<std::string> trusted_;
  std::shared_ptr<DkimVerifier> verifier_;
};

// RFC 8460 §3: the signature must be "by the reporting domain". Aligned when d= is
// the domain of TLS-Report-Submitter, of contact-info or of From, or a parent or
// child of one of them (google.com signs for smtp-tls-reporting@google.com).
bool dkim_aligned(std::string_view d, const Ingested& report);

// A TXT lookup for the DKIM verifier through the project's c-ares resolver (its own
// channel per lookup, so it is thread-safe), with the [dns] servers and deadline.
TxtLookup make_txt_lookup(std::vector<std::string> servers, std::chrono::milliseconds timeout);

}  // namespace tlsrpt::daemon
