// The daily budget of unauthenticated input per client (issue 19: strangers must not
// fill the disk): bytes one client (IPv4 address or IPv6 /64, daemon/net/client_key.hpp)
// may submit unauthenticated (HTTPS, mail without a DKIM pass) per UTC day,
// limits.max_unauthenticated_bytes_per_client. The intake (intake.hpp) charges it, so
// every network channel is budgeted the same; admin channels (import, Maildir) are not.
// No clock and no sockets: the caller passes the time. Thread-safe.
//
// Semantics: a submission that would take the client past the limit is refused and
// charges nothing; the count starts again at 00:00 UTC, and a refusal says how many
// seconds remain until then (Retry-After). A charge is a reservation (BudgetCharge):
// the intake refunds it, once, when the submission ends storing nothing the sender
// will not send again (a temporary failure it must retry, or a duplicate). Memory: at most `max_keys` clients are
// remembered (about 100 bytes each: 10 MB at the default 100 000); a new client evicts
// the least recently seen one, which forgets its count, so only a sender with more
// than max_keys addresses in one day can be counted from zero again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "daemon/net/client_key.hpp"

namespace tlsrpt::daemon {

struct BudgetDecision {
  bool allowed = true;
  std::chrono::seconds retry_after{0};  // refused: seconds to the next UTC day (>= 1)
  std::uint64_t used = 0;               // the client's bytes today, after this charge
};

class ClientBudget {
 public:
  struct Options {
    std::size_t max_keys = 100'000;
  };
  ClientBudget();
  explicit ClientBudget(Options options);

  // Charges `bytes` to `key` for the UTC day of `now`, unless that takes it past `limit`.
  BudgetDecision charge(const ClientKey& key, std::uint64_t bytes, std::uint64_t limit,
                        std::chrono::system_clock::time_point now);

  // Gives back `bytes` charged to `key` on `day` (days since the epoch, UTC): nothing
  // when that day is over or the client was forgotten since.
  void refund(const ClientKey& key, std::uint64_t bytes, std::int64_t day);
  // The client's bytes today (0 when not remembered): for the tests.
  std::uint64_t used(const ClientKey& key, std::chrono::system_clock::time_point now) const;

  std::size_t size() const;  // clients remembered

 private:
  struct Entry {
    ClientKey key;
    std::int64_t day = 0;  // days since the epoch (UTC)
    std::uint64_t used = 0;
  };
  Options options_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently seen first
  std::unordered_map<ClientKey, std::list<Entry>::iterator, ClientKeyHash> index_;
};

// One submission's charge, settled once: kept or given back (copies share it, so
// whichever copy settles first decides). Thread-safe.
class BudgetCharge {
 public:
  BudgetCharge(std::shared_ptr<ClientBudget> budget, ClientKey key, std::uint64_t bytes,
               std::chrono::system_clock::time_point at);
  // The first call decides: with `give_back` the bytes return to the client's budget.
  // True when this call gave them back; later calls do nothing.
  bool settle(bool give_back);
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<ClientBudget> budget_;
  ClientKey key_;
  std::uint64_t bytes_ = 0;
  std::int64_t day_ = 0;
  std::atomic<bool> settled_{false};
};

}  // namespace tlsrpt::daemon
