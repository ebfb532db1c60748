// daemon/store_writer: the one writer thread and its many submitters. Real SQLite in
// a temporary folder, real threads; these are also the store writer's ThreadSanitizer
// tests (TLSRPT_TSAN, tests/sanitize.sh). Checked: every submission is answered
// exactly once, only after the commit that holds it (a second connection already sees
// the report when the answer runs), duplicates count once, and stop() answers what is
// queued and everything after it.
#include "daemon/intake/store_writer.hpp"

#include <gtest/gtest.h>

#include <future>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/alert_store.hpp"
#include "storage/sqlite.hpp"
#include "storage/store.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

std::string report_json(const std::string& id) {
  return R"({"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z",)"
         R"("end-datetime":"2024-01-01T23:59:59Z"},"contact-info":"a@b.example","report-id":")" +
         id + R"(","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},)"
              R"("summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]})";
}

Ingested ingested(const std::string& id) {
  Ingestor ing;
  auto r = ing.ingest(report_json(id));
  if (!r) ADD_FAILURE() << r.error().text();
  return r ? std::move(*r) : Ingested{};
}

Provenance provenance() {
  Provenance p;
  p.transport = Transport::https;
  p.source = "192.0.2.1:1234";
  return p;
}

// Reports with `id` as a second connection sees them (read-only, WAL: committed data only).
std::int64_t stored_count(const std::string& db, const std::string& id) {
  auto d = storage::Db::open(db, false, true);
  if (!d) return -1;
  auto st = d->prepare("SELECT count(*) FROM reports WHERE report_id = ?");
  if (!st) return -1;
  st->bind(1, std::string_view(id));
  auto row = st->step();
  return row && *row ? st->int64(0) : -1;
}

// Collects answers and wakes the test when all arrived.
struct Answers {
  struct Answer {
    Outcome outcome;
    std::int64_t in_db;  // stored_count when the answer ran
  };
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<Answer>> by_id;
  std::size_t total = 0;

  void add(const std::string& id, Outcome o, std::int64_t in_db) {
    std::lock_guard lock(mu);
    by_id[id].push_back({o, in_db});
    ++total;
    cv.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(120), [&] { return total >= n; });
  }
};

TEST(StoreWriter, ConcurrentSubmittersAreAnsweredOnceAfterTheirCommit) {
  test::TempDir dir;
  const std::string db = (dir.path() / "t.sqlite").string();
  StoreWriterOptions o;
  o.database = db;
  o.max_batch = 16;
  StoreWriter writer(o);
  ASSERT_TRUE(writer.start());

  constexpr int kThreads = 8, kPerThread = 20;
  Answers answers;
  std::atomic<int> probes_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread also sends the same "shared" report: it must be stored once.
        const std::string id = i % 5 == 0 ? "shared" : "r-" + std::to_string(t) + "-" + std::to_string(i);
        writer.submit(ingested(id), provenance(), report_json(id), [&answers, &db, id](StoreResult r) {
          answers.add(id, r.outcome, stored_count(db, id));
        });
        if (i % 7 == 0) writer.probe([&](bool ok) { probes_ok += ok; });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(answers.wait_for(kThreads * kPerThread));
  writer.stop();

  std::lock_guard lock(answers.mu);
  EXPECT_EQ(answers.total, std::size_t{kThreads * kPerThread});
  int stored_shared = 0;
  for (const auto& [id, list] : answers.by_id) {
    if (id == "shared") {
      EXPECT_EQ(list.size(), std::size_t{kThreads * 4});  // i = 0, 5, 10, 15
    } else {
      EXPECT_EQ(list.size(), 1u) << id;  // answered exactly once
    }
    for (const auto& a : list) {
      if (id == "shared")
        EXPECT_TRUE(a.outcome == Outcome::stored || a.outcome == Outcome::duplicate) << to_token(a.outcome);
      else
        EXPECT_EQ(a.outcome, Outcome::stored) << id;
      stored_shared += id == "shared" && a.outcome == Outcome::stored;
      // Answered only after the commit: another connection already saw the report.
      EXPECT_EQ(a.in_db, 1) << id;
    }
    EXPECT_EQ(stored_count(db, id), 1) << id;
  }
  EXPECT_EQ(stored_shared, 1);
  EXPECT_EQ(answers.by_id.size(), std::size_t{1 + kThreads * (kPerThread - 4)});
  EXPECT_EQ(probes_ok.load(), kThreads * 3);  // i = 0, 7, 14
}

TEST(StoreWriter, StopAnswersEverySubmissionEvenWhileTheyArrive) {
  test::TempDir dir;
  StoreWriterOptions o;
  o.database = (dir.path() / "t.sqlite").string();
  o.commit_delay = std::chrono::milliseconds(5);
  auto writer = std::make_unique<StoreWriter>(o);
  ASSERT_TRUE(writer->start());

  constexpr int kThreads = 4, kPerThread = 50;
  std::atomic<int> answered{0}, stored{0}, refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "s-" + std::to_string(t) + "-" + std::to_string(i);
        writer->submit(ingested(id), provenance(), "{}", [&](StoreResult r) {
          ++answered;
          if (r.outcome == Outcome::stored) ++stored;
          if (r.outcome == Outcome::overloaded) ++refused;  // after stop: "try again later"
        });
        writer->probe([&](bool) {});
      }
    });
  }
  go = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  writer->stop();  // races with the submitters on purpose
  for (auto& th : threads) th.join();
  writer.reset();
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_EQ(stored.load() + refused.load(), kThreads * kPerThread);
}

