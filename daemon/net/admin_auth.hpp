// HTTP basic authentication for the admin listener (admin.password_file, README.md#monitoring):
// what Prometheus' basic_auth sends. The file holds `user:hash` lines, the hash a
// crypt(3) string (yescrypt from `mkpasswd -m yescrypt`, sha512-crypt from `openssl
// passwd -6`), verified with libcrypt's crypt_r and compared in constant time.
// A hash costs tens of milliseconds, so it never runs on a network thread: begin() is
// quick and answers everything that needs no hash (a client over its failures, credentials
// that passed before, a malformed header, all clients over the global failure limit,
// more checks than admin.max_password_checks at once); the rest runs on this object's one
// hashing thread (async_check) and completes on the awaiting connection's executor.
// Failed attempts are limited per client (IPv4 address or IPv6 /64: 10 a minute) and
// across all clients (admin.max_failures_per_minute): beyond either, 429 without a try;
// credentials that passed before still pass the global limit. No I/O but load().
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "daemon/net/rate_limiter.hpp"

namespace tlsrpt::daemon {

struct AdminAuthLimits {
  std::size_t max_checks = 4;             // admin.max_password_checks: hashing or waiting to, at once
  unsigned max_failures_per_minute = 60;  // admin.max_failures_per_minute: all clients together
};

class AdminAuth {
 public:
  static constexpr unsigned kFailuresPerMinute = 10;  // per client

  using Limits = AdminAuthLimits;

  enum class Verdict { ok, denied, throttled, busy };
  struct Decision {
    Verdict verdict = Verdict::denied;
    std::chrono::seconds retry_after{0};  // throttled, busy: when to try again
    bool global = false;                  // throttled by the limit across all clients
  };

  using Clock = RateLimiter::Clock;
  using Digest = std::array<unsigned char, 32>;

  // An admitted check (one of max_checks until destroyed), between begin() and async_check().
  class Pending {
   public:
    Pending(Pending&& o) noexcept;
    Pending& operator=(Pending&&) = delete;
    ~Pending();

   private:
    friend class AdminAuth;
    Pending(AdminAuth* owner, std::string password, const std::string& hash, bool known, Digest digest,
            ClientKey client)
        : owner_(owner), password_(std::move(password)), hash_(&hash), known_(known), digest_(digest), client_(client) {}
    AdminAuth* owner_;
    std::string password_;
    const std::string* hash_;  // the user's, or the first user's for an unknown user (same cost)
    bool known_;
    Digest digest_;
    ClientKey client_;
  };

  // The file's text; `name` (the path) is in the errors, with the line number.
  static std::expected<std::shared_ptr<AdminAuth>, std::string> parse(std::string_view text, std::string_view name,
                                                                      Limits limits = {});
  static std::expected<std::shared_ptr<AdminAuth>, std::string> load(const std::string& path, Limits limits = {});
  ~AdminAuth();

  // `authorization` is the request's Authorization header ("" when it has none). Quick,
  // never hashes: the decision, or an admitted check for async_check().
  std::variant<Decision, Pending> begin(std::string_view authorization, const ClientKey& client, Clock::time_point now);
  // Hashes on the hashing thread; the decision completes on the handler's executor.
  // This object must outlive it (the caller holds its shared_ptr while awaiting).
  template <class Token>
  auto async_check(Pending pending, Token&& token);
  // begin() and the hash on the calling thread: blocks for the hash (tests; never on a
  // network thread).
  Decision check(std::string_view authorization, const ClientKey& client, Clock::time_point now);

  // SIGTERM: checks not yet hashed answer busy at once; join() then ends the thread.
  void stop() { stopping_ = true; }
  void join() { pool_.join(); }

  std::size_t users() const { return users_.size(); }
  std::size_t checks() const { return checks_.load(); }  // admitted, not yet decided

 private:
  explicit AdminAuth(Limits limits);
  Decision run(Pending& p, Clock::time_point now);  // blocking: the hash, then remember or count the failure
  bool remembered(const Digest& digest) const;
  void remember(const Digest& digest);

  Limits limits_;
  std::vector<std::pair<std::string, std::string>> users_;  // user, crypt(3) hash
  RateLimiter failures_{RateLimiter::Options{kFailuresPerMinute, std::chrono::milliseconds(60'000), 100'000}};
  RateLimiter all_failures_;  // one key: every client's failures together
  std::atomic<std::size_t> checks_{0};
  std::atomic<bool> stopping_{false};
  // SHA-256 of Authorization values that passed, so a scrape every few seconds does
  // not pay for yescrypt each time (the file is read once: they stay valid).
  mutable std::mutex mutex_;
  std::vector<Digest> good_;
  boost::asio::thread_pool pool_{1};  // the hashing thread (last: joined first)
};

template <class Token>
auto AdminAuth::async_check(Pending pending, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(Decision)>(
      [this](auto handler, Pending p) {
        asio::post(pool_, [this, h = std::move(handler), p = std::move(p)]() mutable {
          Decision d = run(p, Clock::now());
          { Pending done = std::move(p); }  // the slot is free before the connection resumes
          auto ex = asio::get_associated_executor(h);
          asio::post(ex, [h = std::move(h), d]() mutable { std::move(h)(d); });
        });
      },
      token, std::move(pending));
}

}  // namespace tlsrpt::daemon
