#include "daemon/importer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

namespace tlsrpt::daemon {
namespace fs = std::filesystem;

namespace {

// Reads a whole regular file of at most `max` bytes.
std::expected<std::string, std::string> read_file(const std::string& path, std::size_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected("not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > max) {
    ::close(fd);
    return std::unexpected("file is larger than " + std::to_string(max) + " bytes");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return std::unexpected(n < 0 ? std::string(std::strerror(errno)) : std::string("file shrank while reading"));
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return data;
}

}  // namespace

Importer::Importer(storage::Store& store, const Limits& limits, std::size_t batch_size)
    : store_(store), ingestor_(limits), batch_size_(std::max<std::size_t>(batch_size, 1)) {}

std::vector<std::string> Importer::expand(const std::vector<std::string>& paths, std::vector<ImportResult>& missing) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      missing.push_back(ImportResult::failure(p, "no such file or directory"));
      continue;
    }
    if (!fs::is_directory(st)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    if (ec) missing.push_back(ImportResult::failure(p, "cannot read folder: " + ec.message()));
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

ImportSummary Importer::run(const std::vector<std::string>& files,
                            const std::function<void(const ImportResult&)>& on_result,
                            const std::function<void(std::size_t, std::size_t)>& on_progress) {
  ImportSummary sum;
  struct Item {
    ImportResult result;
    std::string bytes;
    std::optional<Ingested> ingested;
    Provenance provenance;
  };
  std::vector<Item> batch;
  batch.reserve(batch_size_);
  bool stopped = false;

  auto count = [&](const ImportResult& r) {
    ++sum.files;
    switch (r.kind) {
      case ImportResult::Kind::stored: ++sum.stored; break;
      case ImportResult::Kind::duplicate: ++sum.duplicate; break;
      case ImportResult::Kind::conflict: ++sum.conflict; break;
      case ImportResult::Kind::rejected: ++sum.rejected; break;
      case ImportResult::Kind::failed: ++sum.failed; break;
    }
    on_result(r);
  };

  auto flush = [&] {
    std::vector<storage::PendingReport> pending;
    for (auto& item : batch)
      if (item.ingested) pending.push_back({&*item.ingested, &item.provenance, item.bytes});
    std::vector<std::int64_t> row_ids;
    auto outcomes = store_.store_batch(pending, &row_ids);
    std::size_t k = 0;
    for (auto& item : batch) {
      if (item.ingested) {
        if (!outcomes) {
          item.result.kind = ImportResult::Kind::failed;
          item.result.reason = "not stored: database error: " + outcomes.error().message;
          stopped = true;
        } else {
          switch ((*outcomes)[k]) {
            case storage::StoreOutcome::stored: item.result.kind = ImportResult::Kind::stored; break;
            case storage::StoreOutcome::duplicate: item.result.kind = ImportResult::Kind::duplicate; break;
            case storage::StoreOutcome::conflict: item.result.kind = ImportResult::Kind::conflict; break;
          }
        }
        ++k;
      }
      count(item.result);
    }
    batch.clear();
    if (outcomes && after_commit_) {
      std::vector<std::int64_t> stored;
      for (std::size_t i = 0; i < outcomes->size(); ++i)
        if ((*outcomes)[i] == storage::StoreOutcome::stored) stored.push_back(row_ids[i]);
      if (!stored.empty()) after_commit_(stored);
    }
  };

  std::size_t done = 0;
  for (const auto& path : files) {
    if (stopped) break;
    Item item;
    item.result.path = path;
    auto bytes = read_file(path, ingestor_.limits().max_submission_bytes);
    if (!bytes) {
      item.result.kind = ImportResult::Kind::rejected;
      item.result.reason = bytes.error();
    } else {
      item.bytes = std::move(*bytes);
      auto ing = ingestor_.ingest(item.bytes);
      if (!ing) {
        item.result.kind = ImportResult::Kind::rejected;
        item.result.reason = ing.error().text();
      } else {
        item.result.note_list = ing->parsed.notes;
        item.ingested = std::move(*ing);
        item.provenance.transport = Transport::import;
        item.provenance.source = fs::absolute(path).lexically_normal().string();
        item.provenance.received_at =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
      }
    }
    batch.push_back(std::move(item));
    if (batch.size() >= batch_size_) flush();
    ++done;
    if (on_progress) on_progress(done, files.size());
  }
  if (!batch.empty()) flush();
  return sum;
}

}  // namespace tlsrpt::daemon
