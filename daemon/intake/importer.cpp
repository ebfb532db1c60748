#include "daemon/intake/importer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

#include "daemon/intake/commit.hpp"
#include "daemon/intake/file_read.hpp"

namespace tlsrpt::daemon {
namespace fs = std::filesystem;

namespace {

// Raw bytes held by one import batch before it is committed early.
constexpr std::size_t kMaxBatchBytes = 64 * 1024 * 1024;

// An mbox starts with its first message's "From " separator line (RFC 4155); a
// report or a single mail never does (a header line has a colon in its name).
bool is_mbox(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return false;
  }
  char head[5];
  ssize_t n;
  do n = ::read(fd, head, sizeof head);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  return n == 5 && std::string_view(head, 5) == "From ";
}

bool is_maildir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "cur", ec) && fs::is_directory(dir / "new", ec);
}

// Regular files under `dir`, recursively, without following symlinked folders. In
// a Maildir only new/ and cur/ hold messages (tmp/ is being written; dovecot-*
// and subscriptions are index files); Maildir++ subfolders start with '.'.
bool collect_folder(const fs::path& dir, std::vector<std::string>& out, std::error_code& ec) {
  const bool maildir = is_maildir(dir);
  if (maildir) {
    for (const char* sub : {"new", "cur"}) {
      for (auto it = fs::directory_iterator(dir / sub, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code fec;
        if (!it->path().filename().string().starts_with(".") && it->is_regular_file(fec))
          out.push_back(it->path().string());
      }
      if (ec) return false;
    }
  }
  for (auto it = fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    const std::string name = it->path().filename().string();
    // Hidden files and folders (.DS_Store, .git, editor backups) are not reports,
    // except a Maildir's Maildir++ subfolders (".Archive").
    if (name.starts_with(".") && !(maildir && is_maildir(it->path()))) continue;
    if (it->is_directory(fec) && !it->is_symlink(fec)) {
      if (maildir && !(name.starts_with(".") && is_maildir(it->path()))) continue;
      if (!collect_folder(it->path(), out, ec)) return false;
    } else if (!maildir && it->is_regular_file(fec)) {
      out.push_back(it->path().string());
    }
  }
  return !ec;
}

// Splits an mbox (RFC 4155) into messages: a line starting "From " at the start of
// the file or after an empty line begins a message; ">From " lines (any number of
// '>') lose one '>' (mboxrd, which also undoes mboxo's escaping). Reads in chunks
// and holds at most one message of max_bytes.
class MboxReader {
 public:
  MboxReader(int fd, std::size_t max_bytes) : fd_(fd), max_(max_bytes) {}

  struct Message {
    std::string bytes;  // without the "From " line
    bool too_large = false;
  };

  // The next message; nullopt at the end of the file (or on a read error: error()).
  std::optional<Message> next() {
    Message m;
    bool in_message = false;
    std::string line;
    while (get_line(line)) {
      const bool separator = line.starts_with("From ") && (at_start_ || prev_blank_);
      at_start_ = false;
      if (separator) {
        if (in_message) {
          lookahead_ = std::move(line);  // starts the next message
          return finish(m);
        }
        in_message = true;
        prev_blank_ = false;
        continue;
      }
      if (!in_message) {
        if (blank(line)) {
          prev_blank_ = true;
          continue;
        }
        in_message = true;  // text before any "From " line: a message all the same
      }
      prev_blank_ = blank(line);
      unescape(line);
      if (m.too_large) continue;
      if (m.bytes.size() + line.size() > max_) {
        m.too_large = true;
        std::string().swap(m.bytes);
      } else {
        m.bytes += line;
      }
    }
    if (!in_message) return std::nullopt;
    return finish(m);
  }

  const std::string& error() const { return error_; }

 private:
  static bool blank(const std::string& line) { return line == "\n" || line == "\r\n"; }

  // mbox writers end every message with an empty line that is not part of it.
  static Message finish(Message& m) {
    if (m.bytes.ends_with("\r\n\r\n")) m.bytes.resize(m.bytes.size() - 2);
    else if (m.bytes.ends_with("\n\n")) m.bytes.pop_back();
    return std::move(m);
  }

  static void unescape(std::string& line) {
    std::size_t n = line.find_first_not_of('>');
    if (n != 0 && n != std::string::npos && std::string_view(line).substr(n).starts_with("From ")) line.erase(0, 1);
  }

  // One line with its "\n" (the last may lack it); false at the end of the file.
  // A line longer than max_ keeps only max_ + 1 bytes: its message is too large anyway.
  bool get_line(std::string& line) {
    line.clear();
    if (lookahead_) {
      line = std::move(*lookahead_);
      lookahead_.reset();
      return true;
    }
    for (;;) {
      if (pos_ < len_) {
        const char* start = buf_.data() + pos_;
        const void* nl = std::memchr(start, '\n', len_ - pos_);
        std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1 : len_ - pos_;
        if (line.size() <= max_) line.append(start, std::min(take, max_ + 1 - line.size()));
        pos_ += take;
        if (nl) return true;
        continue;
      }
      ssize_t n = ::read(fd_, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error_ = std::strerror(errno);
      if (n <= 0) return !line.empty();
      pos_ = 0;
      len_ = static_cast<std::size_t>(n);
    }
  }

  int fd_;
  std::size_t max_;
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
  std::size_t pos_ = 0, len_ = 0;
  bool at_start_ = true, prev_blank_ = false;
  std::optional<std::string> lookahead_;
  std::string error_;
};

}  // namespace

Importer::Importer(storage::Store& store, const Intake& intake, std::size_t batch_size)
    : store_(store), intake_(intake), batch_size_(std::max<std::size_t>(batch_size, 1)) {}

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
    if (!collect_folder(p, found, ec)) missing.push_back(ImportResult::failure(p, "cannot read folder: " + ec.message()));
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

namespace {

// One import: files in, outcomes out, in batches of at most batch_size reports or
// kMaxBatchBytes of raw bytes, each committed in one transaction.
class ImportRun {
 public:
  ImportRun(storage::Store& store, const Intake& intake, std::size_t batch_size,
            const std::function<void(std::span<const std::int64_t>)>& after_commit,
            const std::function<void(const ImportResult&)>& on_result)
      : store_(store),
        intake_(intake),
        limits_(intake.rules().limits),
        batch_size_(batch_size),
        after_commit_(after_commit),
        on_result_(on_result) {
    batch_.reserve(batch_size_);
  }

  // A regular file, or each message of an mbox.
  void import(const std::string& path);
  // After an I/O error the file descriptor's state is unknown (fsyncgate): the import
  // stops rather than commit more through it; run it again.
  bool io_error() const { return io_error_; }
  ImportSummary finish() {
    if (!batch_.empty()) flush();
    return sum_;
  }

 private:
  struct Item {
    ImportResult result;
    std::string bytes;
    IntakeDecision decision;  // its report and provenance when it goes to the store
  };

  void import_mbox(const std::string& path, const std::string& source);
  void add(std::string label, const std::string& source, std::string bytes, std::string error);
  void flush();
  void settle(Item& item, const Committed& committed);
  void count(const ImportResult& r);

  storage::Store& store_;
  const Intake& intake_;
  const Limits limits_;
  const std::size_t batch_size_;
  const std::function<void(std::span<const std::int64_t>)>& after_commit_;
  const std::function<void(const ImportResult&)>& on_result_;
  ImportSummary sum_;
  std::vector<Item> batch_;
  std::size_t batch_bytes_ = 0;
  bool io_error_ = false;
};

void ImportRun::import(const std::string& path) {
  const std::string source = fs::absolute(path).lexically_normal().string();
  if (is_mbox(path)) {
    import_mbox(path, source);
  } else {
    auto bytes = read_regular_file(path, std::max(limits_.max_submission_bytes, limits_.max_mail_bytes), Symlinks::follow);
    if (!bytes) add(path, source, {}, bytes.error());
    else add(path, source, std::move(*bytes), {});
  }
}

// RFC 4155 mbox: one outcome per message, "PATH#N" (1-based).
void ImportRun::import_mbox(const std::string& path, const std::string& source) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return add(path, source, {}, std::strerror(errno));
  const std::size_t max_mail = limits_.max_mail_bytes;
  MboxReader reader(fd, max_mail);
  std::size_t n = 0;
  for (;;) {
    auto msg = reader.next();
    if (!msg) break;
    ++n;
    std::string error =
        msg->too_large ? "message is larger than " + std::to_string(max_mail) + " bytes" : std::string();
    add(path + "#" + std::to_string(n), source + "#" + std::to_string(n), std::move(msg->bytes), std::move(error));
  }
  if (!reader.error().empty()) add(path + "#" + std::to_string(n + 1), source, {}, "read error: " + reader.error());
  ::close(fd);
}

// Checks one file's bytes through the intake (or records why there are none) and
// queues the outcome.
void ImportRun::add(std::string label, const std::string& source, std::string bytes, std::string error) {
  Item item;
  item.result.path = std::move(label);
  if (!error.empty()) {
    item.result.kind = ImportResult::Kind::rejected;
    item.result.reason = std::move(error);
  } else {
    item.bytes = std::move(bytes);
    Submission sub;
    sub.transport = Transport::import;
    sub.source = source;
    sub.bytes = item.bytes;
    sub.authority = Authority::admin;
    sub.admin_method = "import";
    sub.received_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    item.decision = intake_.check(sub);
    if (!item.decision.report) {
      // The outcome line printed for the file is this channel's log line.
      item.result.kind = ImportResult::Kind::rejected;
      item.result.reason = item.decision.detail;
      std::string().swap(item.bytes);
    } else {
      item.result.note_list = item.decision.report->parsed.notes;
      if (item.decision.report->mail) item.decision.provenance.media_type = "message/rfc822";
    }
  }
  batch_bytes_ += item.bytes.size();
  batch_.push_back(std::move(item));
  // Raw bytes wait in memory until their batch commits: bound them too.
  if (batch_.size() >= batch_size_ || batch_bytes_ >= kMaxBatchBytes) flush();
}

// Commits the batch's reports in one transaction (commit.hpp), then reports every
// outcome and hands the counted rows to the alert hook.
void ImportRun::flush() {
  std::vector<storage::PendingReport> pending;
  for (auto& item : batch_)
    if (item.decision.report)
      pending.push_back({&*item.decision.report, &item.decision.provenance, item.bytes, item.decision.hold_reason});
  std::vector<Committed> committed = commit_reports(store_, pending);
  std::vector<std::int64_t> counted;
  std::size_t k = 0;
  for (auto& item : batch_) {
    if (item.decision.report) {
      const Committed& c = committed[k++];
      settle(item, c);
      if (c.outcome && c.row_id > 0 &&
          (*c.outcome == storage::StoreOutcome::stored || *c.outcome == storage::StoreOutcome::duplicate))
        counted.push_back(c.row_id);
    }
    count(item.result);
  }
  batch_.clear();
  batch_bytes_ = 0;
  if (!counted.empty() && after_commit_) after_commit_(counted);
}

// The outcome of one report of the batch.
void ImportRun::settle(Item& item, const Committed& committed) {
  if (!committed.outcome) {
    item.result.kind = ImportResult::Kind::failed;
    item.result.reason = "not stored: database error: " + committed.outcome.error().message;
    io_error_ = io_error_ || (committed.outcome.error().code & 0xff) == SQLITE_IOERR;
    return;
  }
  switch (*committed.outcome) {
    case storage::StoreOutcome::stored: item.result.kind = ImportResult::Kind::stored; break;
    case storage::StoreOutcome::duplicate: item.result.kind = ImportResult::Kind::duplicate; break;
    case storage::StoreOutcome::conflict: item.result.kind = ImportResult::Kind::conflict; break;
    case storage::StoreOutcome::held:
      item.result.kind = ImportResult::Kind::held;
      item.result.reason = item.decision.hold_reason;
      break;
  }
}

void ImportRun::count(const ImportResult& r) {
  ++sum_.files;
  switch (r.kind) {
    case ImportResult::Kind::stored: ++sum_.stored; break;
    case ImportResult::Kind::duplicate: ++sum_.duplicate; break;
    case ImportResult::Kind::conflict: ++sum_.conflict; break;
    case ImportResult::Kind::held: ++sum_.held; break;
    case ImportResult::Kind::rejected: ++sum_.rejected; break;
    case ImportResult::Kind::failed: ++sum_.failed; break;
  }
  on_result_(r);
}

}  // namespace

ImportSummary Importer::run(const std::vector<std::string>& files,
                            const std::function<void(const ImportResult&)>& on_result,
                            const std::function<void(std::size_t, std::size_t)>& on_progress) {
  ImportRun import(store_, intake_, batch_size_, after_commit_, on_result);
  std::size_t done = 0;
  for (const auto& path : files) {
    import.import(path);
    if (on_progress) on_progress(++done, files.size());
    if (import.io_error()) break;
  }
  return import.finish();
}

}  // namespace tlsrpt::daemon
