#include "daemon/net/client_key.hpp"

#include <arpa/inet.h>

#include <cstring>

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
