#include "alerts/dispatcher.hpp"

#include <algorithm>
#include <exception>

#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

std::string what(const Alert& a) {
  return std::string(a.kind) + " alert for " + escape_line(a.policy_domain, 256);
}

}  // namespace

Dispatcher::Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, Log log, Options options)
    : log_(std::move(log)), options_(options) {
  for (auto& s : sinks) {
    auto w = std::make_unique<Worker>();
    w->sink = std::move(s);
    workers_.push_back(std::move(w));
  }
  // Threads start after every worker exists: run() touches only its own worker.
  for (auto& w : workers_) {
    Worker* raw = w.get();
    raw->thread = std::jthread([this, raw](std::stop_token st) { run(*raw, st); });
  }
}

Dispatcher::~Dispatcher() { drain(std::chrono::milliseconds(0)); }

void Dispatcher::log(std::string_view line) const {
  if (log_) log_(line);
}

void Dispatcher::dispatch(const Alert& a) {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      if (stopped_ || w->queue.size() >= options_.queue_capacity) {
        ++dropped_;
        log("alerts: " + w->sink->describe() + ": queue full, dropped the " + what(a));
        continue;
      }
      w->queue.push_back(a);
    }
    w->cv.notify_one();
  }
}

void Dispatcher::run(Worker& w, std::stop_token stop) {
  for (;;) {
    Alert a;
    {
      std::unique_lock lock(w.mu);
      if (!w.cv.wait(lock, stop, [&] { return !w.queue.empty(); }) || stop.stop_requested()) return;
      a = std::move(w.queue.front());
      w.queue.pop_front();
      w.busy = true;
    }
    const int attempts = std::max(1, w.sink->attempts());
    auto backoff = options_.backoff;
    for (int attempt = 1;; ++attempt) {
      std::expected<void, DeliveryError> r;
      try {
        r = w.sink->deliver(a, stop);
      } catch (const std::exception& e) {
        // No exception crosses the thread boundary (docs/architecture.md#errors).
        r = std::unexpected(DeliveryError{std::string("internal error: ") + e.what(), false});
      } catch (...) {
        r = std::unexpected(DeliveryError{"internal error", false});
      }
      if (r) {
        ++delivered_;
        break;
      }
      const bool last = attempt >= attempts || !r.error().retryable || stop.stop_requested();
      log("alerts: " + w.sink->describe() + ": delivering the " + what(a) + " failed (attempt " +
          std::to_string(attempt) + " of " + std::to_string(attempts) + "): " + escape_line(r.error().message, 1024) +
          (last ? "; giving up" : "; will retry"));
      if (last) {
        ++failed_;
        break;
      }
      // Interruptible backoff: shutdown does not wait for it.
      std::unique_lock lock(w.mu);
      if (w.cv.wait_for(lock, stop, backoff, [] { return false; }); stop.stop_requested()) {
        ++failed_;
        break;
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    {
      std::lock_guard lock(w.mu);
      w.busy = false;
    }
    {
      std::lock_guard lock(idle_mu_);
    }
    idle_cv_.notify_all();
  }
}

bool Dispatcher::drain(std::chrono::milliseconds deadline) {
  auto idle = [&] {
    return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) {
      std::lock_guard lock(w->mu);
      return w->queue.empty() && !w->busy;
    });
  };
  bool done;
  {
    std::unique_lock lock(idle_mu_);
    done = idle_cv_.wait_for(lock, deadline, idle);
  }
  for (auto& w : workers_) {
    stopped_ = true;
    w->thread.request_stop();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    if (!w->queue.empty()) {
      dropped_ += w->queue.size();
      log("alerts: " + w->sink->describe() + ": shutting down, " + std::to_string(w->queue.size()) +
          " alert(s) not delivered");
      w->queue.clear();
    }
  }
  return done;
}

Dispatcher::Stats Dispatcher::stats() const { return Stats{delivered_.load(), failed_.load(), dropped_.load()}; }

}  // namespace tlsrpt::alerts
