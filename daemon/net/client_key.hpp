// Who a per-client budget is counted against (connection caps, body bytes in flight,
// the inspection page's rate limit): an IPv4 address, or the first 64 bits of an IPv6
// address, since one /64 is what one subscriber or host usually gets. IPv4-mapped IPv6
// (::ffff:a.b.c.d) is the IPv4 address. One definition for every listener.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace tlsrpt::daemon
