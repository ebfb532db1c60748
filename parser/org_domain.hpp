// The organizational domain of a DNS name (RFC 7489 §3.2: the public suffix plus one
// label) from the Public Suffix List, through libpsl, and DKIM relaxed alignment on it.
// Pure lookups: the only I/O is libpsl reading the system's PSL file once, at first use.
// Never throws.
#pragma once

#include <string>
#include <string_view>

namespace tlsrpt {

// "mail.google.com" -> "google.com", "a.b.example.co.uk" -> "example.co.uk",
// "foo.github.io" -> "foo.github.io" (github.io is in the PSL's private section).
// Expects a lower-case A-label name without a trailing dot; upper case and one trailing
// dot are tolerated (the result is then lower case, without the dot). A name that is a
// public suffix itself ("co.uk", "com") or has no registrable part is returned as given.
// The list is libpsl's psl_latest(): the newer of its built-in list and the distribution's
// file (/usr/share/publicsuffix/public_suffix_list.dafsa), loaded once; psl_builtin()
// if that fails; without either, every name is its own organizational domain.
std::string organizational_domain(std::string_view domain);

// Whether the name is registrable under a suffix the PSL lists: "mail.example.com",
// "x.co.uk", "foo.github.io" yes; "intranet.corp", "host.local", "x.internal", "lan",
// "com" no (libpsl's implicit "*" rule, which makes any unknown top-level label a
// suffix, does not count here; a public suffix itself has no registrable part). Same
// normalisation as organizational_domain(). Without a loaded list, false.
bool under_listed_public_suffix(std::string_view domain);

// DKIM relaxed alignment (RFC 7489 §3.1.1): the organizational domains of the DKIM d=
// and of the From domain are equal. Both are compared lower case, one trailing dot
// dropped. Empty names never align.
bool dkim_aligned_domain(std::string_view signing_domain, std::string_view from_domain);

}  // namespace tlsrpt
