// A thin RAII layer over the SQLite C API: a connection, prepared statements with
// bound parameters (never SQL built from data), and errors as values. Everything
// in storage/ talks to SQLite through this file.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tlsrpt::storage {

// The database, its -wal, -shm and -journal files are created readable by the service
// group only, in a folder only the group may enter (README.md#deployment-with-systemd).
inline constexpr unsigned kDatabaseFileMode = 0640;
inline constexpr unsigned kDatabaseDirMode = 0750;

struct StoreError {
  std::string message;
  int code = SQLITE_ERROR;  // the SQLite primary result code
  // Busy, locked, full, I/O error: the sender should retry later (503 / 451).
  bool transient() const;
};

class Stmt;

class Db {
 public:
  Db() = default;
  explicit Db(sqlite3* h) : h_(h) {}
  ~Db();
  Db(Db&& o) noexcept : h_(std::exchange(o.h_, nullptr)), cache_(std::move(o.cache_)) {}
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens (and with `create`, creates) a database file.
  static std::expected<Db, StoreError> open(const std::string& path, bool create, bool read_only = false);
  // For commands that only read: SQLITE_OPEN_READONLY (a missing file stays missing,
  // nothing is migrated), query_only as a second lock, and the same defensive
  // settings as a writing connection. Waits up to `busy_timeout_ms` for a writer.
  static std::expected<Db, StoreError> open_read_only(const std::string& path, int busy_timeout_ms);
  // PRAGMA user_version: the schema version the migrations left.
  std::expected<int, StoreError> user_version();

  sqlite3* handle() const { return h_; }
  // For fixed SQL text only (schema, pragmas, BEGIN/COMMIT): never report data.
  std::expected<void, StoreError> exec(const char* sql);
  std::expected<Stmt, StoreError> prepare(std::string_view sql, bool persistent = false);
  // Like prepare(), for SQL run again and again (the alert evaluation after every
  // commit): the statement is prepared once and kept with the connection; the Stmt
  // returned borrows it and resets it when it goes. Borrowing a statement that is
  // already out, or more than kMaxCached texts, falls back to a fresh prepare.
  std::expected<Stmt, StoreError> cached(const std::string& sql);
  StoreError error(std::string_view what) const;

  static constexpr std::size_t kMaxCached = 64;

 private:
  struct Cached {
    sqlite3_stmt* s = nullptr;
    bool out = false;  // borrowed by a live Stmt
  };
  void finalize_cache();

  sqlite3* h_ = nullptr;
  std::unordered_map<std::string, Cached> cache_;  // nodes are stable: Stmt points into them
};

class Stmt {
 public:
  friend class Db;
  Stmt() = default;
  Stmt(sqlite3_stmt* s, sqlite3* db) : s_(s), db_(db) {}
  // A statement borrowed from Db::cached(): reset, not finalized, at the end.
  Stmt(sqlite3_stmt* s, sqlite3* db, bool* out) : s_(s), db_(db), out_(out) {}
  ~Stmt();
  Stmt(Stmt&& o) noexcept
      : s_(std::exchange(o.s_, nullptr)), db_(o.db_), out_(std::exchange(o.out_, nullptr)),
        bind_error_(std::exchange(o.bind_error_, std::nullopt)) {}
  Stmt& operator=(Stmt&& o) noexcept;

  // Binds stay chainable; a bind SQLite refuses (index out of range, a value over
  // SQLITE_LIMIT_LENGTH, out of memory) is kept, the first one only, and the next
  // step() or run() returns it instead of running the statement with the parameter
  // missing. Report data is untrusted, so an oversized value is an error, never a crash.
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const std::optional<std::string>& v);
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::uint64_t v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind_null(int i);

  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else -> error. A failed bind
  // is returned without stepping; the statement is then reset with its bindings
  // cleared, so a statement kept for reuse starts clean.
  std::expected<bool, StoreError> step();
  // Runs to completion (for INSERT/UPDATE), then resets.
  std::expected<void, StoreError> run();
  // Also forgets a failed bind.
  void reset();

  std::int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  void release();
  Stmt& check_bind(int rc, int i);

  sqlite3_stmt* s_ = nullptr;
  sqlite3* db_ = nullptr;
  bool* out_ = nullptr;  // set for a borrowed statement
  std::optional<StoreError> bind_error_;
};

}  // namespace tlsrpt::storage
