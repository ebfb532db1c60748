// Helpers shared by the unit tests: file paths of the project's own test data
// (tests/corpus) and of the external interop corpus, reading files, temporary
// directories that clean up after themselves.
#pragma once

#include <filesystem>
#include <string>

namespace tlsrpt::test {

// The external interop corpus (public reports and report mails): TLSRPT_CORPUS_DIR
// from the environment when set and non-empty, else the folder configured at build
// time (empty by default). It is not part of this repository: tests over it skip when
// the path is empty or the folder is absent.
std::filesystem::path corpus_dir();
bool corpus_present();
std::filesystem::path source_dir();        // the repository root
std::filesystem::path quirk_dir();         // tests/corpus: this repository's own files
std::string read_file(const std::filesystem::path& p);
std::string gzip(std::string_view data, int level = 6);  // a gzip member of `data`

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Take a current database back to before a schema migration, so a test can make the
// shape an older tlsrptd left behind. To version 6 (without migration 6's sums: a
// test adds what it needs of them): the policy rows without their day, the indexes
// of before.
#define TLSRPT_UNDO_MIGRATION7                                                                  \
  "DROP INDEX policy_by_domain_day; ALTER TABLE policy DROP COLUMN day; "                      \
  "CREATE INDEX policy_by_domain ON policy (policy_domain); "                                 \
  "CREATE INDEX report_by_content ON report (content_sha256); "
inline constexpr const char* kUndoMigration7 = TLSRPT_UNDO_MIGRATION7;
// To version 5: migration 7 undone, then 6's alert_pending gone.
#define TLSRPT_UNDO_MIGRATION6 TLSRPT_UNDO_MIGRATION7 "DROP TABLE alert_pending; "
inline constexpr const char* kUndoMigration6 = TLSRPT_UNDO_MIGRATION6;
// To version 4 (before the reporter identity), migrations 7 and 6 undone first.
inline constexpr const char* kUndoMigration5 =
    TLSRPT_UNDO_MIGRATION6
    "DROP INDEX report_by_content; DROP VIEW reports; "
    "CREATE VIEW reports AS SELECT id FROM report; "
    "ALTER TABLE report DROP COLUMN reporter; ALTER TABLE report DROP COLUMN signing_domain;";

}  // namespace tlsrpt::test

// First statement of a test over the external interop corpus: skips it, saying so,
// where the corpus is not present.
#define TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS()                                                          \
  do {                                                                                              \
    if (::tlsrpt::test::corpus_dir().empty())                                                       \
      GTEST_SKIP() << "TLSRPT_CORPUS_DIR is not set: the external interop corpus is optional";      \
    if (!::tlsrpt::test::corpus_present())                                                          \
      GTEST_SKIP() << "the external interop corpus (TLSRPT_CORPUS_DIR) is not present at "          \
                   << ::tlsrpt::test::corpus_dir().string();                                        \
  } while (0)
