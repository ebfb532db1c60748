#include "daemon/intake/file_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlsrpt::daemon {

std::expected<std::string, std::string> read_regular_file(const std::string& path, std::size_t max,
                                                          Symlinks symlinks) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | (symlinks == Symlinks::refuse ? O_NOFOLLOW : 0);
  int fd = ::open(path.c_str(), flags);
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
      const std::string why = n < 0 ? std::string(std::strerror(errno)) : std::string("file shrank while reading");
      ::close(fd);
      return std::unexpected(why);
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return data;
}

}  // namespace tlsrpt::daemon
