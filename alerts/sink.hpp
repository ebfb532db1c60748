// Where alerts go: the Sink interface every output (log, file, email, webhook)
// implements. A sink does its own outbound I/O, is called from its own dispatcher
// thread only, never throws, and gives up promptly when `stop` is requested.
#pragma once

#include <expected>
#include <stop_token>
#include <string>

#include "alerts/alert.hpp"

namespace tlsrpt::alerts {

struct DeliveryError {
  std::string message;     // lower case, no trailing period; never holds a secret
  bool retryable = true;   // false: retrying cannot help (refused address, 4xx, bad credentials)
};

class Sink {
 public:
  virtual ~Sink() = default;
  // "file /var/log/tlsrptd/alerts.jsonl", "webhook https://hooks.example/...": for log
  // lines (no passwords, no URL secrets beyond the host).
  virtual std::string describe() const = 0;
  virtual std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token stop) = 0;
  // Attempts per alert, the first included.
  virtual int attempts() const { return 1; }
};

}  // namespace tlsrpt::alerts
