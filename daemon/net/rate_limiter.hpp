// Per-client request limiting for the public inspection endpoint: by default 12
// requests per minute per IPv4 address or IPv6 /64. No clock and no sockets: the
// caller passes the time, so tests are deterministic. Thread-safe; memory is bounded
// by an LRU of at most `max_keys` clients. Never logs who asked.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "daemon/net/client_key.hpp"

namespace tlsrpt::daemon {

struct RateDecision {
  bool allowed = false;
  std::chrono::seconds retry_after{0};  // when refused: wait this long (>= 1 s) for the next request
};

// Semantics (written down because tests and operators rely on them): a token bucket
// per key, implemented as GCRA (the "generic cell rate algorithm", integer time, no
// drift). The bucket holds `burst` tokens and refills continuously at one token every
// period / burst (5 s by default); each request takes one token.
//  - A client that has been quiet for a full period may send `burst` (12) requests at
//    once; the 13th is refused with Retry-After 5 s; afterwards one request per 5 s
//    is allowed. Sustained, that is 12 per minute, like nginx
//    `limit_req rate=12r/m burst=11 nodelay`.
//  - Refused requests take no token (hammering does not extend the wait).
//  - Retry-After is the time until the next token, rounded up to whole seconds.
// Memory: at most `max_keys` clients are remembered; a new client evicts the least
// recently seen one. A client quiet for a full period has a full bucket, so evicting it
// forgets nothing; only more than max_keys distinct clients within one period can make
// the limiter forget a client early, and that takes as many addresses as max_keys.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    unsigned burst = 12;
    std::chrono::milliseconds period{60'000};
    std::size_t max_keys = 100'000;
  };
  RateLimiter();
  explicit RateLimiter(Options options);

  RateDecision check(const ClientKey& key, Clock::time_point now);
  // Unparsable addresses all share one bucket (there should be none: the listener
  // always knows its peer).
  RateDecision check(std::string_view client_ip, Clock::time_point now);
  // What check() would answer now, without taking a token (for limits on failures:
  // a refused client is not even tried).
  RateDecision peek(const ClientKey& key, Clock::time_point now) const;

  std::size_t size() const;  // clients remembered

 private:
  struct Entry {
    ClientKey key;
    Clock::time_point tat;  // GCRA "theoretical arrival time": the bucket is full when tat <= now
  };

  Options options_;
  Clock::duration interval_;   // period / burst: the time one token takes to come back
  Clock::duration tolerance_;  // interval * (burst - 1): how far tat may run ahead of now
  mutable std::mutex mutex_;
  std::list<Entry> lru_;       // most recently seen first
  std::unordered_map<ClientKey, std::list<Entry>::iterator, ClientKeyHash> index_;
};

}  // namespace tlsrpt::daemon
