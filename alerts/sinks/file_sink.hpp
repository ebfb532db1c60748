// type = "file": one JSON object per alert per line (JSON Lines), appended to a file.
// The file is opened for each alert, so log rotation needs no signal.
#pragma once

#include <string>

#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

class FileSink final : public Sink {
 public:
  explicit FileSink(std::string path, int attempts = 3) : path_(std::move(path)), attempts_(attempts) {}
  std::string describe() const override { return "file " + path_; }
  std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token stop) override;
  int attempts() const override { return attempts_; }

 private:
  std::string path_;
  int attempts_;
};

}  // namespace tlsrpt::alerts
