#include "daemon/intake/client_budget.hpp"

#include <algorithm>

namespace tlsrpt::daemon {

ClientBudget::ClientBudget() : ClientBudget(Options{}) {}

ClientBudget::ClientBudget(Options o) : options_(o) {
  options_.max_keys = std::max<std::size_t>(1, options_.max_keys);
  index_.reserve(std::min<std::size_t>(options_.max_keys, 1024));
}

BudgetDecision ClientBudget::charge(const ClientKey& key, std::uint64_t bytes, std::uint64_t limit,
                                    std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto today = floor<days>(now);
  const std::int64_t day = today.time_since_epoch().count();
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= options_.max_keys) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{key, day, 0});
    it = index_.emplace(key, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Entry& e = *it->second;
  if (e.day != day) e = Entry{key, day, 0};
  if (e.used + bytes > limit || e.used + bytes < e.used) {
    const auto wait = ceil<seconds>(today + days{1} - now);
    return BudgetDecision{false, std::max(wait, seconds{1}), e.used};
  }
  e.used += bytes;
  return BudgetDecision{true, seconds{0}, e.used};
}

void ClientBudget::refund(const ClientKey& key, std::uint64_t bytes, std::int64_t day) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end() || it->second->day != day) return;
  Entry& e = *it->second;
  e.used -= std::min(e.used, bytes);
}

std::uint64_t ClientBudget::used(const ClientKey& key, std::chrono::system_clock::time_point now) const {
  const std::int64_t day = std::chrono::floor<std::chrono::days>(now).time_since_epoch().count();
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  return it == index_.end() || it->second->day != day ? 0 : it->second->used;
}

BudgetCharge::BudgetCharge(std::shared_ptr<ClientBudget> budget, ClientKey key, std::uint64_t bytes,
                           std::chrono::system_clock::time_point at)
    : budget_(std::move(budget)),
      key_(std::move(key)),
      bytes_(bytes),
      day_(std::chrono::floor<std::chrono::days>(at).time_since_epoch().count()) {}

bool BudgetCharge::settle(bool give_back) {
  if (settled_.exchange(true) || !give_back) return false;
  budget_->refund(key_, bytes_, day_);
  return true;
}

std::size_t ClientBudget::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace tlsrpt::daemon
