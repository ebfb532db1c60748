// The database schema and its migrations, keyed by PRAGMA user_version. Tables are
// private; the views `reports`, `policy_daily`, `failure_daily` and `alerts` are the
// stable query interface (docs/architecture.md#storage-contract) and keep their columns
// across migrations.
#pragma once

#include <expected>

#include "storage/sqlite.hpp"

namespace tlsrpt::storage {

inline constexpr int kSchemaVersion = 7;

// Applies every missing migration, each in its own transaction. Refuses a database
// written by a newer tlsrptd.
std::expected<int, StoreError> migrate(Db& db);

// journal_mode=WAL, synchronous=FULL, foreign keys, defensive mode, busy timeout.
std::expected<void, StoreError> configure_connection(Db& db, int busy_timeout_ms);

}  // namespace tlsrpt::storage
