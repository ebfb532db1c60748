// GCRA over an LRU map. All state changes happen under one mutex; a check is a hash
// lookup and a list splice, so contention stays negligible at 12 requests per minute.
#include "record/rate_limiter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tlsrpt::record {

std::optional<RateKey> rate_key(std::string_view ip) {
  if (ip.empty() || ip.size() > 64) return std::nullopt;
  if (auto pct = ip.find('%'); pct != std::string_view::npos) ip = ip.substr(0, pct);  // IPv6 zone
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  std::string s(ip);
  unsigned char bin[16];
  RateKey k;
  if (inet_pton(AF_INET, s.c_str(), bin) == 1) {
    k.family = 4;
    std::memcpy(k.bytes.data(), bin, 4);
    return k;
  }
  if (inet_pton(AF_INET6, s.c_str(), bin) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bin, kMapped, 12) == 0) {
      k.family = 4;
      std::memcpy(k.bytes.data(), bin + 12, 4);
      return k;
    }
    k.family = 6;
    std::memcpy(k.bytes.data(), bin, 8);  // the /64
    return k;
  }
  return std::nullopt;
}

std::size_t RateLimiter::KeyHash::operator()(const RateKey& k) const noexcept {
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
  return check(rate_key(client_ip).value_or(RateKey{}), now);
}

RateDecision RateLimiter::check(const RateKey& key, Clock::time_point now) {
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

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace tlsrpt::record
