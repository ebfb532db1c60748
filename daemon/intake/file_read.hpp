// Reading a whole file that arrived from outside (report import, the Maildir drop):
// a regular file only, at most `max` bytes, every error a value. Never follows a
// symlink when told not to (a Maildir is writable by the MTA's user).
#pragma once

#include <cstddef>
#include <expected>
#include <string>

namespace tlsrpt::daemon {

enum class Symlinks { follow, refuse };

std::expected<std::string, std::string> read_regular_file(const std::string& path, std::size_t max,
                                                          Symlinks symlinks);

}  // namespace tlsrpt::daemon
