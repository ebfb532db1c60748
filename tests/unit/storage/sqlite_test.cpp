// storage/sqlite.cpp: the statement cache behind Db::cached (borrowed statements are
// reset, not finalized; a statement already out is never handed out twice), and
// binds SQLite refuses surfacing as errors instead of running with a NULL parameter.
#include "storage/sqlite.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace tlsrpt::storage {
namespace {

class SqliteCacheTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  Db db;
  void SetUp() override {
    auto d = Db::open((dir.path() / "c.sqlite").string(), true);
    ASSERT_TRUE(d);
    db = std::move(*d);
    ASSERT_TRUE(db.exec("CREATE TABLE t (k INTEGER, v TEXT); INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c');"));
  }
  static std::string one(Db& db, std::int64_t k) {
    auto st = db.cached("SELECT v FROM t WHERE k = ?1");
    EXPECT_TRUE(st);
    st->bind(1, k);
    auto row = st->step();
    EXPECT_TRUE(row);
    return row && *row ? st->text(0) : std::string("<none>");
  }
};

TEST_F(SqliteCacheTest, ABorrowedStatementComesBackResetWithoutBindings) {
  EXPECT_EQ(one(db, 1), "a");
  EXPECT_EQ(one(db, 2), "b");  // the same statement again: stepped from the start
  auto st = db.cached("SELECT v FROM t WHERE k = ?1");
  ASSERT_TRUE(st);
  auto row = st->step();  // no binding left over from before: k = NULL matches nothing
  ASSERT_TRUE(row);
  EXPECT_FALSE(*row);
}

TEST_F(SqliteCacheTest, AStatementAlreadyOutIsNotHandedOutTwice) {
  auto outer = db.cached("SELECT v FROM t WHERE k >= ?1 ORDER BY k");
  ASSERT_TRUE(outer);
  outer->bind(1, std::int64_t{1});
  std::string seen;
  while (true) {
    auto row = outer->step();
    ASSERT_TRUE(row);
    if (!*row) break;
    seen += outer->text(0);
    // The same SQL while the outer one is mid-result: a separate statement.
    auto inner = db.cached("SELECT v FROM t WHERE k >= ?1 ORDER BY k");
    ASSERT_TRUE(inner);
    inner->bind(1, std::int64_t{3});
    auto r = inner->step();
    ASSERT_TRUE(r && *r);
    EXPECT_EQ(inner->text(0), "c");
  }
  EXPECT_EQ(seen, "abc");
}

TEST_F(SqliteCacheTest, BeyondTheCapStatementsArePreparedFresh) {
  for (std::size_t i = 0; i < Db::kMaxCached + 10; ++i) {
    auto st = db.cached("SELECT " + std::to_string(i));
    ASSERT_TRUE(st);
    auto row = st->step();
    ASSERT_TRUE(row && *row);
    EXPECT_EQ(st->int64(0), static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(one(db, 3), "c");
}

TEST_F(SqliteCacheTest, ABadStatementIsAnErrorAndNotCached) {
  EXPECT_FALSE(db.cached("SELECT nope FROM nowhere"));
  EXPECT_FALSE(db.cached("SELECT nope FROM nowhere"));
}

// SQLite leaves a parameter it refused to bind NULL; a statement run like that would
// store a row with a value missing, so each test also checks that nothing was written.
class SqliteBindTest : public ::testing::Test {
 protected:
  Db db;
  void SetUp() override {
    auto d = Db::open(":memory:", true);
    ASSERT_TRUE(d) << d.error().message;
    db = std::move(*d);
    ASSERT_TRUE(db.exec("CREATE TABLE t (k INTEGER, v TEXT, b BLOB)"));
  }
  std::int64_t rows() {
    auto st = db.prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(st);
    auto row = st->step();
    EXPECT_TRUE(row && *row);
    return st->int64(0);
  }
};

TEST_F(SqliteBindTest, IndexZeroIsAnErrorAndNothingRuns) {
  auto st = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
  ASSERT_TRUE(st);
  st->bind(0, std::string_view("x")).bind(1, std::int64_t{1}).bind(2, std::string_view("a"));
  auto r = st->run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SQLITE_RANGE);
  EXPECT_NE(r.error().message.find("bind parameter 0"), std::string::npos) << r.error().message;
  EXPECT_FALSE(r.error().transient());
  EXPECT_EQ(rows(), 0);
}

TEST_F(SqliteBindTest, IndexPastTheParameterCountIsAnError) {
  auto st = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
  ASSERT_TRUE(st);
  st->bind(1, std::int64_t{1}).bind(2, std::string_view("a")).bind(3, std::int64_t{7});
  auto r = st->run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SQLITE_RANGE);
  EXPECT_NE(r.error().message.find("bind parameter 3"), std::string::npos) << r.error().message;
  EXPECT_EQ(rows(), 0);
  // Each kind of bind reports it, step() as well as run().
  for (int kind = 0; kind < 4; ++kind) {
    auto q = db.prepare("SELECT ?1");
    ASSERT_TRUE(q);
    if (kind == 0) q->bind(2, std::string_view("a"));
    if (kind == 1) q->bind(2, std::int64_t{1});
    if (kind == 2) q->bind_blob(2, std::string_view("a"));
    if (kind == 3) q->bind_null(2);
    auto row = q->step();
    ASSERT_FALSE(row) << "kind " << kind;
    EXPECT_EQ(row.error().code, SQLITE_RANGE) << "kind " << kind;
  }
}

