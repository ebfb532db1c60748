// Who a per-client budget is counted against (connection caps, body bytes in flight,
// the inspection page's rate limit): an IPv4 address, or the first 64 bits of an IPv6
// address, since one /64 is what one subscriber or host usually gets. IPv4-mapped IPv6
// (::ffff:a.b.c.d) is the IPv4 address. One definition for every listener.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::daemon {

struct ClientKey {
  std::uint8_t family = 0;  // 4, 6, or 0 for "address not understood"
  std::array<std::uint8_t, 8> bytes{};
  bool operator==(const ClientKey&) const = default;
  // "192.0.2.1", "2001:db8:1::/64": for map keys and log lines.
  std::string str() const;
};

struct ClientKeyHash {
  std::size_t operator()(const ClientKey& k) const noexcept;
};

ClientKey client_key(const boost::asio::ip::address& a);
// The text form, as an X-Forwarded-For entry carries it: "[2001:db8::1]" and a zone
// ("fe80::1%eth0") are accepted. nullopt when `ip` is not an IP address.
std::optional<ClientKey> client_key(std::string_view ip);

// Configured addresses (README.md#configuration) are compared in one canonical form:
// IPv4-mapped IPv6 is the IPv4 address, IPv6 is compressed lower case ("2001:DB8:9:0::1"
// is 2001:db8:9::1). Any spelling make_address takes, in [] or not; a zone is dropped.
std::optional<boost::asio::ip::address> canonical_address(std::string_view ip);
boost::asio::ip::address canonical_address(const boost::asio::ip::address& a);

// An address or a network ("10.0.0.0/8", "2001:db8::/32"), as trusted_proxies takes it.
struct AddressRange {
  boost::asio::ip::address network;  // canonical, host bits zero
  unsigned prefix = 0;               // 32 or 128 for one address
  bool contains(const boost::asio::ip::address& a) const;
  // "192.0.2.1", "10.0.0.0/8", "2001:db8::/32": the canonical text (no /32 or /128).
  std::string str() const;
};
// The error says what is wrong, to follow the quoted text ("has host bits set after the
// prefix: did you mean 10.0.0.0/8?").
std::expected<AddressRange, std::string> parse_address_range(std::string_view text);
// Whether `ip` (a peer's address text) is in one of `ranges` (canonical range texts,
// as the config loader keeps them). False for text that is not an address.
bool address_in(const std::vector<std::string>& ranges, std::string_view ip);

}  // namespace tlsrpt::daemon
