// type = "log": one line per alert to the daemon's log (the default sink). Report
// text is escaped so a line stays one line (CWE-117).
#pragma once

#include <functional>
#include <string_view>

#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

class LogSink final : public Sink {
 public:
  using Write = std::function<void(std::string_view line)>;  // thread-safe, no trailing newline
  explicit LogSink(Write write) : write_(std::move(write)) {}
  std::string describe() const override { return "log"; }
  std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token stop) override;

 private:
  Write write_;
};

// "alert critical mx-change example.com sts day=2024-05-01 (new): MX change — ..."
std::string log_line(const Alert& a);

}  // namespace tlsrpt::alerts
