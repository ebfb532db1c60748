#include "daemon/net/client_key.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace tlsrpt::daemon {
namespace {

ClientKey from_v4(const unsigned char* b) {
  ClientKey k;
  k.family = 4;
  std::memcpy(k.bytes.data(), b, 4);
  return k;
}

ClientKey from_v6(const unsigned char* b) {
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0) return from_v4(b + 12);
  ClientKey k;
  k.family = 6;
  std::memcpy(k.bytes.data(), b, 8);  // the /64
  return k;
}

}  // namespace

std::string ClientKey::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf) ? buf : "";
  if (family != 6) return "unknown";
  unsigned char full[16] = {};
  std::memcpy(full, bytes.data(), 8);
  return inet_ntop(AF_INET6, full, buf, sizeof buf) ? std::string(buf) + "/64" : "";
}

std::size_t ClientKeyHash::operator()(const ClientKey& k) const noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, k.bytes.data(), 8);
  v ^= static_cast<std::uint64_t>(k.family) << 56;
  // splitmix64 finaliser: spreads /64 prefixes that differ in a few bits.
  v ^= v >> 30;
  v *= 0xbf58476d1ce4e5b9ULL;
  v ^= v >> 27;
  v *= 0x94d049bb133111ebULL;
  v ^= v >> 31;
  return static_cast<std::size_t>(v);
}

ClientKey client_key(const boost::asio::ip::address& a) {
  if (a.is_v4()) return from_v4(a.to_v4().to_bytes().data());
  return from_v6(a.to_v6().to_bytes().data());
}

std::optional<boost::asio::ip::address> canonical_address(std::string_view ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (auto pct = ip.find('%'); pct != std::string_view::npos) ip = ip.substr(0, pct);  // a peer's zone
  if (ip.empty() || ip.size() > 45) return std::nullopt;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(ip), ec);
  if (ec) return std::nullopt;
  return canonical_address(a);
}

boost::asio::ip::address canonical_address(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  if (a.is_v6() && a.to_v6().scope_id() != 0) {
    auto v6 = a.to_v6();
    v6.scope_id(0);
    return v6;
  }
  return a;
}

namespace {

std::array<unsigned char, 16> bytes_of(const boost::asio::ip::address& a) {
  std::array<unsigned char, 16> out{};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(out.data(), b.data(), 4);
  } else {
    out = a.to_v6().to_bytes();
  }
  return out;
}

// The first `prefix` bits of a and b are equal.
bool same_prefix(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b, unsigned prefix) {
  for (unsigned i = 0; i < prefix / 8; ++i)
    if (a[i] != b[i]) return false;
  if (prefix % 8 == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - prefix % 8));
  return (a[prefix / 8] & mask) == (b[prefix / 8] & mask);
}

}  // namespace

bool AddressRange::contains(const boost::asio::ip::address& peer) const {
  const auto a = canonical_address(peer);
  if (a.is_v4() != network.is_v4()) return false;
  return same_prefix(bytes_of(a), bytes_of(network), prefix);
}

std::string AddressRange::str() const {
  const unsigned full = network.is_v4() ? 32 : 128;
  return network.to_string() + (prefix == full ? "" : "/" + std::to_string(prefix));
}

std::expected<AddressRange, std::string> parse_address_range(std::string_view text) {
  const auto slash = text.find('/');
  const std::string_view ip = text.substr(0, slash);
  if (ip.find('%') != std::string_view::npos) return std::unexpected("has a zone (%), which a peer address never has");
  const std::string_view raw_ip = ip.size() >= 2 && ip.front() == '[' && ip.back() == ']' ? ip.substr(1, ip.size() - 2) : ip;
  auto a = canonical_address(ip);
  if (!a) return std::unexpected("is not an IP address or network (e.g. \"192.0.2.1\", \"10.0.0.0/8\", \"2001:db8::/32\")");
  // An IPv4-mapped network (::ffff:10.0.0.0/104) is the IPv4 network (/8).
  const bool mapped = a->is_v4() && raw_ip.find(':') != std::string_view::npos;
  unsigned prefix = a->is_v4() ? 32 : 128;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos)
      return std::unexpected("has a prefix length after / that is not a number");
    unsigned n = static_cast<unsigned>(std::stoul(std::string(p)));
    if (mapped) {
      if (n < 96 || n > 128) return std::unexpected("needs a prefix length of 96 to 128 (an IPv4-mapped network)");
      n -= 96;
    }
    if (n > prefix) return std::unexpected("has a prefix length above " + std::to_string(prefix));
    prefix = n;
  }
  AddressRange r{*a, prefix};
  // Host bits set ("10.0.0.1/8") is almost always a typo for the address or the network.
  std::array<unsigned char, 16> masked = bytes_of(*a);
  for (unsigned bit = prefix; bit < (a->is_v4() ? 32u : 128u); ++bit)
    masked[bit / 8] &= static_cast<unsigned char>(~(0x80 >> (bit % 8)));
  if (masked != bytes_of(*a)) {
    boost::asio::ip::address net;
    if (a->is_v4()) {
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), masked.data(), 4);
      net = boost::asio::ip::make_address_v4(b);
    } else {
      net = boost::asio::ip::make_address_v6(masked);
    }
    return std::unexpected("has host bits set after the prefix: did you mean " + AddressRange{net, prefix}.str() + "?");
  }
  return r;
}

bool address_in(const std::vector<std::string>& ranges, std::string_view ip) {
  auto a = canonical_address(ip);
  if (!a) return false;
  for (const auto& text : ranges)
    if (auto r = parse_address_range(text); r && r->contains(*a)) return true;
  return false;
}

std::optional<ClientKey> client_key(std::string_view ip) {
  if (ip.empty() || ip.size() > 64) return std::nullopt;
  if (auto pct = ip.find('%'); pct != std::string_view::npos) ip = ip.substr(0, pct);  // IPv6 zone
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  const std::string s(ip);
  unsigned char bin[16];
  if (inet_pton(AF_INET, s.c_str(), bin) == 1) return from_v4(bin);
  if (inet_pton(AF_INET6, s.c_str(), bin) == 1) return from_v6(bin);
  return std::nullopt;
}

}  // namespace tlsrpt::daemon
