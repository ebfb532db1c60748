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

// Takes a current database back to before schema migration 5 (the reporter
// identity), so a test can make the shape an older tlsrptd left behind.
inline constexpr const char* kUndoMigration5 =
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
