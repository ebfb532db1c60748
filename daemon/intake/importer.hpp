// `tlsrptd report import`: files and folders -> ingest -> the store, in batches of
// one transaction each. The per-file outcome is reported through a callback in
// input order, after the batch holding the file committed. A file is a report
// (gzip/JSON), a mail, or an mbox (one outcome per message, "PATH#N"), told apart
// by content; a Maildir folder contributes new/ and cur/ and is never modified.
// Every file passes the one intake (limits, received date, attribution, domains) with
// the admin's authority: imported mail is trusted like any admin-supplied file, no
// DKIM check (old keys are often gone). Batches commit like the serve process's
// (daemon/intake/commit.hpp); a failed batch does not stop the import.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "daemon/intake/intake.hpp"
#include "parser/ingest.hpp"
#include "storage/store.hpp"

namespace tlsrpt::daemon {

struct ImportResult {
  enum class Kind { stored, duplicate, conflict, held, rejected, failed };
  std::string path;
  Kind kind = Kind::rejected;
  std::string reason;           // for held / rejected / failed
  std::vector<Note> note_list;  // data-quality notes of a parsed report

  static ImportResult failure(std::string path, std::string reason) {
    ImportResult r;
    r.path = std::move(path);
    r.kind = Kind::failed;
    r.reason = std::move(reason);
    return r;
  }
};

struct ImportSummary {
  std::size_t files = 0, stored = 0, duplicate = 0, conflict = 0, held = 0, rejected = 0, failed = 0;
};

class Importer {
 public:
  Importer(storage::Store& store, const Intake& intake, std::size_t batch_size = 256);

  // Expands folders recursively (sorted; symlinks not followed into folders; hidden
  // files and folders skipped). A Maildir (a folder with cur/ and new/) yields its
  // new/ and cur/ messages and its Maildir++ subfolders, never tmp/ or index files.
  // Paths named explicitly are always taken.
  static std::vector<std::string> expand(const std::vector<std::string>& paths,
                                         std::vector<ImportResult>& missing);

  // Imports `files`; `on_result` sees each outcome (per file, or per mbox message)
  // once its batch is committed.
  // A database error fails the reports of the batch it hit (reported as failed);
  // the import goes on with the next batch, except after an I/O error, which stops it.
  ImportSummary run(const std::vector<std::string>& files, const std::function<void(const ImportResult&)>& on_result,
                    const std::function<void(std::size_t done, std::size_t total)>& on_progress = {});

  // Called after each committed batch with the row ids of the reports it stored (the
  // alert hook, docs/architecture.md#5-alerts).
  void set_after_commit(std::function<void(std::span<const std::int64_t> stored)> f) { after_commit_ = std::move(f); }

 private:
  storage::Store& store_;
  std::function<void(std::span<const std::int64_t>)> after_commit_;
  const Intake& intake_;
  std::size_t batch_size_;
};

}  // namespace tlsrpt::daemon
