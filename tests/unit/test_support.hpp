// Helpers shared by the unit tests: file paths of the corpus and the project's own
// test data, reading files, temporary directories that clean up after themselves.
#pragma once

#include <filesystem>
#include <string>

namespace tlsrpt::test {

std::filesystem::path corpus_dir();        // ../shared/corpus (or TLSRPT_CORPUS_DIR)
std::filesystem::path source_dir();        // the repository root
std::filesystem::path quirk_dir();         // tests/corpus
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

}  // namespace tlsrpt::test