TEST_F(SqliteBindTest, TextOrBlobOverTheLengthLimitIsTooBig) {
  sqlite3_limit(db.handle(), SQLITE_LIMIT_LENGTH, 1000);
  const std::string big(1001, 'x');
  {
    auto st = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ASSERT_TRUE(st);
    st->bind(1, std::int64_t{1}).bind(2, std::string_view(big));
    auto r = st->run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, SQLITE_TOOBIG);
    EXPECT_NE(r.error().message.find("bind parameter 2"), std::string::npos) << r.error().message;
  }
  {
    auto st = db.prepare("INSERT INTO t (k, b) VALUES (?1, ?2)");
    ASSERT_TRUE(st);
    st->bind(1, std::int64_t{1}).bind_blob(2, big);
    auto r = st->run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, SQLITE_TOOBIG);
  }
  {
    auto st = db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ASSERT_TRUE(st);
    st->bind(1, std::int64_t{1}).bind(2, std::optional<std::string>(big));
    EXPECT_FALSE(st->run());
  }
  EXPECT_EQ(rows(), 0);
  // A value of exactly the limit binds (a row holding it would not: the limit counts
  // the whole record there).
  auto st = db.prepare("SELECT length(?1)");
  ASSERT_TRUE(st);
  st->bind(1, std::string_view(big).substr(0, 1000));
  auto row = st->step();
  ASSERT_TRUE(row && *row) << (row ? "" : row.error().message);
  EXPECT_EQ(st->int64(0), 1000);
}

TEST_F(SqliteBindTest, TheFirstFailureIsReportedAndTheStatementStartsCleanAfter) {
  // A statement kept for reuse (the store's, the cached ones) must not carry a failed
  // bind into its next use.
  auto st = db.cached("INSERT INTO t (k, v) VALUES (?1, ?2)");
  ASSERT_TRUE(st);
  st->bind(5, std::int64_t{1}).bind(0, std::int64_t{1});
  auto r = st->run();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bind parameter 5"), std::string::npos) << r.error().message;
  st->bind(1, std::int64_t{2}).bind(2, std::string_view("b"));
  EXPECT_TRUE(st->run());
  // step() reports it too, then the statement is reset with no bindings left.
  st->bind(9, std::int64_t{1}).bind(1, std::int64_t{3});
  EXPECT_FALSE(st->step());
  EXPECT_TRUE(st->run());  // k and v NULL: the binding of ?1 did not survive
  // reset() forgets a failed bind.
  st->bind(0, std::int64_t{1});
  st->reset();
  st->bind(1, std::int64_t{4}).bind(2, std::string_view("d"));
  EXPECT_TRUE(st->run());
  auto q = db.prepare("SELECT group_concat(coalesce(k, '-') || coalesce(v, '-'), ',') FROM t");
  ASSERT_TRUE(q);
  auto row = q->step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(q->text(0), "2b,--,4d");
}

TEST_F(SqliteBindTest, AFailedBindMovesWithTheStatement) {
  auto st = db.prepare("SELECT ?1");
  ASSERT_TRUE(st);
  st->bind(2, std::int64_t{1});
  Stmt moved = std::move(*st);
  EXPECT_FALSE(moved.step());
  Stmt assigned;
  auto again = db.prepare("SELECT ?1");
  ASSERT_TRUE(again);
  again->bind(0, std::int64_t{1});
  assigned = std::move(*again);
  EXPECT_FALSE(assigned.step());
}

}  // namespace
}  // namespace tlsrpt::storage
