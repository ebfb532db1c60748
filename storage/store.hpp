// Hop [3] of the flow (docs/architecture.md#the-flow-of-one-report): the only writer of
// reports. A batch of ingested reports is stored in ONE transaction (dedupe, rows, raw
// bytes, COMMIT with synchronous=FULL); a caller acknowledges a report only after
// store_batch returned its outcome. Not thread-safe: one Store per writer thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parser/ingest.hpp"
#include "storage/sqlite.hpp"

namespace tlsrpt::storage {

enum class StoreOutcome {
  stored,     // new report, counted
  duplicate,  // same (organization-name, report-id) and same content: counted once
  conflict,   // same key, different content: kept and flagged, not counted (an
              // authenticated report takes the place of an unauthenticated counted one)
  held,       // kept among the held reports (hold_reason), not counted
};
std::string_view to_token(StoreOutcome o);

struct PendingReport {
  const Ingested* report = nullptr;
  const Provenance* provenance = nullptr;
  std::string_view raw;  // the bytes as submitted
  // Not counted but kept among the held reports, for this reason (a mailed report
  // without a valid DKIM signature under smtp.dkim = "require"). Empty: store it.
  std::string_view hold_reason = {};
};

struct StoreOptions {
  bool create = true;
  int busy_timeout_ms = 5000;
};

class Store {
 public:
  static std::expected<std::unique_ptr<Store>, StoreError> open(const std::string& path,
                                                                const StoreOptions& options = {});
  ~Store();

  // Every report of the batch or none; outcomes in batch order. With `row_ids`, also
  // the report row id of each entry (0 for a duplicate, which adds no row): the alert
  // hook evaluates the rows a batch created.
  std::expected<std::vector<StoreOutcome>, StoreError> store_batch(std::span<const PendingReport> batch,
                                                                   std::vector<std::int64_t>* row_ids = nullptr);

  Db& db() { return db_; }

 private:
  explicit Store(Db db);
  std::expected<StoreOutcome, StoreError> store_one(const PendingReport& p, std::int64_t& row_id);
  struct KeyState {
    StoreOutcome outcome = StoreOutcome::stored;
    std::int64_t counted_unauthenticated = 0;  // the counted row of this key, if unauthenticated
    bool counted_authenticated = false;
  };
  std::expected<KeyState, StoreError> find_key(const PendingReport& p);
  std::expected<std::int64_t, StoreError> insert_report_row(const PendingReport& p, std::string_view status);
  std::expected<void, StoreError> insert_raw_and_auth(std::int64_t id, const PendingReport& p);
  std::expected<void, StoreError> insert_policies(std::int64_t id, const Report& r);
  std::expected<void, StoreError> prepare_statements();

  Db db_;
  std::expected<StoreOutcome, StoreError> hold_one(const PendingReport& p);
  Stmt find_, demote_, insert_report_, insert_raw_, insert_policy_, insert_failure_, insert_auth_, find_held_, insert_held_;
};

}  // namespace tlsrpt::storage
