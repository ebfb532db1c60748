// The DKIM verdict on a mailed report (RFC 8460 §3: "Reports sent via SMTP MUST
// contain a valid DKIM signature by the reporting domain"), whoever reached it:
// our own verifier (daemon/dkim_verifier) or a trusted upstream's
// Authentication-Results header (parser/auth_results). A plain value; no I/O.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tlsrpt {

struct DkimResult {
  enum class Status {
    pass,       // a signature without l= verified
    fail,       // signed, but no signature verified (or only ones with l=)
    temperror,  // a key could not be fetched now (DNS timeout, SERVFAIL): try again later
    none,       // not signed at all
  };
  Status status = Status::none;
  std::string domain;    // d= of the passing signature; of the first failing one otherwise
  std::string selector;  // s= likewise
  std::string reason;    // why it is not a pass ("" for pass)
  std::string verifier;  // "opendkim", or the authserv-id whose header was trusted

  bool passed() const { return status == Status::pass; }
};

// Which signing domains may authenticate a message (DKIM alignment, decided by the
// caller); a verifying signature whose d= it refuses does not pass. Empty: any.
using SignerFilter = std::function<bool(std::string_view signing_domain)>;

inline std::string unaligned_reason(std::string_view d) {
  return "signature d=" + std::string(d) + " verified, but " + std::string(d) +
         " is neither the From domain nor its organizational domain";
}

inline std::string_view to_token(DkimResult::Status s) {
  switch (s) {
    case DkimResult::Status::pass: return "pass";
    case DkimResult::Status::fail: return "fail";
    case DkimResult::Status::temperror: return "temperror";
    case DkimResult::Status::none: return "none";
  }
  return "none";
}

}  // namespace tlsrpt
