// The Maildir drop (README.md#mailed-reports-rfc-8460-53): watches each Maildir's new/ (inotify, plus a periodic
// rescan for what inotify missed and for retries), runs every message through the
// mail intake and the store writer, and moves it to cur/ only after its report is
// committed (or held); a message without a usable report goes to the .rejected
// Maildir++ folder. Stopped halfway, nothing is lost: an unmoved message is simply
// processed again and comes out a duplicate. Runs on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/intake/intake.hpp"
#include "daemon/intake/store_writer.hpp"

namespace tlsrpt::daemon {

class MaildirWatcher {
 public:
  MaildirWatcher(std::vector<std::string> paths, std::chrono::milliseconds rescan, StoreWriter& writer,
                 const Intake& intake, std::size_t max_message_bytes);
  ~MaildirWatcher();

  // Checks that every path is a Maildir (new/, cur/, tmp/), creates .rejected/,
  // sets up inotify and starts the thread.
  std::expected<void, std::string> start();
  void stop();

  // One pass over every new/ folder (the thread calls it; tests may too).
  void scan();

 private:
  void run();
  void process(const std::string& maildir, const std::string& name);

  std::vector<std::string> paths_;
  std::chrono::milliseconds rescan_;
  StoreWriter& writer_;
  const Intake& intake_;
  std::size_t max_bytes_;
  int inotify_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tlsrpt::daemon
