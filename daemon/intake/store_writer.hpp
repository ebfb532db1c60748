// The single store writer (docs/architecture.md#3-store): one thread owns the SQLite store and
// commits what every connection submitted in ONE transaction per round (group
// commit, synchronous=FULL). Each submitter's completion runs only after the commit
// that holds its report, or with storage_unavailable when that commit failed — so no
// transport can acknowledge a report that is not durable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "daemon/intake/commit.hpp"
#include "daemon/protocol/reply_table.hpp"
#include "parser/ingest.hpp"
#include "storage/store.hpp"

namespace tlsrpt::daemon {

struct StoreResult {
  Outcome outcome = Outcome::storage_unavailable;
  std::string detail;  // the storage error, for the log
};

struct StoreWriterOptions {
  std::string database;
  std::size_t max_batch = 256;                                 // reports per transaction
  std::chrono::microseconds commit_delay{1000};                // wait for more after the first
  std::size_t max_queue = 4096;                                // submissions waiting: beyond, overloaded
  int busy_timeout_ms = 5000;                                  // a locked database: wait this long, then 503
  std::size_t min_free_disk = 0;  // limits.min_free_disk: below it (or 1 % of the filesystem), disk_full; 0: off
};

class StoreWriter {
 public:
  using Done = std::move_only_function<void(StoreResult)>;

  explicit StoreWriter(StoreWriterOptions options);
  ~StoreWriter();

  // Opens the database (creating and migrating it) and starts the thread.
  std::expected<void, std::string> start();
  // Hands a parsed report to the writer. `done` runs on the writer thread: post to
  // your own executor from it. Never blocks; a full queue completes at once with
  // Outcome::overloaded.
  // With a `hold_reason` the report is kept among the held reports, not counted.
  void submit(Ingested report, Provenance provenance, std::string raw, Done done, std::string hold_reason = {});
  // Runs `done(true)` when a write transaction can be started right now (/healthz).
  void probe(std::move_only_function<void(bool)> done);
  // Commits what is queued, completes everything, joins the thread.
  void stop();
  // SIGHUP: a new limits.min_free_disk for the next rounds.
  void set_min_free_disk(std::size_t bytes) { min_free_disk_.store(bytes); }

  // The alert hook (docs/architecture.md#5-alerts hop [5]): runs on the writer thread
  // with the row ids of the reports commits stored, once per authentication state.
  // Never while reports wait to be committed: the ids of consecutive commits are
  // gathered while reports keep arriving, and the hook runs once the queue is empty,
  // or after kMaxAlertDelay / kMaxAlertPending under a steady flow, so each (domain,
  // day) they touch is evaluated once for all of them; each run waits kAlertBackoff
  // times the last one's duration (a fifth of the writer's time at most, unless the
  // kMaxAlertDelayUnderLoad or kMaxAlertPending bound comes first). Set before start().
  using AfterCommit = std::function<void(storage::Db& db, std::span<const std::int64_t> stored, bool authenticated)>;
  void set_after_commit(AfterCommit f) { after_commit_ = std::move(f); }

 private:
  struct Item {
    Ingested report;
    Provenance provenance;
    std::string raw;
    std::string hold_reason;
    Done done;
    std::move_only_function<void(bool)> probe;  // set for health probes instead
  };
  void run();
  void commit(std::vector<Item>& batch);
  void evaluate_alerts();
  bool alerts_due() const;
  std::chrono::steady_clock::time_point alerts_due_at(bool idle) const;
  void finish(std::vector<Item>& batch, const std::vector<Committed>& committed);
  void fail(std::vector<Item>& batch, const std::string& error, Outcome outcome = Outcome::storage_unavailable);
  bool reopen();
  bool disk_low();

  StoreWriterOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool reopen_ = false;  // the last error was an I/O error: use a fresh connection
  std::atomic<std::size_t> min_free_disk_{0};
  bool disk_low_ = false;  // in a low-disk episode (logged once at its start and end)
  std::thread thread_;
  AfterCommit after_commit_;
  // Stored since the hook last ran, by authentication; when the oldest was stored.
  std::vector<std::int64_t> pending_authenticated_, pending_unauthenticated_;
  std::chrono::steady_clock::time_point pending_since_{};
  // The hook's last run: when it ended and how long it took.
  std::chrono::steady_clock::time_point last_evaluation_end_{};
  std::chrono::steady_clock::duration last_evaluation_{};
};

// The longest an alert evaluation waits behind a steady flow of reports, and the most
// stored reports it gathers before it runs anyway. Each run waits kAlertBackoff times
// its predecessor's duration (so the hook takes at most a fifth of the writer's time),
// but what is pending waits at most kMaxAlertDelayUnderLoad, and kMaxAlertPending
// reports run it at once.
inline constexpr std::chrono::milliseconds kMaxAlertDelay{1000};
inline constexpr std::size_t kMaxAlertPending = 20000;
inline constexpr int kAlertBackoff = 4;
inline constexpr std::chrono::seconds kMaxAlertDelayUnderLoad{30};

}  // namespace tlsrpt::daemon
