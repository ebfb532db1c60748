#include "daemon/intake/store_writer.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>

#include "daemon/intake/commit.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "storage/alert_store.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {

StoreWriter::StoreWriter(StoreWriterOptions options) : options_(std::move(options)) {
  min_free_disk_.store(options_.min_free_disk);
}

StoreWriter::~StoreWriter() { stop(); }

std::expected<void, std::string> StoreWriter::start() {
  storage::StoreOptions so;
  so.busy_timeout_ms = options_.busy_timeout_ms;
  auto s = storage::Store::open(options_.database, so);
  if (!s) return std::unexpected(s.error().message);
  store_ = std::move(*s);
  // What a previous run stored but never evaluated (it crashed in between): evaluated
  // as soon as the writer is idle.
  if (after_commit_) {
    auto left = storage::AlertStore(store_->db()).pending();
    if (!left) return std::unexpected("reading the reports awaiting alert evaluation: " + left.error().message);
    pending_authenticated_ = std::move(left->authenticated);
    pending_unauthenticated_ = std::move(left->unauthenticated);
    if (!pending_authenticated_.empty() || !pending_unauthenticated_.empty()) {
      pending_since_ = std::chrono::steady_clock::now();
      log_notice("alerts: " + std::to_string(pending_authenticated_.size() + pending_unauthenticated_.size()) +
                 " reports stored by an earlier run were not evaluated yet; evaluating them");
    }
  }
  thread_ = std::thread([this] { run(); });
  return {};
}

void StoreWriter::submit(Ingested report, Provenance provenance, std::string raw, Done done, std::string hold_reason) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_queue) {
      queue_.push_back(Item{std::move(report), std::move(provenance), std::move(raw), std::move(hold_reason), std::move(done), {}});
      cv_.notify_one();
      return;
    }
  }
  done(StoreResult{Outcome::overloaded, "store queue full"});
}

void StoreWriter::probe(std::move_only_function<void(bool)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      Item item;
      item.probe = std::move(done);
      queue_.push_back(std::move(item));
      cv_.notify_one();
      return;
    }
  }
  done(false);
}

void StoreWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

bool StoreWriter::reopen() {
  // After an I/O error (a failed fsync above all) the file descriptor's state is
  // unknown (fsyncgate): never retry on it, open a fresh connection.
  store_.reset();
  storage::StoreOptions so;
  so.busy_timeout_ms = options_.busy_timeout_ms;
  so.create = false;
  auto s = storage::Store::open(options_.database, so);
  if (!s) {
    log_error("store: cannot reopen the database after an I/O error: " + escape_line(s.error().message));
    return false;
  }
  store_ = std::move(*s);
  log_notice("store: reopened the database after an I/O error");
  return true;
}

