// Running as root only to bind low ports and read the key: who the service user is,
// the folders and database files it must own, and dropping privileges to it. The
// network-facing code never runs with root privileges.
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tlsrpt::daemon {

struct ServiceUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user to drop to when started as root (`user`, or --user), nullopt when not
// root. Refused: root without a user, a user that does not exist, or a user set
// while not root and not that user.
std::expected<std::optional<ServiceUser>, std::string> service_user_for(const std::string& user, bool root);

// Creates the missing folders of `dir`; those it creates belong to the service
// user, so the unprivileged daemon can write its database there (like systemd's
// StateDirectory=), with `mode` when given (0750: the service group may read).
// Existing folders are left as they are.
std::expected<void, std::string> prepare_dir(const std::filesystem::path& dir, const std::optional<ServiceUser>& owner,
                                             unsigned mode = 0);

// Database files and their folder made before this version (0644 in 0755: every local
// user could read the reports) are tightened to at most 0640 and 0750, when they
// belong to `owner_uid` (the service user); each change is logged. Symbolic links and
// files of other owners are left alone. The folder only when it is tlsrptd's: it holds
// nothing but the database files and `own` (tlsrptd's other files: the certificate and
// key, or the folders under it that hold them). A folder holding anything else (a
// project folder, a home: `database = "tlsrpt.db"`) keeps its mode, with a warning
// naming the mode and the fix.
void tighten_database(const std::string& database, uid_t owner_uid, const std::vector<std::string>& own = {});

// A database that root made (`tlsrptd report import` or `stats` run as root before
// the daemon ever started) is read-only for the service user, and SQLite says only
// "attempt to write a readonly database". So root-owned database files are handed to
// the service user before privileges are dropped, as systemd's StateDirectory= does.
// Only plain files with one link, opened without following symbolic links (those are
// left alone): the folder may be writable by the service user, which must not get
// root to chown anything else.
// The folder itself is not changed (it may be shared); when the service user cannot
// write there (SQLite creates the -wal and -shm files beside the database) the
// daemon says so, first, and does not start.
std::expected<void, std::string> hand_database_to(const std::string& database, const std::string& user,
                                                  const ServiceUser& owner);

// setgroups, setgid, setuid, then a check that root cannot be regained.
std::expected<void, std::string> drop_privileges(const std::string& user);

}  // namespace tlsrpt::daemon
