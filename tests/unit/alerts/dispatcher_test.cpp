// The dispatcher with in-process sinks: every sink gets every alert, a failing sink
// is retried and logged, a stuck sink neither blocks dispatch() nor the other sinks,
// a full queue drops (and says so), and shutdown cancels a stuck delivery. Waits
// have generous limits only to turn a hang into a failure; nothing asserts timing.
#include "alerts/dispatcher.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace tlsrpt::alerts {
namespace {

using namespace std::chrono_literals;

struct Shared {
  std::mutex mu;
  std::condition_variable_any cv;
  std::vector<std::string> log;
  template <class Pred>
  bool wait(Pred p) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 30s, p);
  }
};

class CollectSink : public Sink {
 public:
  CollectSink(Shared& s, std::vector<Alert>& out) : s_(s), out_(out) {}
  std::string describe() const override { return "collect"; }
  std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token) override {
    std::lock_guard lock(s_.mu);
    out_.push_back(a);
    s_.cv.notify_all();
    return {};
  }

 private:
  Shared& s_;
  std::vector<Alert>& out_;
};

class FlakySink : public Sink {
 public:
  FlakySink(int failures, bool retryable, int attempts, int& calls)
      : failures_(failures), retryable_(retryable), attempts_(attempts), calls_(calls) {}
  std::string describe() const override { return "flaky"; }
  int attempts() const override { return attempts_; }
  std::expected<void, DeliveryError> deliver(const Alert&, std::stop_token) override {
    if (++calls_ <= failures_) return std::unexpected(DeliveryError{"connection refused", retryable_});
    return {};
  }

 private:
  int failures_;
  bool retryable_;
  int attempts_;
  int& calls_;
};

// Blocks in deliver() until released or stopped.
class StuckSink : public Sink {
 public:
  explicit StuckSink(Shared& s) : s_(s) {}
  std::string describe() const override { return "stuck"; }
  std::expected<void, DeliveryError> deliver(const Alert&, std::stop_token stop) override {
    std::unique_lock lock(s_.mu);
    ++entered;
    s_.cv.notify_all();
    s_.cv.wait(lock, stop, [&] { return released; });
    if (!released) return std::unexpected(DeliveryError{"stopped", false});
    ++delivered;
    return {};
  }
  int entered = 0, delivered = 0;
  bool released = false;

 private:
  Shared& s_;
};

Alert alert(int n) {
  Alert a;
  a.kind = std::string(kStarttlsFailure);
  a.policy_domain = "d" + std::to_string(n) + ".example";
  return a;
}

Dispatcher::Options fast() {
  Dispatcher::Options o;
  o.backoff = 1ms;
  o.max_backoff = 2ms;
  return o;
}

TEST(Dispatcher, EverySinkGetsEveryAlert) {
  Shared s;
  std::vector<Alert> a, b;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<CollectSink>(s, a));
  sinks.push_back(std::make_unique<CollectSink>(s, b));
  Dispatcher d(std::move(sinks), nullptr, fast());
  for (int i = 0; i < 3; ++i) d.dispatch(alert(i));
  EXPECT_TRUE(d.drain(30s));
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(a[2].policy_domain, "d2.example");
  EXPECT_EQ(d.stats().delivered, 6u);
}

TEST(Dispatcher, RetriesATransientFailureAndLogsEachAttempt) {
  Shared s;
  int calls = 0;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<FlakySink>(2, true, 4, calls));
  Dispatcher d(std::move(sinks), [&](std::string_view l) { std::lock_guard lock(s.mu); s.log.emplace_back(l); }, fast());
  d.dispatch(alert(1));
  EXPECT_TRUE(d.drain(30s));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(d.stats().delivered, 1u);
  ASSERT_EQ(s.log.size(), 2u);
  EXPECT_EQ(s.log[0], "alerts: flaky: delivering the starttls-failure alert for d1.example failed (attempt 1 of 4): "
                      "connection refused; will retry");
}

TEST(Dispatcher, GivesUpAfterTheAttemptsOrAtOnceWhenRetryingCannotHelp) {
  Shared s;
  int bounded = 0, permanent = 0;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<FlakySink>(100, true, 3, bounded));
  sinks.push_back(std::make_unique<FlakySink>(100, false, 3, permanent));
  Dispatcher d(std::move(sinks), [&](std::string_view l) { std::lock_guard lock(s.mu); s.log.emplace_back(l); }, fast());
  d.dispatch(alert(1));
  EXPECT_TRUE(d.drain(30s));
  EXPECT_EQ(bounded, 3);
  EXPECT_EQ(permanent, 1);
  EXPECT_EQ(d.stats().failed, 2u);
  EXPECT_EQ(std::count_if(s.log.begin(), s.log.end(), [](const std::string& l) { return l.ends_with("giving up"); }), 2);
}

TEST(Dispatcher, AStuckSinkBlocksNeitherDispatchNorTheOthers) {
  Shared s;
  std::vector<Alert> got;
  auto stuck = std::make_unique<StuckSink>(s);
  StuckSink* stuck_raw = stuck.get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(stuck));
  sinks.push_back(std::make_unique<CollectSink>(s, got));
  Dispatcher::Options o = fast();
  o.queue_capacity = 2;
  Dispatcher d(std::move(sinks), [&](std::string_view l) { std::lock_guard lock(s.mu); s.log.emplace_back(l); }, o);
  d.dispatch(alert(0));
  ASSERT_TRUE(s.wait([&] { return stuck_raw->entered == 1 && got.size() == 1; }));
  // The stuck sink holds alert 0; its queue takes two more and drops the rest, while
  // the other sink keeps delivering (one at a time, so its own queue never fills).
  for (std::size_t i = 1; i < 5; ++i) {
    d.dispatch(alert(static_cast<int>(i)));
    ASSERT_TRUE(s.wait([&] { return got.size() == i + 1; }));
  }
  EXPECT_EQ(d.stats().dropped, 2u);
  {
    std::lock_guard lock(s.mu);
    stuck_raw->released = true;
  }
  s.cv.notify_all();
  EXPECT_TRUE(d.drain(30s));
  EXPECT_EQ(stuck_raw->delivered, 3);
}

TEST(Dispatcher, ShutdownCancelsAStuckDelivery) {
  Shared s;
  auto stuck = std::make_unique<StuckSink>(s);
  StuckSink* raw = stuck.get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(stuck));
  std::vector<std::string> log;
  std::mutex log_mu;
  Dispatcher d(std::move(sinks), [&](std::string_view l) { std::lock_guard lock(log_mu); log.emplace_back(l); }, fast());
  d.dispatch(alert(0));
  d.dispatch(alert(1));
  ASSERT_TRUE(s.wait([&] { return raw->entered == 1; }));
  EXPECT_FALSE(d.drain(0ms));  // returns: the stuck delivery is cancelled, not awaited
  EXPECT_EQ(raw->delivered, 0);
  EXPECT_EQ(d.stats().dropped, 1u);  // alert 1 never started
  d.dispatch(alert(2));              // after shutdown: dropped, not queued forever
  EXPECT_EQ(d.stats().dropped, 2u);
}

}  // namespace
}  // namespace tlsrpt::alerts
