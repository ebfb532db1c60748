// daemon/net/inspect_service.cpp without sockets or DNS: admission of inspections
// (running + queued bounded, 503 beyond at once), and what InspectService::begin()
// answers on the network thread before any DNS query (README.md#inspection-endpoint).
#include "daemon/net/inspect_service.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tlsrpt::daemon {
namespace {

TEST(InspectAdmission, RunningPlusQueuedIsBounded) {
  InspectAdmission a({.max_running = 2, .max_queued = 3});
  std::vector<InspectAdmission::Ticket> held;
  for (int i = 0; i < 5; ++i) {
    auto t = a.enter();
    ASSERT_TRUE(t) << i;
    held.push_back(std::move(*t));
  }
  EXPECT_EQ(a.queued(), 5u);
  EXPECT_FALSE(a.enter()) << "a sixth is refused at once";
  EXPECT_TRUE(held[0].start());
  EXPECT_TRUE(held[1].start());
  EXPECT_FALSE(held[2].start()) << "no more than max_running run";
  EXPECT_EQ(a.running(), 2u);
  EXPECT_EQ(a.queued(), 3u);
  EXPECT_FALSE(a.enter()) << "running ones still count";
  held[0] = InspectAdmission::Ticket();  // one finishes
  EXPECT_EQ(a.running(), 1u);
  EXPECT_TRUE(held[2].start());
  auto again = a.enter();
  EXPECT_TRUE(again) << "its place is free again";
  EXPECT_EQ(a.peak_running(), 2u);
}

TEST(InspectAdmission, TicketsReleaseOnceWhereverTheyEnd) {
  InspectAdmission a({.max_running = 1, .max_queued = 0});
  {
    auto t = a.enter();
    ASSERT_TRUE(t);
    EXPECT_FALSE(a.enter());
    InspectAdmission::Ticket moved = std::move(*t);
    EXPECT_FALSE(t->admitted());
    EXPECT_TRUE(moved.admitted());
    EXPECT_TRUE(moved.start());
    EXPECT_TRUE(moved.start()) << "starting twice is still running";
  }
  EXPECT_EQ(a.running(), 0u);
  EXPECT_EQ(a.queued(), 0u);
  EXPECT_TRUE(a.enter());
}

struct Service : ::testing::Test {
  InspectServiceOptions options() {
    InspectServiceOptions o;
    o.dns_servers = {"127.0.0.1:9"};  // never asked here
    o.max_concurrent = 2;
    o.max_queued = 1;
    o.per_minute = 1000;
    return o;
  }
};

int status_of(std::variant<record::SiteReply, PendingInspection>& v) {
  return std::holds_alternative<record::SiteReply>(v) ? std::get<record::SiteReply>(v).status : 0;
}

std::string header(const record::SiteReply& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

TEST_F(Service, BeyondRunningAndQueued503AtOnceWithRetryAfter) {
  InspectService s(options());
  std::vector<PendingInspection> admitted;
  for (int i = 0; i < 3; ++i) {
    auto v = s.begin("GET", "/api/v1/inspect?domain=example.com", "192.0.2." + std::to_string(i));
    ASSERT_TRUE(std::holds_alternative<PendingInspection>(v)) << i << " " << status_of(v);
    admitted.push_back(std::get<PendingInspection>(std::move(v)));
  }
  EXPECT_EQ(s.admission().queued(), 3u);
  auto full = s.begin("GET", "/inspect?domain=example.com", "192.0.2.9");
  ASSERT_EQ(status_of(full), 503);
  EXPECT_GE(std::stoi(header(std::get<record::SiteReply>(full), "Retry-After")), 1);
  // What needs no DNS is still answered while the queue is full.
  auto page = s.begin("GET", "/", "192.0.2.9");
  EXPECT_EQ(status_of(page), 200);
  auto bad = s.begin("GET", "/api/v1/inspect?domain=a..b", "192.0.2.9");
  EXPECT_EQ(status_of(bad), 400);
  admitted.pop_back();  // one is answered: room for the next
  auto next = s.begin("GET", "/api/v1/inspect?domain=example.com", "192.0.2.9");
  EXPECT_TRUE(std::holds_alternative<PendingInspection>(next));
}

TEST_F(Service, PrivateNamesAreRefusedBeforeAdmission) {
  InspectService s(options());
  auto v = s.begin("GET", "/api/v1/inspect?domain=intranet.corp", "192.0.2.1");
  EXPECT_EQ(status_of(v), 403);
  EXPECT_EQ(s.admission().queued(), 0u);
  auto o = options();
  o.allow_private_names = true;
  InspectService allowing(o);
  auto w = allowing.begin("GET", "/api/v1/inspect?domain=intranet.corp", "192.0.2.1");
  ASSERT_TRUE(std::holds_alternative<PendingInspection>(w));
  EXPECT_EQ(std::get<PendingInspection>(w).plan.domain, "intranet.corp");
}

TEST_F(Service, RateLimitComesFirst) {
  auto o = options();
  o.per_minute = 1;
  InspectService s(o);
  auto first = s.begin("GET", "/api/v1/inspect?domain=intranet.corp", "192.0.2.1");
  EXPECT_EQ(status_of(first), 403);
  auto second = s.begin("GET", "/api/v1/inspect?domain=example.com", "192.0.2.1");
  EXPECT_EQ(status_of(second), 429);
}

TEST_F(Service, AnInspectionThatWaitedPastItsDeadlineAsksNoDns) {
  auto o = options();
  o.timeout = std::chrono::milliseconds(1);
  InspectService s(o);
  auto v = s.begin("GET", "/api/v1/inspect?domain=example.com", "192.0.2.1");
  ASSERT_TRUE(std::holds_alternative<PendingInspection>(v));
  auto& p = std::get<PendingInspection>(v);
  p.deadline = std::chrono::steady_clock::now();  // it waited in the queue until now
  record::SiteReply r = s.run(p);                 // 127.0.0.1:9 would time out if it were asked
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(s.admission().queued(), 0u);
  EXPECT_EQ(s.admission().running(), 0u);
  EXPECT_EQ(s.admission().peak_running(), 0u);
}

}  // namespace
}  // namespace tlsrpt::daemon
