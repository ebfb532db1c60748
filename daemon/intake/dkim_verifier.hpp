// DKIM verification of mailed reports (RFC 8460 §3, §5.3: "Reports lacking such a
// signature MUST be ignored"; "l=" is forbidden) with libopendkim. Key records come
// ONLY from the injected TXT lookup (the project's resolver, whose server:port and
// deadline are configurable): libopendkim's own resolver is disabled. Results are
// values (parser/dkim_result.hpp); nothing here throws on untrusted input.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parser/dkim_result.hpp"

namespace tlsrpt::daemon {

// Why a TXT lookup gave no records.
struct TxtLookupError {
  enum class Kind {
    not_found,  // NXDOMAIN or no TXT records: the key does not exist (a fail)
    temporary,  // timeout, SERVFAIL, REFUSED, no server: may work later (a temperror)
  };
  Kind kind = Kind::temporary;
  std::string message;  // "timeout after 5s", "NXDOMAIN" ...
};

// The TXT records at `name` ("sel._domainkey.example.com"), one string per record
// with its character-strings joined (RFC 6376 §3.6.2.2). It must apply its own
// deadline and must not throw.
using TxtLookup = std::function<std::expected<std::vector<std::string>, TxtLookupError>(const std::string& name)>;

class DkimVerifier {
 public:
  // nullptr-free by construction; fails only if libopendkim cannot initialise.
  static std::expected<std::unique_ptr<DkimVerifier>, std::string> create(TxtLookup lookup);
  ~DkimVerifier();
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  // Verifies every signature of `message` (RFC 5322 bytes as received, CRLF or LF;
  // a leading mbox "From " line is skipped). pass: the first signature without l=
  // that verifies and whose d= `aligned` accepts; a verifying signature with l=
  // does not count (RFC 8460 §3), nor does one by an unaligned domain.
  // temperror when no signature passed and a key lookup failed temporarily.
  // Thread-safe when the lookup is: each call has its own libopendkim handle.
  DkimResult verify(std::string_view message, const SignerFilter& aligned = {}) const;

 private:
  struct Lib;
  explicit DkimVerifier(std::unique_ptr<Lib> lib, TxtLookup lookup);
  std::unique_ptr<Lib> lib_;
  TxtLookup lookup_;
};

}  // namespace tlsrpt::daemon
