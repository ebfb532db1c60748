// Step 5 of the flow (docs/architecture.md#5-alerts): after a batch of reports is committed, run the
// drift detectors for every policy domain and day the batch touched, update the
// alerts' lifecycle in the database, and hand what must be sent to the dispatcher,
// which delivers on its own threads. Never throws and never fails ingestion: errors
// are logged and the batch stays stored.
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/dispatcher.hpp"
#include "alerts/sink.hpp"
#include "daemon/config.hpp"
#include "storage/sqlite.hpp"

namespace tlsrpt::daemon {

// The sinks of `cfg.sinks` (one log sink when none is configured). Reads password
// files; a problem is a startup error with the table's file:line.
using LogFn = std::function<void(std::string_view line)>;  // thread-safe, one line, no newline
std::expected<std::vector<std::unique_ptr<alerts::Sink>>, std::string> make_sinks(const AlertsConfig& cfg, LogFn log);

class Alerting {
 public:
  struct Result {
    std::size_t evaluated = 0;  // (policy domain, day) pairs run through the detectors
    std::size_t opened = 0, notified = 0, held_back = 0, resolved = 0;
    bool ok = true;  // false: a database error; logged, nothing of this run was kept
  };

  static std::expected<std::unique_ptr<Alerting>, std::string> create(const AlertsConfig& cfg, LogFn log);
  Alerting(const AlertsConfig& cfg, std::vector<std::unique_ptr<alerts::Sink>> sinks, LogFn log,
           alerts::Dispatcher::Options dispatch = {});
  ~Alerting();

  // Call after committed store_batches (the writer: once its queue is empty), on the
  // thread that owns `db`, with the row ids of the reports they stored (StoreOutcome::stored; duplicates and
  // conflicts add nothing) and whether the channel authenticated them (HTTPS: false;
  // mail: DKIM passed; import: true). Runs one short transaction; sending happens on
  // the dispatcher's threads.
  Result after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated,
                      std::chrono::sys_seconds now);
  Result after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated);

  // An archive's evaluation (`report import`, after the last batch): the reports are
  // evaluated with the authentication the store recorded for them (imported: yes);
  // each (policy domain, day) they touch is evaluated
  // once, each domain's days in order. Days that are stale (alerts.stale_after) are
  // skipped except a domain's latest one, so an archive leaves each domain's current
  // state rather than an alert per historical wobble. One transaction per group of
  // domains; a failed group is logged and the rest go on.
  Result after_import(storage::Db& db, std::span<const std::int64_t> report_ids, std::chrono::sys_seconds now);

  // Waits up to `deadline` for queued alerts to be delivered, then stops the sinks.
  bool shutdown(std::chrono::milliseconds deadline);

 private:
  AlertsConfig cfg_;
  LogFn log_;
  alerts::Dispatcher dispatcher_;
};

// The Alerting the store writer's after-commit hook runs, replaceable (SIGHUP) while
// the writer thread runs. A batch in evaluation finishes with the Alerting it began
// with; retire() waits for that before draining the replaced one, so no alert is
// dispatched to sinks that already stopped.
class AlertingSlot {
 public:
  explicit AlertingSlot(std::shared_ptr<Alerting> alerting) : current_(std::move(alerting)) {}

  // The hook: on the writer thread, once its queue is empty after commits.
  Alerting::Result after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated);
  // The next batch uses `next`; returns the replaced one. Never blocks.
  std::shared_ptr<Alerting> replace(std::shared_ptr<Alerting> next) { return current_.exchange(std::move(next)); }
  std::shared_ptr<Alerting> current() const { return current_.load(); }
  // Waits until no evaluation uses `old` (at most one, of up to kMaxAlertPending
  // reports), then lets its
  // sinks deliver what they hold within `deadline` and stops them. Can take that
  // long: call it off the network threads.
  bool retire(std::shared_ptr<Alerting> old, std::chrono::milliseconds deadline);

 private:
  std::atomic<std::shared_ptr<Alerting>> current_;
  std::mutex evaluating_;  // held by after_commit while it runs
};

// How long `report import` waits at exit for alerts still being delivered.
inline constexpr std::chrono::milliseconds kImportDrainDeadline{60000};

}  // namespace tlsrpt::daemon
