// storage/sqlite.cpp: the statement cache behind Db::cached (borrowed statements are
// reset, not finalized; a statement already out is never handed out twice).
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

}  // namespace
}  // namespace tlsrpt::storage
