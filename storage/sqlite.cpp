#include "storage/sqlite.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace tlsrpt::storage {

bool StoreError::transient() const {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
      return true;
    default:
      return false;
  }
}

Db::~Db() {
  finalize_cache();
  if (h_) sqlite3_close_v2(h_);
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    finalize_cache();
    if (h_) sqlite3_close_v2(h_);
    h_ = std::exchange(o.h_, nullptr);
    cache_ = std::move(o.cache_);
  }
  return *this;
}

void Db::finalize_cache() {
  for (auto& [sql, c] : cache_) sqlite3_finalize(c.s);
  cache_.clear();
}

namespace {

// SQLite creates a database 0644 (SQLITE_DEFAULT_FILE_PERMISSIONS) and gives its -wal,
// -shm and -journal files the database's mode: made here first as kDatabaseFileMode,
// every one of them is readable by the service group only. An empty file is an empty
// database to SQLite.
void create_private(const std::string& path) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kDatabaseFileMode);
  if (fd >= 0) ::close(fd);  // EEXIST and the rest: SQLite opens it, or says why not
}

}  // namespace

std::expected<Db, StoreError> Db::open(const std::string& path, bool create, bool read_only) {
  if (create && !read_only) create_private(path);
  sqlite3* h = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &h, flags, nullptr);
  if (rc != SQLITE_OK) {
    StoreError e{"cannot open database " + path + ": " + (h ? sqlite3_errmsg(h) : sqlite3_errstr(rc)), rc};
    if (h) sqlite3_close_v2(h);
    return std::unexpected(std::move(e));
  }
  return Db(h);
}

std::expected<Db, StoreError> Db::open_read_only(const std::string& path, int busy_timeout_ms) {
  auto db = open(path, /*create=*/false, /*read_only=*/true);
  if (!db) return db;
  sqlite3_busy_timeout(db->h_, busy_timeout_ms);
  sqlite3_db_config(db->h_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db->h_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  if (auto r = db->exec("PRAGMA query_only=1"); !r) return std::unexpected(r.error());
  return db;
}

std::expected<int, StoreError> Db::user_version() {
  auto st = prepare("PRAGMA user_version");
  if (!st) return std::unexpected(st.error());
  auto row = st->step();
  if (!row) return std::unexpected(row.error());
  return static_cast<int>(st->int64(0));
}

StoreError Db::error(std::string_view what) const {
  return StoreError{std::string(what) + ": " + sqlite3_errmsg(h_), sqlite3_extended_errcode(h_)};
}

std::expected<void, StoreError> Db::exec(const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    StoreError e{std::string(msg ? msg : sqlite3_errstr(rc)), sqlite3_extended_errcode(h_)};
    sqlite3_free(msg);
    return std::unexpected(std::move(e));
  }
  return {};
}

std::expected<Stmt, StoreError> Db::prepare(std::string_view sql, bool persistent) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(h_, sql.data(), static_cast<int>(sql.size()),
                              persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(error("prepare"));
  return Stmt(s, h_);
}

std::expected<Stmt, StoreError> Db::cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    if (cache_.size() >= kMaxCached) return prepare(sql);
    auto st = prepare(sql, /*persistent=*/true);
    if (!st) return st;
    sqlite3_stmt* s = std::exchange(st->s_, nullptr);
    it = cache_.emplace(sql, Cached{s, false}).first;
  }
  if (it->second.out) return prepare(sql);
  it->second.out = true;
  return Stmt(it->second.s, h_, &it->second.out);
}

void Stmt::release() {
  if (!s_) return;
  if (out_) {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    *out_ = false;
  } else {
    sqlite3_finalize(s_);
  }
  s_ = nullptr;
  out_ = nullptr;
}

Stmt::~Stmt() { release(); }

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    release();
    s_ = std::exchange(o.s_, nullptr);
    db_ = o.db_;
    out_ = std::exchange(o.out_, nullptr);
    bind_error_ = std::exchange(o.bind_error_, std::nullopt);
  }
  return *this;
}

Stmt& Stmt::check_bind(int rc, int i) {
  // The code, not sqlite3_errmsg(): the connection's message may be overwritten by
  // other calls before step() reports this.
  if (rc != SQLITE_OK && !bind_error_)
    bind_error_ = StoreError{"bind parameter " + std::to_string(i) + ": " + sqlite3_errstr(rc), rc};
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  return check_bind(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), i);
}
Stmt& Stmt::bind(int i, const std::optional<std::string>& v) {
  if (v) return bind(i, std::string_view(*v));
  return bind_null(i);
}
Stmt& Stmt::bind(int i, std::int64_t v) { return check_bind(sqlite3_bind_int64(s_, i, v), i); }
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  return check_bind(sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT), i);
}
Stmt& Stmt::bind_null(int i) { return check_bind(sqlite3_bind_null(s_, i), i); }

std::expected<bool, StoreError> Stmt::step() {
  if (bind_error_) {
    StoreError e = std::move(*bind_error_);
    reset();
    return std::unexpected(std::move(e));
  }
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  StoreError e{std::string(sqlite3_errmsg(db_)), sqlite3_extended_errcode(db_)};
  sqlite3_reset(s_);
  return std::unexpected(std::move(e));
}

std::expected<void, StoreError> Stmt::run() {
  auto r = step();
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  if (!r) return std::unexpected(std::move(r.error()));
  return {};
}

void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  bind_error_.reset();
}

std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}

std::optional<std::string> Stmt::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

}  // namespace tlsrpt::storage
