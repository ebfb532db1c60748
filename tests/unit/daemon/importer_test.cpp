// daemon/importer.cpp: folders expand recursively and in order; each file gets one
// outcome; batches commit together; nothing partial is stored from a bad file.
#include "daemon/intake/importer.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

std::string report(const std::string& id, int ok) {
  return R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"contact-info":"a@b.c","report-id":")" +
         id + R"(","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},"summary":{"total-successful-session-count":)" +
         std::to_string(ok) + R"(,"total-failure-session-count":0}}]})";
}

void write(const std::filesystem::path& p, const std::string& data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

TEST(Importer, FoldersFilesAndOutcomes) {
  test::TempDir dir;
  write(dir.path() / "in" / "b" / "2.json.gz", test::gzip(report("r2", 2)));
  write(dir.path() / "in" / "a.json", report("r1", 1));
  write(dir.path() / "in" / "c-dup.bin", report("r1", 1));        // same report, odd name
  write(dir.path() / "in" / "d-bad.json", "{\"organization-name\":1}");
  write(dir.path() / "in" / "e-conflict.json", report("r1", 100));
  write(dir.path() / "in" / ".DS_Store", "junk");                 // hidden: skipped
  write(dir.path() / "in" / ".git" / "x.json", report("r9", 9));  // hidden folder: skipped
  auto store = storage::Store::open((dir.path() / "db.sqlite").string());
  ASSERT_TRUE(store);

  std::vector<ImportResult> missing;
  auto files = Importer::expand({(dir.path() / "in").string(), (dir.path() / "nope").string()}, missing);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].kind, ImportResult::Kind::failed);
  ASSERT_EQ(files.size(), 5u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "a.json");  // sorted, recursive
  EXPECT_EQ(std::filesystem::path(files[1]).filename(), "2.json.gz");

  std::vector<ImportResult> results;
  Intake intake(IntakeRules{});
  Importer imp(**store, intake, 2);  // batches of two
  auto sum = imp.run(files, [&](const ImportResult& r) { results.push_back(r); });
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].kind, ImportResult::Kind::stored);
  EXPECT_EQ(results[1].kind, ImportResult::Kind::stored);
  EXPECT_EQ(results[2].kind, ImportResult::Kind::duplicate);
  EXPECT_EQ(results[3].kind, ImportResult::Kind::rejected);
  EXPECT_EQ(results[3].reason, "organization-name: expected a string, got a number");
  EXPECT_EQ(results[4].kind, ImportResult::Kind::conflict);
  EXPECT_EQ(sum.files, 5u);
  EXPECT_EQ(sum.stored, 2u);
  EXPECT_EQ(sum.duplicate, 1u);
  EXPECT_EQ(sum.rejected, 1u);
  EXPECT_EQ(sum.conflict, 1u);

  // Importing everything again changes nothing.
  results.clear();
  sum = imp.run(files, [&](const ImportResult& r) { results.push_back(r); });
  EXPECT_EQ(sum.stored, 0u);
  EXPECT_EQ(sum.duplicate, 4u);  // both reports, the renamed copy and the conflict's content
  EXPECT_EQ(sum.rejected, 1u);
  auto q = (*store)->db().prepare("SELECT sum(successful_sessions) FROM policy_daily");
  ASSERT_TRUE(q && *q->step());
  EXPECT_EQ(q->int64(0), 3);
}

TEST(Importer, OversizedFilesAreRefusedUnread) {
  test::TempDir dir;
  write(dir.path() / "big.json", std::string(3 * kMiB, ' '));
  auto store = storage::Store::open((dir.path() / "db.sqlite").string());
  ASSERT_TRUE(store);
  Intake intake(IntakeRules{});
  Importer imp(**store, intake);
  std::vector<ImportResult> results;
  imp.run({(dir.path() / "big.json").string()}, [&](const ImportResult& r) { results.push_back(r); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, ImportResult::Kind::rejected);
  EXPECT_NE(results[0].reason.find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace tlsrpt::daemon
