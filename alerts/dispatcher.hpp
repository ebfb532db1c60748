// Hands each alert to every sink on the sink's own worker thread, through a bounded
// queue, with retries and backoff. dispatch() never blocks and one slow or failing
// sink never holds up another (alerts never block ingestion or other sinks: docs/architecture.md#5-alerts).
// Failures are logged through the given function, which must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "alerts/alert.hpp"
#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

// Alerts waiting per sink; beyond it new alerts for that sink are dropped (and logged).
inline constexpr std::size_t kDispatchQueueCapacity = 1000;
// The first retry waits this long, each next one twice as long, up to kMaxRetryBackoff.
inline constexpr std::chrono::milliseconds kRetryBackoff{1000};
inline constexpr std::chrono::milliseconds kMaxRetryBackoff{60000};

class Dispatcher {
 public:
  using Log = std::function<void(std::string_view line)>;
  struct Options {
    std::size_t queue_capacity = kDispatchQueueCapacity;
    std::chrono::milliseconds backoff = kRetryBackoff;
    std::chrono::milliseconds max_backoff = kMaxRetryBackoff;
  };
  struct Stats {
    std::uint64_t delivered = 0, failed = 0, dropped = 0;
  };

  Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, Log log, Options options);
  Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, Log log) : Dispatcher(std::move(sinks), std::move(log), Options{}) {}
  ~Dispatcher();  // drain(0): stops at once, logs what was not delivered
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Queues `a` for every sink. Never blocks.
  void dispatch(const Alert& a);
  // Waits until every queue is empty and nothing is in flight, or `deadline` passed;
  // then stops the workers (an in-flight delivery is cancelled) and joins them.
  // True when everything was delivered or given up on before the deadline.
  bool drain(std::chrono::milliseconds deadline);
  Stats stats() const;
  std::size_t sink_count() const { return workers_.size(); }

 private:
  struct Worker {
    std::unique_ptr<Sink> sink;
    std::mutex mu;
    std::condition_variable_any cv;
    std::deque<Alert> queue;
    bool busy = false;
    std::jthread thread;
  };
  void run(Worker& w, std::stop_token stop);
  void log(std::string_view line) const;

  std::vector<std::unique_ptr<Worker>> workers_;
  Log log_;
  Options options_;
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  std::atomic<std::uint64_t> delivered_{0}, failed_{0}, dropped_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace tlsrpt::alerts
