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

// docs/receiver-rules.md#report-identity
enum class StoreOutcome {
  stored,     // new report, counted
  duplicate,  // the same canonical content, from anyone on any channel: counted once
  conflict,   // same reporter, organization-name and report-id, other content: kept
              // and flagged, not counted
  held,       // kept among the held reports (hold_reason), not counted
};
std::string_view to_token(StoreOutcome o);

// Who a report is counted for: "dkim:<d=>" when a DKIM signature aligned with From
// authenticated it, else "org:<organization-name> <<contact-info>>" (what an
// unauthenticated report says about itself). Reports of different reporters never
// conflict.
std::string reporter_identity(const Report& report, const Provenance& provenance);

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
  // the report row id of each entry (0 for a duplicate, which adds no row, unless it
  // authenticated or attributed the stored copy): the alert hook evaluates these rows.
  std::expected<std::vector<StoreOutcome>, StoreError> store_batch(std::span<const PendingReport> batch,
                                                                   std::vector<std::int64_t>* row_ids = nullptr);

  Db& db() { return db_; }

 private:
  explicit Store(Db db);
  std::expected<StoreOutcome, StoreError> store_one(const PendingReport& p, std::int64_t& row_id);
  struct Twin {
    std::int64_t id = 0;  // a stored report with the same content, 0 if none
    bool authenticated = false;
    bool counted = false;
  };
  std::expected<Twin, StoreError> find_twin(const PendingReport& p);
  std::expected<bool, StoreError> key_taken(const PendingReport& p, const std::string& reporter);
  std::expected<std::int64_t, StoreError> improve_twin(const Twin& twin, const PendingReport& p);
  std::expected<bool, StoreError> authenticate_twin(const Twin& twin, const PendingReport& p);
  std::expected<bool, StoreError> attribute_twin(const Twin& twin, const Ingested& copy);
  std::expected<std::int64_t, StoreError> insert_report_row(const PendingReport& p, std::string_view status,
                                                            const std::string& reporter, std::string_view day);
  std::expected<void, StoreError> insert_raw_and_auth(std::int64_t id, const PendingReport& p);
  // The policy rows carry the report's day (schema 7: the detectors' index).
  std::expected<void, StoreError> insert_policies(std::int64_t id, const Ingested& ingested, std::string_view day);
  std::expected<void, StoreError> mark_pending(std::int64_t id);
  std::expected<void, StoreError> prepare_statements();

  Db db_;
  std::expected<StoreOutcome, StoreError> hold_one(const PendingReport& p);
  Stmt find_twin_, find_key_, upgrade_auth_, upgrade_signer_, attribute_twin_, insert_report_, insert_raw_, insert_policy_, insert_failure_, insert_auth_, find_held_, insert_held_, insert_pending_;
};

}  // namespace tlsrpt::storage
