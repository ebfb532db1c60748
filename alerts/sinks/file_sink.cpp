#include "alerts/sinks/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlsrpt::alerts {

std::expected<void, DeliveryError> FileSink::deliver(const Alert& a, std::stop_token) {
  std::string line = to_json(a);  // JSON escapes CR/LF: one line per alert, always
  line.push_back('\n');
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return std::unexpected(DeliveryError{"cannot open: " + std::string(std::strerror(errno)), true});
  // O_APPEND: each write lands at the end; one write per line keeps concurrent
  // writers' lines whole.
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return std::unexpected(DeliveryError{"cannot write: " + std::string(std::strerror(err)), true});
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return std::unexpected(DeliveryError{"cannot close: " + std::string(std::strerror(errno)), true});
  return {};
}

}  // namespace tlsrpt::alerts
