// Domain names and IP addresses as they appear in reports and records: IDNA to
// A-labels (libidn2), lower case, trailing dot removed, LDH syntax checks, and IP
// addresses in their RFC 5952 / dotted-quad canonical text form. Pure functions.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/text.hpp"  // ascii_lower, used with these everywhere

namespace tlsrpt {

// Lower-cases, drops one trailing dot and converts U-labels to A-labels (IDNA2008,
// non-transitional). Fails with a reason when the name cannot be converted.
std::expected<std::string, std::string> normalize_domain(std::string_view name);

// RFC 1035/1123 host-name syntax on an A-label name: labels of 1-63 letters, digits
// and hyphens (not at either end), at most 253 characters. `allow_underscore`
// admits labels like "_smtp" and "_tls" (service names).
bool is_valid_hostname(std::string_view name, bool allow_underscore = false);

// The served domain a policy domain counts under (docs/receiver-rules.md#domains): the
// entry of `served` (the `domains` setting, normalised) it equals or is a host under,
// the longest when several match; "" when none does. With `served` empty every domain
// is served, and a name counts under its organizational domain (public suffix list):
// "f7.example.com" -> "example.com". Alert budgets and the per-domain metrics are
// keyed by it, so subdomains cannot each take a share of their own.
std::string served_domain(std::string_view policy_domain, const std::vector<std::string>& served);

// "192.0.2.1", "2001:db8::1": the canonical text of an IP address, with IPv4-mapped
// IPv6 turned into IPv4. nullopt when `text` is not an IP address (including IPv4
// octets with leading zeros, which RFC 8460 §4.4's dec-octet forbids).
std::optional<std::string> canonical_ip(std::string_view text);

}  // namespace tlsrpt
