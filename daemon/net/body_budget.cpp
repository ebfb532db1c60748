#include "daemon/net/body_budget.hpp"

#include <algorithm>

namespace tlsrpt::daemon {
namespace {

// Body bytes received per second since the body started (slowest first when cutting).
double rate(const BodyBudget::Body& b, BodyBudget::Clock::time_point now) {
  const double age = std::max(0.001, std::chrono::duration<double>(now - b.started).count());
  return static_cast<double>(b.received.load(std::memory_order_relaxed)) / age;
}

// True when a is to be cut before b: slower, then older.
bool cut_first(const BodyBudget::Body& a, const BodyBudget::Body& b, BodyBudget::Clock::time_point now) {
  const double ra = rate(a, now), rb = rate(b, now);
  if (ra != rb) return ra < rb;
  return a.started < b.started;
}

}  // namespace

std::vector<std::shared_ptr<BodyBudget::Body>> BodyBudget::plan_cuts(const std::string& key, std::size_t n,
                                                                       Clock::time_point now) const {
  std::map<std::string, std::size_t> held;  // holdings once the planned cuts are made
  for (const auto& [k, h] : holders_) held[k] = h.held;
  const std::size_t mine = held.count(key) ? held[key] : 0;
  std::vector<std::shared_ptr<Body>> chosen;
  auto planned = [&](const std::shared_ptr<Body>& b) { return std::ranges::find(chosen, b) != chosen.end(); };
  auto cuttable = [&](const std::shared_ptr<Body>& b) { return !b->settled && !b->cut.load() && !planned(b); };
  std::size_t used = used_;
  // The client that holds less wins: a body may be cut only if its client still holds
  // at least as much as the requester once admitted (equal holdings before: no cut).
  auto allowed = [&](const std::shared_ptr<Body>& b) {
    return cuttable(b) && held[b->key] >= b->bytes && held[b->key] - b->bytes >= mine + n;
  };
  while (used + n > total_) {
    // The slowest allowed body of the biggest holder that has one.
    std::shared_ptr<Body> victim;
    for (const auto& [k, h] : holders_) {
      if (k == key) continue;
      for (const auto& b : h.bodies) {
        if (!allowed(b)) continue;
        const bool bigger = victim && held[k] > held[victim->key];
        if (!victim || bigger || (held[k] == held[victim->key] && cut_first(*b, *victim, now))) victim = b;
      }
    }
    if (!victim) return {};
    chosen.push_back(victim);
    held[victim->key] -= victim->bytes;
    used -= victim->bytes;
  }
  return chosen;
}

BodyBudget::Grant BodyBudget::reserve(const std::string& key, std::size_t n, Clock::time_point now,
                                      std::function<void()> cancel) {
  Grant g;
  {
    std::lock_guard lock(mu_);
    auto it = holders_.find(key);
    const std::size_t mine = it == holders_.end() ? 0 : it->second.held;
    // One request is always let in; beyond it, the client's share.
    if (mine > 0 && mine + n > per_client_) {
      g.refused = Refusal::per_client;
      return g;
    }
    if (used_ + n > total_) {
      g.cut = plan_cuts(key, n, now);
      if (g.cut.empty()) {
        g.refused = Refusal::in_flight;
        return g;
      }
      for (auto& victim : g.cut) {
        victim->cut = true;
        forget(*victim);
      }
    }
    g.body = std::make_shared<Body>();
    g.body->key = key;
    g.body->bytes = n;
    g.body->started = now;
    g.body->cancel = std::move(cancel);
    auto& h = holders_[key];
    h.held += n;
    h.bodies.push_back(g.body);
    used_ += n;
  }
  for (auto& victim : g.cut)
    if (victim->cancel) victim->cancel();
  return g;
}

void BodyBudget::forget(Body& b) {
  auto it = holders_.find(b.key);
  if (it == holders_.end()) return;
  auto& bodies = it->second.bodies;
  auto pos = std::ranges::find_if(bodies, [&](const std::shared_ptr<Body>& x) { return x.get() == &b; });
  if (pos == bodies.end()) return;
  bodies.erase(pos);
  it->second.held -= std::min(it->second.held, b.bytes);
  used_ -= std::min(used_, b.bytes);
  if (bodies.empty()) holders_.erase(it);
}

void BodyBudget::settle(Body& b) {
  std::lock_guard lock(mu_);
  if (b.settled) return;
  b.settled = true;
  if (!b.cut.load()) return;
  b.cut = false;
  auto& h = holders_[b.key];
  h.held += b.bytes;
  h.bodies.push_back(b.shared_from_this());
  used_ += b.bytes;
}

void BodyBudget::release(Body& b) {
  std::lock_guard lock(mu_);
  b.settled = true;
  if (!b.cut.load()) forget(b);
}

std::size_t BodyBudget::used() const {
  std::lock_guard lock(mu_);
  return used_;
}

std::size_t BodyBudget::held_by(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = holders_.find(key);
  return it == holders_.end() ? 0 : it->second.held;
}

}  // namespace tlsrpt::daemon