void StoreWriter::run() {
  std::vector<Item> batch;
  bool idled = false;  // the last wait was the alert backoff's, with the queue empty
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Idle: evaluate what the last commits stored before waiting (and before
      // stopping), so alerts follow their reports as soon as the flow pauses; but
      // not sooner than the evaluation's share allows (alerts_due_at): under a flow
      // with short pauses, the hook would otherwise run after nearly every commit.
      if (queue_.empty() && store_ && (!pending_authenticated_.empty() || !pending_unauthenticated_.empty())) {
        const auto due = alerts_due_at(true);
        if (!stopping_ && std::chrono::steady_clock::now() < due) {
          cv_.wait_until(lock, due, [&] { return stopping_ || !queue_.empty(); });
          idled = true;
          continue;
        }
        lock.unlock();
        evaluate_alerts();
        continue;
      }
      const bool was_idle = queue_.empty() || idled;
      idled = false;
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      // Group commit: give concurrent submitters a moment to join this transaction.
      // Only after idling: reports that queued up during the previous commit have
      // waited for a whole fsync already, and the next batch forms during this one.
      if (was_idle && options_.commit_delay.count() > 0 && queue_.size() < options_.max_batch && !stopping_) {
        auto until = std::chrono::steady_clock::now() + options_.commit_delay;
        cv_.wait_until(lock, until, [&] { return stopping_ || queue_.size() >= options_.max_batch; });
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    commit(batch);
    batch.clear();
    if (alerts_due()) evaluate_alerts();
  }
}

bool StoreWriter::alerts_due() const {
  const std::size_t n = pending_authenticated_.size() + pending_unauthenticated_.size();
  return n > 0 && (n >= kMaxAlertPending || std::chrono::steady_clock::now() >= alerts_due_at(false));
}

// When the hook may run next. It takes at most 1 / (1 + kAlertBackoff) of the writer's
// time: the next run waits kAlertBackoff times as long as the last one took, after
// it ended; while reports keep coming, also kMaxAlertDelay after the oldest pending
// report was stored. Whatever the last run took, what is pending is evaluated within
// kMaxAlertDelayUnderLoad of being stored.
std::chrono::steady_clock::time_point StoreWriter::alerts_due_at(bool idle) const {
  auto at = last_evaluation_end_ + kAlertBackoff * last_evaluation_;
  if (!idle) at = std::max(at, pending_since_ + kMaxAlertDelay);
  return std::min(at, pending_since_ + kMaxAlertDelayUnderLoad);
}

void StoreWriter::evaluate_alerts() {
  if (!after_commit_) {
    pending_authenticated_.clear();
    pending_unauthenticated_.clear();
    return;
  }
  // Without a connection (a reopen failed) the ids stay pending for the next one.
  if (!store_) return;
  std::vector<std::int64_t> authenticated, unauthenticated;
  authenticated.swap(pending_authenticated_);
  unauthenticated.swap(pending_unauthenticated_);
  const auto t0 = std::chrono::steady_clock::now();
  if (!authenticated.empty()) after_commit_(store_->db(), authenticated, true);
  if (!unauthenticated.empty()) after_commit_(store_->db(), unauthenticated, false);
  last_evaluation_end_ = std::chrono::steady_clock::now();
  last_evaluation_ = last_evaluation_end_ - t0;
}

void StoreWriter::commit(std::vector<Item>& batch) {
  if (reopen_ || !store_) {
    if (!reopen()) {
      fail(batch, "database unavailable");
      return;
    }
    reopen_ = false;
  }
  // Health probes: can a write transaction start?
  std::vector<Item> reports;
  for (auto& item : batch) {
    if (!item.probe) {
      reports.push_back(std::move(item));
      continue;
    }
    bool ok = static_cast<bool>(store_->db().exec("BEGIN IMMEDIATE"));
    if (ok) ok = static_cast<bool>(store_->db().exec("ROLLBACK"));
    item.probe(ok);
  }
  if (reports.empty()) return;
  if (disk_low()) {
    fail(reports, "free disk below limits.min_free_disk", Outcome::disk_full);
    return;
  }

  std::vector<storage::PendingReport> pending;
  pending.reserve(reports.size());
  for (auto& item : reports) pending.push_back({&item.report, &item.provenance, item.raw, item.hold_reason});

  auto t0 = std::chrono::steady_clock::now();
  std::vector<Committed> committed = commit_reports(*store_, pending);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics().observe("tlsrptd_store_commit_duration_seconds", {}, seconds);
  metrics().observe("tlsrptd_store_batch_reports", {}, static_cast<double>(reports.size()));

  // Which rows the alert hook evaluates, by authentication, before the items are
  // handed back: the counted ones (a duplicate's row when it authenticated it).
  std::vector<std::int64_t> authenticated, unauthenticated;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const Committed& c = committed[i];
    if (!c.outcome) {
      if ((c.outcome.error().code & 0xff) == SQLITE_IOERR) reopen_ = true;
      continue;
    }
    const bool counts = *c.outcome == storage::StoreOutcome::stored || *c.outcome == storage::StoreOutcome::duplicate;
    if (counts && c.row_id > 0)
      (reports[i].provenance.authenticated ? authenticated : unauthenticated).push_back(c.row_id);
  }
  finish(reports, committed);
  // After the replies, and after the commits that follow while reports keep coming:
  // alerting never delays an acknowledgement (docs/architecture.md#5-alerts).
  if (pending_authenticated_.empty() && pending_unauthenticated_.empty()) pending_since_ = std::chrono::steady_clock::now();
  pending_authenticated_.insert(pending_authenticated_.end(), authenticated.begin(), authenticated.end());
  pending_unauthenticated_.insert(pending_unauthenticated_.end(), unauthenticated.begin(), unauthenticated.end());
}

void StoreWriter::finish(std::vector<Item>& batch, const std::vector<Committed>& committed) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    StoreResult r;
    if (!committed[i].outcome) {
      r = {Outcome::storage_unavailable, committed[i].outcome.error().message};
    } else {
      switch (*committed[i].outcome) {
        case storage::StoreOutcome::stored: r.outcome = Outcome::stored; break;
        case storage::StoreOutcome::duplicate: r.outcome = Outcome::duplicate; break;
        case storage::StoreOutcome::conflict: r.outcome = Outcome::conflict; break;
        case storage::StoreOutcome::held: r.outcome = Outcome::held; break;
      }
    }
    if (batch[i].done) batch[i].done(std::move(r));
  }
}

void StoreWriter::fail(std::vector<Item>& batch, const std::string& error, Outcome outcome) {
  for (auto& item : batch)
    if (item.done) item.done(StoreResult{outcome, error});
}

// limits.min_free_disk, checked before each commit round (statvfs: microseconds), so
// a sender is told to retry before SQLite runs out of room mid-transaction. The
// threshold is the smaller of the limit and 1 % of the filesystem, so a small volume
// is not refused outright. A filesystem that cannot be asked is left to SQLite.
bool StoreWriter::disk_low() {
  const std::size_t min_free = min_free_disk_.load();
  if (min_free == 0) return false;
  std::filesystem::path dir = std::filesystem::path(options_.database).parent_path();
  struct statvfs st {};
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &st) != 0) return false;
  const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t size = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  const std::uint64_t need = std::min<std::uint64_t>(min_free, size / 100);
  metrics().set("tlsrptd_disk_free_bytes", {}, static_cast<double>(free));
  const bool low = free < need;
  if (low != disk_low_) {
    disk_low_ = low;
    metrics().set("tlsrptd_disk_low", {}, low ? 1 : 0);
    if (low)
      log_error("store: " + std::to_string(free) + " bytes free on the database's filesystem, below " +
                std::to_string(need) + " (limits.min_free_disk): reports are refused (503 / 452 4.3.1) until there is room");
    else
      log_notice("store: " + std::to_string(free) + " bytes free on the database's filesystem again: reports are accepted");
  }
  return low;
}

}  // namespace tlsrpt::daemon
