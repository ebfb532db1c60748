#include "alerts/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace tlsrpt::alerts {
namespace {

struct Range4 {
  std::uint32_t net;
  int bits;
  const char* what;
};

constexpr std::uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }

// RFC 6890 special-purpose registry, plus RFC 6598 (CGNAT) and multicast/reserved.
constexpr Range4 kForbidden4[] = {
    {ip4(0, 0, 0, 0), 8, "a \"this network\" address"},
    {ip4(10, 0, 0, 0), 8, "a private address"},
    {ip4(100, 64, 0, 0), 10, "a shared (CGNAT) address"},
    {ip4(127, 0, 0, 0), 8, "a loopback address"},
    {ip4(169, 254, 0, 0), 16, "a link-local address (cloud metadata lives here)"},
    {ip4(172, 16, 0, 0), 12, "a private address"},
    {ip4(192, 0, 0, 0), 24, "an IETF protocol assignment address"},
    {ip4(192, 0, 2, 0), 24, "a documentation address"},
    {ip4(192, 88, 99, 0), 24, "a 6to4 relay address"},
    {ip4(192, 168, 0, 0), 16, "a private address"},
    {ip4(198, 18, 0, 0), 15, "a benchmarking address"},
    {ip4(198, 51, 100, 0), 24, "a documentation address"},
    {ip4(203, 0, 113, 0), 24, "a documentation address"},
    {ip4(224, 0, 0, 0), 4, "a multicast address"},
    {ip4(240, 0, 0, 0), 4, "a reserved address"},
};

std::string text4(std::uint32_t addr) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{htonl(addr)};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string text6(const std::uint8_t (&b)[16]) {
  char buf[INET6_ADDRSTRLEN];
  in6_addr a{};
  std::memcpy(&a, b, 16);
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

std::uint32_t embedded4(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

bool prefix(const std::uint8_t (&b)[16], std::initializer_list<std::uint8_t> head, int bits) {
  int i = 0;
  for (std::uint8_t h : head) {
    int take = bits - i * 8;
    if (take <= 0) break;
    std::uint8_t mask = take >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - take));
    if ((b[i] & mask) != (h & mask)) return false;
    ++i;
  }
  return true;
}

const char* class4(std::uint32_t addr) {
  for (const auto& r : kForbidden4) {
    std::uint32_t mask = r.bits == 0 ? 0 : ~std::uint32_t(0) << (32 - r.bits);
    if ((addr & mask) == r.net) return r.what;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> forbidden_ipv4(std::uint32_t addr) {
  if (const char* what = class4(addr)) return text4(addr) + " is " + what;
  return std::nullopt;
}

std::optional<std::string> forbidden_ipv6(const std::uint8_t (&b)[16]) {
  static constexpr std::uint8_t kZero[16] = {};
  auto inner = [&](const std::uint8_t* p, const char* how) -> std::optional<std::string> {
    std::uint32_t v4 = embedded4(p);
    if (const char* what = class4(v4)) return text6(b) + " is " + how + " of " + text4(v4) + ", " + what;
    return std::nullopt;
  };
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 0 || b[15] == 1))
    return text6(b) + (b[15] ? " is the loopback address" : " is the unspecified address");
  // ::ffff:0:0/96 (IPv4-mapped) and ::/96 (deprecated IPv4-compatible).
  if (std::memcmp(b, kZero, 10) == 0 && ((b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0))) {
    if (auto why = inner(b + 12, "an IPv4-mapped form")) return why;
    if (b[10] == 0) return text6(b) + " is a deprecated IPv4-compatible address";
    return std::nullopt;
  }
  if (prefix(b, {0x00, 0x64, 0xff, 0x9b}, 32) && std::memcmp(b + 4, kZero, 8) == 0)  // 64:ff9b::/96 NAT64
    return inner(b + 12, "a NAT64 form");
  if (prefix(b, {0x20, 0x02}, 16)) return inner(b + 2, "a 6to4 form");  // 2002::/16
  if (prefix(b, {0xfc}, 7)) return text6(b) + " is a unique local (private) address";
  if (prefix(b, {0xfe, 0x80}, 10)) return text6(b) + " is a link-local address";
  if (prefix(b, {0xfe, 0xc0}, 10)) return text6(b) + " is a site-local address";
  if (prefix(b, {0xff}, 8)) return text6(b) + " is a multicast address";
  if (prefix(b, {0x20, 0x01, 0x0d, 0xb8}, 32)) return text6(b) + " is a documentation address";
  if (prefix(b, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return text6(b) + " is a discard-only address";
  if (prefix(b, {0x20, 0x01, 0x00}, 23)) return text6(b) + " is an IETF protocol assignment address";
  return std::nullopt;
}

std::optional<std::string> forbidden_address(const sockaddr* sa) {
  if (!sa) return std::string("no address");
  if (sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    return forbidden_ipv4(ntohl(in.sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    std::uint8_t b[16];
    std::memcpy(b, &in6.sin6_addr, 16);
    return forbidden_ipv6(b);
  }
  return std::string("address family ") + std::to_string(sa->sa_family) + " is not IP";
}

}  // namespace tlsrpt::alerts
