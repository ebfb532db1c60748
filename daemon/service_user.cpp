#include "daemon/service_user.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "daemon/log.hpp"

namespace tlsrpt::daemon {

std::expected<std::optional<ServiceUser>, std::string> service_user_for(const std::string& user, bool root) {
  if (root && user.empty())
    return std::unexpected(
        "refusing to run as root: set user = \"tlsrptd\" (or pass --user) to drop privileges after binding, or "
        "start tlsrptd as an unprivileged user (systemd: DynamicUser=yes)");
  if (user.empty()) return std::nullopt;
  struct passwd* pw = getpwnam(user.c_str());
  if (!root) {
    if (!pw || pw->pw_uid != geteuid())
      return std::unexpected("user = \"" + user + "\" is set, but tlsrptd is not root and cannot switch to it");
    return std::nullopt;
  }
  if (!pw)
    return std::unexpected("user \"" + user + "\" does not exist (create it: useradd --system --no-create-home " +
                           user + ")");
  return ServiceUser{pw->pw_uid, pw->pw_gid};
}

std::expected<void, std::string> prepare_dir(const std::filesystem::path& dir, const std::optional<ServiceUser>& owner,
                                             unsigned mode) {
  namespace fs = std::filesystem;
  if (dir.empty()) return {};
  std::vector<fs::path> created;
  for (fs::path p = dir; !p.empty() && !fs::exists(p); p = p.parent_path()) {
    created.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return std::unexpected("cannot create " + dir.string() + ": " + ec.message());
  if (mode)
    for (const auto& p : created)
      if (::chmod(p.c_str(), mode) != 0)
        return std::unexpected("cannot set the mode of " + p.string() + ": " + std::strerror(errno));
  if (owner)
    for (const auto& p : created)
      if (::chown(p.c_str(), owner->uid, owner->gid) != 0)
        return std::unexpected("cannot hand " + p.string() + " to the service user: " + std::strerror(errno));
  return {};
}

std::expected<void, std::string> hand_database_to(const std::string& database, const std::string& user,
                                                  const ServiceUser& owner) {
  const std::filesystem::path dir = std::filesystem::path(database).parent_path();
  const std::string dir_text = dir.empty() ? "." : dir.string();
  struct stat st {};
  if (::stat(dir_text.c_str(), &st) != 0) return std::unexpected("cannot stat " + dir_text + ": " + std::strerror(errno));
  bool writable = (st.st_mode & S_IWOTH) || (st.st_uid == owner.uid && (st.st_mode & S_IWUSR));
  if (!writable && (st.st_mode & S_IWGRP)) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), owner.gid, groups.data(), &n) >= 0)
      writable = std::find(groups.begin(), groups.begin() + n, st.st_gid) != groups.begin() + n;
    else
      writable = true;  // more than 64 groups: let SQLite decide
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if (owner.uid != 0 && !writable)
    return std::unexpected("the database folder " + dir_text + " is not writable by " + user + " (owner uid " +
                           std::to_string(st.st_uid) + ", mode " + mode +
                           "): SQLite creates the -wal and -shm files there; chown " + user + ": " + dir_text +
                           ", or point the top-level `database` setting (or --db) at a folder " + user + " may write");
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string f = database + suffix;
    int fd = ::open(f.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ELOOP) continue;  // a symbolic link is left as it is
      return std::unexpected("cannot open " + f + ": " + std::strerror(errno));
    }
    struct stat fst {};
    std::string error;
    if (::fstat(fd, &fst) != 0)
      error = "cannot stat " + f + ": " + std::strerror(errno);
    else if (fst.st_uid == 0 && owner.uid != 0) {
      if (!S_ISREG(fst.st_mode) || fst.st_nlink != 1)
        error = f + " belongs to root and is not a plain file with one link: not handing it to " + user;
      else if (::fchown(fd, owner.uid, owner.gid) != 0)
        error = "cannot hand " + f + " to " + user + ": " + std::strerror(errno);
      else
        log_notice("handed " + f + " (made by root) to the service user " + user);
    }
    ::close(fd);
    if (!error.empty()) return std::unexpected(error);
  }
  return {};
}

namespace {

std::string octal(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

// fd's mode without the bits in `remove`, when it belongs to `owner_uid`.
void tighten(int fd, const std::string& name, uid_t owner_uid, unsigned remove) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_uid != owner_uid || !(st.st_mode & remove)) return;
  const unsigned before = st.st_mode & 07777, after = before & ~remove;
  if (::fchmod(fd, after) != 0) {
    log_warning("cannot tighten " + name + " (mode " + octal(before) + "): " + std::strerror(errno));
    return;
  }
  log_notice("tightened " + name + " from mode " + octal(before) + " to " + octal(after) +
             ": reports are for the service user and its group only");
}

}  // namespace

namespace {

// True when `dir` holds nothing but the database's files and tlsrptd's own (`own`, or
// the folders holding them): a folder tlsrptd keeps its state in, whose mode is its own
// business. A folder with anything else (a project folder, a home) is the user's.
bool state_folder(const std::filesystem::path& dir, const std::string& database, const std::vector<std::string>& own) {
  namespace fs = std::filesystem;
  const fs::path base = fs::absolute(dir).lexically_normal();
  std::vector<std::string> ours;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    ours.push_back(fs::path(database).filename().string() + suffix);
  for (const auto& p : own) {
    const fs::path rel = fs::absolute(p).lexically_normal().lexically_relative(base);
    if (!rel.empty() && *rel.begin() != ".." && *rel.begin() != ".") ours.push_back(rel.begin()->string());
  }
  std::error_code ec;
  for (fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end; !ec && it != end; it.increment(ec))
    if (std::find(ours.begin(), ours.end(), it->path().filename().string()) == ours.end()) return false;
  return !ec;
}

// The database's folder to at most 0750, when it is a state folder; else a warning.
void tighten_folder(const std::string& database, uid_t owner_uid, const std::vector<std::string>& own) {
  const std::filesystem::path dir = std::filesystem::path(database).parent_path();
  const std::string dir_text = dir.empty() ? "." : dir.string();
  int fd = ::open(dir_text.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  const unsigned loose = S_IWGRP | S_IRWXO;
  if (state_folder(dir, database, own)) {
    tighten(fd, dir_text, owner_uid, loose);  // 0750 at most
  } else if (::fstat(fd, &st) == 0 && st.st_uid == owner_uid && (st.st_mode & loose)) {
    log_warning("the database folder " + dir_text + " (mode " + octal(st.st_mode) +
                ") holds other files too: its mode is left as it is (the database files are " +
                "0640 at most); to keep the folder private, give the database a folder of its own (the " +
                "top-level `database` setting, e.g. \"var/tlsrptd.sqlite\") or chmod 0750 " + dir_text);
  }
  ::close(fd);
}

}  // namespace

void tighten_database(const std::string& database, uid_t owner_uid, const std::vector<std::string>& own) {
  tighten_folder(database, owner_uid, own);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string f = database + suffix;
    int fd = ::open(f.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
      tighten(fd, f, owner_uid, S_IXUSR | S_IWGRP | S_IXGRP | S_IRWXO);  // 0640 at most
    ::close(fd);
  }
}

std::expected<void, std::string> drop_privileges(const std::string& user) {
  errno = 0;
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) return std::unexpected("user \"" + user + "\" does not exist");
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
    return std::unexpected("cannot switch to user \"" + user + "\": " + std::strerror(errno));
  if (setuid(0) == 0) return std::unexpected("privileges were not dropped (setuid(0) still works)");
  return {};
}

}  // namespace tlsrpt::daemon
