// Hop [3] for every channel (docs/architecture.md#3-store): one batch of checked
// reports into the store in one transaction, and what the commit says is counted in
// /metrics. The serve process's store writer and `report import` both commit
// through here, so batching, the per-report retry and the metrics are the same
// whichever way a report came.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <vector>

#include "storage/store.hpp"

namespace tlsrpt::daemon {

struct Committed {
  std::expected<storage::StoreOutcome, storage::StoreError> outcome;
  std::int64_t row_id = 0;  // as Store::store_batch's row_ids
};

// The batch in one transaction; when that fails for a reason that is not transient
// (a constraint, a too-big row), each report on its own, so one bad report cannot
// fail its neighbours. A transient failure (busy, locked, I/O) fails the batch: the
// senders retry. Every committed outcome is counted (tlsrptd_reports_total by
// channel, tlsrptd_sessions_total by policy domain for the stored ones).
std::vector<Committed> commit_reports(storage::Store& store, std::span<const storage::PendingReport> batch);

}  // namespace tlsrpt::daemon
