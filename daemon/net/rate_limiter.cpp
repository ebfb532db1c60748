// GCRA over an LRU map. All state changes happen under one mutex; a check is a hash
// lookup and a list splice, so contention stays negligible at 12 requests per minute.
#include "daemon/net/rate_limiter.hpp"

#include <algorithm>
#include <string>

namespace tlsrpt::daemon {

RateLimiter::RateLimiter() : RateLimiter(Options{}) {}

RateLimiter::RateLimiter(Options o) : options_(o) {
  options_.burst = std::max(1u, options_.burst);
  options_.max_keys = std::max<std::size_t>(1, options_.max_keys);
  if (options_.period.count() <= 0) options_.period = std::chrono::milliseconds{60'000};
  interval_ = std::chrono::duration_cast<Clock::duration>(options_.period) / options_.burst;
  tolerance_ = interval_ * (options_.burst - 1);
  index_.reserve(std::min<std::size_t>(options_.max_keys, 1024));
}

RateDecision RateLimiter::check(std::string_view client_ip, Clock::time_point now) {
  return check(client_key(client_ip).value_or(ClientKey{}), now);
}

RateDecision RateLimiter::check(const ClientKey& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= options_.max_keys) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{key, now + interval_});  // a full bucket, minus this request's token
    index_.emplace(key, lru_.begin());
    return RateDecision{true, std::chrono::seconds{0}};
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  Entry& e = *it->second;
  Clock::time_point tat = std::max(e.tat, now);
  if (tat - now > tolerance_) {
    // Refused: the next token comes back when tat - now falls to the tolerance.
    auto wait = (tat - now) - tolerance_;
    auto secs = std::chrono::ceil<std::chrono::seconds>(wait);
    return RateDecision{false, std::max(secs, std::chrono::seconds{1})};
  }
  e.tat = tat + interval_;
  return RateDecision{true, std::chrono::seconds{0}};
}

RateDecision RateLimiter::peek(const ClientKey& key, Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return RateDecision{true, std::chrono::seconds{0}};
  Clock::time_point tat = std::max(it->second->tat, now);
  if (tat - now <= tolerance_) return RateDecision{true, std::chrono::seconds{0}};
  auto secs = std::chrono::ceil<std::chrono::seconds>((tat - now) - tolerance_);
  return RateDecision{false, std::max(secs, std::chrono::seconds{1})};
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace tlsrpt::daemon