// The alert hook runs off the commit path, once the queue is empty: every stored
// report reaches it exactly once, after its submitter was answered, with the
// channel's authentication; the last ones by stop() at the latest.
TEST(StoreWriter, TheAlertHookSeesEveryStoredReportOnceAfterTheAnswers) {
  test::TempDir dir;
  StoreWriterOptions o;
  o.database = (dir.path() / "t.sqlite").string();
  o.commit_delay = std::chrono::milliseconds(2);
  StoreWriter writer(o);
  std::mutex mu;
  std::map<std::int64_t, int> seen;
  std::atomic<int> answered{0}, hook_calls{0}, early{0}, authenticated_calls{0};
  writer.set_after_commit([&](storage::Db&, std::span<const std::int64_t> ids, bool authenticated) {
    ++hook_calls;
    if (authenticated) ++authenticated_calls;
    std::lock_guard lock(mu);
    for (auto id : ids) ++seen[id];
    if (static_cast<int>(seen.size()) > answered.load()) ++early;  // a report evaluated before its answer
  });
  ASSERT_TRUE(writer.start());
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "h-" + std::to_string(t) + "-" + std::to_string(i);
        writer.submit(ingested(id), provenance(), report_json(id), [&](StoreResult r) {
          EXPECT_EQ(r.outcome, Outcome::stored);
          ++answered;
        });
      }
    });
  for (auto& th : threads) th.join();
  writer.stop();
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "row " << id;
  EXPECT_EQ(early.load(), 0);
  EXPECT_GE(hook_calls.load(), 1);
  EXPECT_EQ(authenticated_calls.load(), 0);  // HTTPS reports are unauthenticated
}

// The hook takes at most a fifth of the writer's time: after a run that took T, the
// next one starts kAlertBackoff x T after it ended at the earliest, even when the
// queue empties at once. Measured by the hook's own clock, which the writer's
// measurement encloses, so the inequality holds on any machine, however slow.
TEST(StoreWriter, TheAlertHookWaitsFourTimesItsLastDurationBeforeItRunsAgain) {
  test::TempDir dir;
  StoreWriterOptions o;
  o.database = (dir.path() / "t.sqlite").string();
  o.commit_delay = std::chrono::milliseconds(0);
  StoreWriter writer(o);
  using Clock = std::chrono::steady_clock;
  std::mutex mu;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> runs;
  writer.set_after_commit([&](storage::Db&, std::span<const std::int64_t>, bool) {
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a slow evaluation
    std::lock_guard lock(mu);
    runs.emplace_back(start, Clock::now());
  });
  ASSERT_TRUE(writer.start());
  // One report at a time, for at least 600 ms: each answer arrives with the queue
  // empty, where the hook used to run after every commit.
  constexpr int kReports = 30;
  const auto began = Clock::now();
  for (int i = 0; i < kReports; ++i) {
    std::promise<Outcome> answered;
    const std::string id = "slow-" + std::to_string(i);
    writer.submit(ingested(id), provenance(), report_json(id),
                  [&](StoreResult r) { answered.set_value(r.outcome); });
    ASSERT_EQ(answered.get_future().get(), Outcome::stored);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::size_t before_stop = 0;
  Clock::duration elapsed{};
  {
    std::lock_guard lock(mu);
    before_stop = runs.size();
    elapsed = Clock::now() - began;
  }
  writer.stop();  // evaluates what is left at once: not a run the rule applies to
  std::lock_guard lock(mu);
  ASSERT_GE(before_stop, 2u);
  // Each run took 50 ms or more and was followed by 200 ms or more without one.
  EXPECT_LE(before_stop, static_cast<std::size_t>(elapsed / std::chrono::milliseconds(250)) + 1);
  for (std::size_t k = 1; k < before_stop; ++k) {
    const auto last = runs[k - 1].second - runs[k - 1].first;
    EXPECT_GE(runs[k].first - runs[k - 1].second, kAlertBackoff * last) << "run " << k;
  }
}

// A report stored but never evaluated (the process died in between) stays in
// alert_pending; the next writer hands it to the hook, and the hook's evaluation
// clears it.
TEST(StoreWriter, ReportsAnEarlierRunNeverEvaluatedReachTheHookAtStart) {
  test::TempDir dir;
  const std::string db = (dir.path() / "t.sqlite").string();
  {
    auto store = storage::Store::open(db);
    ASSERT_TRUE(store) << store.error().message;
    Ingested r = ingested("left-1");
    Provenance prov = provenance();
    const std::string raw = report_json("left-1");
    std::vector<storage::PendingReport> batch{{&r, &prov, raw}};
    ASSERT_TRUE((*store)->store_batch(batch));
  }  // "crash": no evaluation
  StoreWriterOptions o;
  o.database = db;
  StoreWriter writer(o);
  std::mutex mu;
  std::vector<std::int64_t> seen;
  std::vector<bool> auth;
  writer.set_after_commit([&](storage::Db& d, std::span<const std::int64_t> ids, bool authenticated) {
    std::lock_guard lock(mu);
    seen.insert(seen.end(), ids.begin(), ids.end());
    auth.push_back(authenticated);
    ASSERT_TRUE(storage::AlertStore(d).clear_pending(ids));  // as Alerting's transaction does
  });
  ASSERT_TRUE(writer.start());
  writer.stop();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(auth, std::vector<bool>{false});  // HTTPS: unauthenticated, as stored
  auto d = storage::Db::open(db, false, true);
  ASSERT_TRUE(d);
  auto st = d->prepare("SELECT count(*) FROM alert_pending");
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->step());
  EXPECT_EQ(st->int64(0), 0);
}

}  // namespace
}  // namespace tlsrpt::daemon
