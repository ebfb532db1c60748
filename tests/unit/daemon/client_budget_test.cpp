// daemon/intake/client_budget.cpp: bytes per client per UTC day; a refusal charges
// nothing and says the seconds to 00:00 UTC; memory bounded by an LRU.
#include "daemon/intake/client_budget.hpp"

#include <gtest/gtest.h>

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono;

const system_clock::time_point kDay = sys_days{year{2026} / 12 / 7};
ClientKey key(const char* ip) { return *client_key(std::string_view(ip)); }

TEST(ClientBudget, ChargesUntilTheLimitThenRefusesWithTheTimeToMidnight) {
  ClientBudget b;
  const auto now = kDay + hours{18};
  EXPECT_TRUE(b.charge(key("192.0.2.1"), 600, 1000, now).allowed);
  auto d = b.charge(key("192.0.2.1"), 401, 1000, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, seconds{6 * 3600});
  EXPECT_EQ(d.used, 600u);  // the refusal charged nothing
  EXPECT_TRUE(b.charge(key("192.0.2.1"), 400, 1000, now).allowed);  // exactly the limit
  EXPECT_FALSE(b.charge(key("192.0.2.1"), 1, 1000, now).allowed);
}

TEST(ClientBudget, EachClientHasItsOwnAndAnIpv6Slash64IsOneClient) {
  ClientBudget b;
  EXPECT_TRUE(b.charge(key("2001:db8:1:2::1"), 1000, 1000, kDay).allowed);
  EXPECT_FALSE(b.charge(key("2001:db8:1:2::ffff"), 1, 1000, kDay).allowed);
  EXPECT_TRUE(b.charge(key("2001:db8:1:3::1"), 1000, 1000, kDay).allowed);
  EXPECT_TRUE(b.charge(key("192.0.2.2"), 1000, 1000, kDay).allowed);
  EXPECT_FALSE(b.charge(key("::ffff:192.0.2.2"), 1, 1000, kDay).allowed);  // the same IPv4 client
}

TEST(ClientBudget, TheCountStartsAgainAtMidnightUtc) {
  ClientBudget b;
  EXPECT_TRUE(b.charge(key("192.0.2.1"), 1000, 1000, kDay + hours{23} + minutes{59}).allowed);
  EXPECT_FALSE(b.charge(key("192.0.2.1"), 1, 1000, kDay + hours{23} + minutes{59} + seconds{59}).allowed);
  EXPECT_TRUE(b.charge(key("192.0.2.1"), 1000, 1000, kDay + days{1}).allowed);
}

TEST(ClientBudget, RetryAfterIsAtLeastOneSecond) {
  ClientBudget b;
  const auto now = kDay + days{1} - milliseconds{10};
  EXPECT_TRUE(b.charge(key("192.0.2.1"), 10, 10, now).allowed);
  EXPECT_EQ(b.charge(key("192.0.2.1"), 1, 10, now).retry_after, seconds{1});
}

TEST(ClientBudget, MemoryIsBoundedByTheLeastRecentlySeen) {
  ClientBudget b(ClientBudget::Options{3});
  for (const char* ip : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) b.charge(key(ip), 10, 10, kDay);
  b.charge(key("192.0.2.1"), 0, 10, kDay);  // seen again: .2 is now the oldest
  b.charge(key("192.0.2.4"), 10, 10, kDay);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_FALSE(b.charge(key("192.0.2.1"), 1, 10, kDay).allowed);  // remembered
  EXPECT_TRUE(b.charge(key("192.0.2.2"), 10, 10, kDay).allowed);  // forgotten: counted from zero
}

// A charge is a reservation settled once: refunded on its own day, for a client still remembered.
TEST(ClientBudget, AChargeIsRefundedOnceOnItsDay) {
  auto b = std::make_shared<ClientBudget>();
  const auto now = kDay + hours{12};
  ASSERT_TRUE(b->charge(key("192.0.2.1"), 600, 1000, now).allowed);
  BudgetCharge c(b, key("192.0.2.1"), 600, now);
  EXPECT_FALSE(b->charge(key("192.0.2.1"), 600, 1000, now).allowed);
  EXPECT_TRUE(c.settle(true));
  EXPECT_FALSE(c.settle(true));  // once
  EXPECT_EQ(b->used(key("192.0.2.1"), now), 0u);
  EXPECT_TRUE(b->charge(key("192.0.2.1"), 1000, 1000, now).allowed);
  // Yesterday's charge does not give back today's bytes.
  BudgetCharge old(b, key("192.0.2.1"), 600, now - days{1});
  EXPECT_TRUE(old.settle(true));
  BudgetCharge kept(b, key("192.0.2.1"), 1000, now);
  EXPECT_FALSE(kept.settle(false));
  EXPECT_FALSE(kept.settle(true));  // the first settlement decided: kept
  EXPECT_EQ(b->used(key("192.0.2.1"), now), 1000u);
  // Never below zero, never for a client not seen.
  b->refund(key("192.0.2.1"), 5000, floor<days>(now).time_since_epoch().count());
  EXPECT_EQ(b->used(key("192.0.2.1"), now), 0u);
  b->refund(key("192.0.2.9"), 10, floor<days>(now).time_since_epoch().count());
  EXPECT_EQ(b->size(), 1u);
}

}  // namespace
}  // namespace tlsrpt::daemon
