#include "daemon/intake/maildir_watcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include "daemon/intake/file_read.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace fs = std::filesystem;

namespace {

// Maildir: a message moves from new/ to cur/ with the info suffix ":2,S" (seen).
std::string cur_name(const std::string& name) {
  return name.find(":2,") == std::string::npos ? name + ":2,S" : name;
}

}  // namespace

MaildirWatcher::MaildirWatcher(std::vector<std::string> paths, std::chrono::milliseconds rescan, StoreWriter& writer,
                               const Intake& intake, std::size_t max_message_bytes)
    : paths_(std::move(paths)), rescan_(rescan), writer_(writer), intake_(intake), max_bytes_(max_message_bytes) {}

MaildirWatcher::~MaildirWatcher() { stop(); }

std::expected<void, std::string> MaildirWatcher::start() {
  inotify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_ < 0) return std::unexpected(std::string("inotify: ") + std::strerror(errno));
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return std::unexpected(std::string("pipe: ") + std::strerror(errno));
  for (const auto& p : paths_) {
    for (const char* sub : {"new", "cur", "tmp"}) {
      if (!fs::is_directory(fs::path(p) / sub))
        return std::unexpected(p + " is not a Maildir (no " + sub + "/ folder)");
    }
    std::error_code ec;
    for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(fs::path(p) / ".rejected" / sub, ec);
    if (ec) return std::unexpected("cannot create " + (fs::path(p) / ".rejected").string() + ": " + ec.message());
    // Deliveries land in new/ by rename (moved to) or by writing in place.
    if (inotify_add_watch(inotify_, (fs::path(p) / "new").c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
      return std::unexpected("inotify on " + p + "/new: " + std::strerror(errno));
  }
  thread_ = std::thread([this] { run(); });
  return {};
}

void MaildirWatcher::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {inotify_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
  inotify_ = wake_[0] = wake_[1] = -1;
}

void MaildirWatcher::run() {
  scan();
  auto next_scan = std::chrono::steady_clock::now() + rescan_;
  while (!stopping_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_scan - std::chrono::steady_clock::now());
    pollfd fds[2] = {{inotify_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::max<long long>(0, wait.count())));
    if (stopping_) break;
    bool changed = false;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      alignas(inotify_event) char buf[4096];
      while (::read(inotify_, buf, sizeof buf) > 0) changed = true;  // drain; a scan finds the files
    }
    if (changed || std::chrono::steady_clock::now() >= next_scan) {
      scan();
      if (!changed) next_scan = std::chrono::steady_clock::now() + rescan_;
    }
  }
}

void MaildirWatcher::scan() {
  for (const auto& p : paths_) {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(fs::path(p) / "new", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!name.starts_with(".")) names.push_back(std::move(name));
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (stopping_) return;
      process(p, name);
    }
  }
}

void MaildirWatcher::process(const std::string& maildir, const std::string& name) {
  const fs::path src = fs::path(maildir) / "new" / name;
  const std::string shown = escape_line(src.string(), 300);
  auto move_to = [&](const fs::path& dir) {
    std::error_code ec;
    fs::rename(src, dir / cur_name(name), ec);
    if (ec) log_error("maildir: cannot move " + shown + ": " + ec.message());
  };
  auto message = read_regular_file(src, max_bytes_, Symlinks::refuse);
  if (!message) {
    if (!fs::exists(src)) return;  // taken by someone else meanwhile
    log_warning("maildir: " + shown + ": rejected: " + message.error());
    move_to(fs::path(maildir) / ".rejected" / "cur");
    return;
  }
  Submission sub;
  sub.transport = Transport::maildir;
  sub.source = src.string();
  sub.media_type = "message/rfc822";
  sub.bytes = *message;
  sub.received_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  IntakeDecision dec = intake_.check(sub);
  if (dec.kind == IntakeDecision::Kind::reject) {
    log_outcome(sub, dec, dec.outcome);
    move_to(fs::path(maildir) / ".rejected" / "cur");
    return;
  }
  if (dec.kind == IntakeDecision::Kind::retry_later) {
    log_outcome(sub, dec, dec.outcome);  // left in new/ for a later try
    return;
  }
  std::promise<StoreResult> done;
  auto result = done.get_future();
  writer_.submit(std::move(*dec.report), dec.provenance, std::move(*message),
                 [&done](StoreResult r) { done.set_value(std::move(r)); }, dec.hold_reason);
  StoreResult r = result.get();
  log_outcome(sub, dec, r.outcome, r.detail);
  if (!reply_for(r.outcome).success()) return;  // left in new/ for a later try
  move_to(fs::path(maildir) / "cur");  // only now: the report is committed
}

}  // namespace tlsrpt::daemon
