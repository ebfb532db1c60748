#include "parser/domain.hpp"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "parser/org_domain.hpp"

namespace tlsrpt {

std::expected<std::string, std::string> normalize_domain(std::string_view name) {
  std::string s = ascii_lower(name);
  if (!s.empty() && s.back() == '.') s.pop_back();
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return s;
  if (s.find('\0') != std::string::npos) return std::unexpected("contains a NUL character");
  char* out = nullptr;
  int rc = idn2_to_ascii_8z(s.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc != IDN2_OK) {
    if (out) idn2_free(out);
    return std::unexpected(std::string("not a valid internationalised domain name: ") + idn2_strerror(rc));
  }
  std::string result = ascii_lower(out);
  idn2_free(out);
  return result;
}

bool is_valid_hostname(std::string_view name, bool allow_underscore) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (std::size_t i = 0; i < label.size(); ++i) {
      char c = label[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                (c == '-' && i != 0 && i + 1 != label.size()) || (allow_underscore && c == '_' && i == 0);
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::string served_domain(std::string_view policy_domain, const std::vector<std::string>& served) {
  if (policy_domain.empty()) return {};
  if (served.empty()) return organizational_domain(policy_domain);
  const std::string* best = nullptr;
  for (const auto& d : served) {
    const bool under = policy_domain.size() > d.size() && iends_with(policy_domain, d) &&
                       policy_domain[policy_domain.size() - d.size() - 1] == '.';
    if ((iequals(policy_domain, d) || under) && (!best || d.size() > best->size())) best = &d;
  }
  return best ? ascii_lower(*best) : std::string();
}

std::optional<std::string> canonical_ip(std::string_view text) {
  // The longest address text is 45 bytes ("ffff:...:255.255.255.255"); anything that
  // does not fit the buffer is no address (and must never be copied into it).
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char bin[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, buf, bin) == 1) {
    inet_ntop(AF_INET, bin, out, sizeof out);
    return std::string(out);
  }
  if (inet_pton(AF_INET6, buf, bin) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bin, kMapped, 12) == 0) {
      inet_ntop(AF_INET, bin + 12, out, sizeof out);
      return std::string(out);
    }
    inet_ntop(AF_INET6, bin, out, sizeof out);
    return std::string(out);
  }
  return std::nullopt;
}

}  // namespace tlsrpt
