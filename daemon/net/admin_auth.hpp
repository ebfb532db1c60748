// HTTP basic authentication for the admin listener (admin.password_file, README.md#monitoring):
// what Prometheus' basic_auth sends. The file holds `user:hash` lines, the hash a
// crypt(3) string (yescrypt from `mkpasswd -m yescrypt`, sha512-crypt from `openssl
// passwd -6`), verified with libcrypt's crypt_r and compared in constant time. Failed
// attempts are limited per client (IPv4 address or IPv6 /64): beyond the limit a client
// is refused without its password being tried. No I/O but load().
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/net/rate_limiter.hpp"

namespace tlsrpt::daemon {

class AdminAuth {
 public:
  static constexpr unsigned kFailuresPerMinute = 10;

  enum class Verdict { ok, denied, throttled };
  struct Decision {
    Verdict verdict = Verdict::denied;
    std::chrono::seconds retry_after{0};  // throttled: when the next attempt is tried
  };

  // The file's text; `name` (the path) is in the errors, with the line number.
  static std::expected<std::shared_ptr<AdminAuth>, std::string> parse(std::string_view text, std::string_view name);
  static std::expected<std::shared_ptr<AdminAuth>, std::string> load(const std::string& path);

  // `authorization` is the request's Authorization header ("" when it has none).
  Decision check(std::string_view authorization, const ClientKey& client, RateLimiter::Clock::time_point now);

  std::size_t users() const { return users_.size(); }

 private:
  AdminAuth() = default;
  bool verify(std::string_view authorization) const;
  bool remembered(const std::array<unsigned char, 32>& digest) const;
  void remember(const std::array<unsigned char, 32>& digest);

  std::vector<std::pair<std::string, std::string>> users_;  // user, crypt(3) hash
  RateLimiter failures_{RateLimiter::Options{kFailuresPerMinute, std::chrono::milliseconds(60'000), 100'000}};
  // SHA-256 of Authorization values that passed, so a scrape every few seconds does
  // not pay for yescrypt each time (the file is read once: they stay valid).
  mutable std::mutex mutex_;
  std::vector<std::array<unsigned char, 32>> good_;
};

}  // namespace tlsrpt::daemon
