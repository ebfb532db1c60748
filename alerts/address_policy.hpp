// Which addresses an alert webhook may connect to (SSRF, docs/guarantees.md#output-side):
// loopback, private, link-local/metadata, CGNAT, multicast, documentation and other
// special-purpose ranges are refused unless the admin allows private targets. Pure:
// classifies an address, never resolves or connects.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tlsrpt::alerts {

// Why `sa` must not be connected to ("127.0.0.1 is a loopback address"), or nullopt
// for a public unicast address. IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged
// by the IPv4 address inside them. Unknown address families are refused.
std::optional<std::string> forbidden_address(const sockaddr* sa);

// The same for an IPv4 address in host byte order, and for 16 IPv6 bytes.
std::optional<std::string> forbidden_ipv4(std::uint32_t addr);
std::optional<std::string> forbidden_ipv6(const std::uint8_t (&bytes)[16]);

}  // namespace tlsrpt::alerts
