// daemon/net/rate_limiter.cpp and client_key.cpp: 12 per minute per IPv4 address or IPv6 /64 as a token
// bucket (burst 12, one token per 5 s), Retry-After, key construction, the LRU bound,
// and thread safety. Time is passed in, so nothing here sleeps.
#include "daemon/net/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono_literals;
using TP = RateLimiter::Clock::time_point;
const TP t0 = TP{} + 1000h;  // any fixed point

std::string v6(unsigned n) {  // a distinct /64 per n: 2001:db8:XXXX:YYYY::1
  char buf[64];
  std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::1", (n >> 16) & 0xffff, n & 0xffff);
  return buf;
}

TEST(RateLimiter, TwelveThenRefusedWithRetryAfter) {
  RateLimiter rl;
  for (int i = 1; i <= 12; ++i) EXPECT_TRUE(rl.check("192.0.2.1", t0).allowed) << "request " << i;
  auto d = rl.check("192.0.2.1", t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, 5s);
}

TEST(RateLimiter, RetryAfterCountsDownAndIsRoundedUp) {
  RateLimiter rl;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check("192.0.2.1", t0).allowed);
  EXPECT_EQ(rl.check("192.0.2.1", t0 + 1s).retry_after, 4s);
  EXPECT_EQ(rl.check("192.0.2.1", t0 + 4900ms).retry_after, 1s);  // 0.1 s left -> 1
  EXPECT_TRUE(rl.check("192.0.2.1", t0 + 5s).allowed);             // one token back
  EXPECT_EQ(rl.check("192.0.2.1", t0 + 5s).retry_after, 5s);
}

TEST(RateLimiter, RefusedRequestsTakeNoToken) {
  RateLimiter rl;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check("192.0.2.1", t0).allowed);
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(rl.check("192.0.2.1", t0 + 1s).allowed);
  EXPECT_TRUE(rl.check("192.0.2.1", t0 + 5s).allowed);
}

TEST(RateLimiter, SustainedRateIsTwelvePerMinute) {
  RateLimiter rl;
  int allowed = 0;
  // One request per second for ten minutes. The n-th allowed request must come at
  // second s with 5(n-1) <= s + 55 (tokens refill while the burst is spent), so by
  // second 599 exactly 131 pass: 14 in the first 14 s, then one every 5 s.
  for (int s = 0; s < 600; ++s) allowed += rl.check("192.0.2.1", t0 + std::chrono::seconds(s)).allowed;
  EXPECT_EQ(allowed, 131);
}

TEST(RateLimiter, FullBucketAfterAQuietMinute) {
  RateLimiter rl;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check("192.0.2.1", t0).allowed);
  ASSERT_FALSE(rl.check("192.0.2.1", t0).allowed);
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(rl.check("192.0.2.1", t0 + 60s).allowed) << i;
  EXPECT_FALSE(rl.check("192.0.2.1", t0 + 60s).allowed);
}

TEST(RateLimiter, TwoAddressesOfOneSlash64ShareABucket) {
  RateLimiter rl;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.check("2001:db8:1::1", t0).allowed);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.check("2001:db8:1::2", t0).allowed);
  EXPECT_FALSE(rl.check("2001:db8:1::1", t0).allowed);
  EXPECT_FALSE(rl.check("2001:db8:1:0:ffff:ffff:ffff:ffff", t0).allowed);
  // Another /64 has its own bucket.
  EXPECT_TRUE(rl.check("2001:db8:2::1", t0).allowed);
  EXPECT_TRUE(rl.check("2001:db8:1:1::1", t0).allowed);
}

TEST(RateLimiter, MappedIpv6IsTheIpv4Address) {
  RateLimiter rl;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check("127.0.0.2", t0).allowed);
  EXPECT_FALSE(rl.check("::ffff:127.0.0.2", t0).allowed);
  EXPECT_FALSE(rl.check("[::ffff:7f00:2]", t0).allowed);
  EXPECT_TRUE(rl.check("127.0.0.3", t0).allowed);  // IPv4 keys are whole addresses
}

TEST(RateLimiter, KeyConstruction) {
  auto a = client_key("2001:db8:1::1"), b = client_key("[2001:db8:1::ffff]"), c = client_key("2001:db8:2::1");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(*a == *c);
  EXPECT_EQ(client_key("fe80::1%eth0"), client_key("fe80::2"));
  EXPECT_EQ(client_key("::ffff:192.0.2.1"), client_key("192.0.2.1"));
  EXPECT_EQ(client_key("192.0.2.1")->family, 4);
  EXPECT_EQ(a->family, 6);
  EXPECT_FALSE(client_key(""));
  EXPECT_FALSE(client_key("example.com"));
  EXPECT_FALSE(client_key("192.0.2.256"));
  EXPECT_FALSE(client_key(std::string(100, '1')));
  EXPECT_EQ(a->str(), "2001:db8:1::/64");
  EXPECT_EQ(client_key("::ffff:192.0.2.1")->str(), "192.0.2.1");
}

TEST(ClientKey, SocketAddressesAndTheirTextAgree) {
  using boost::asio::ip::make_address;
  for (const char* ip : {"192.0.2.7", "::ffff:192.0.2.7", "2001:db8:1:2:3:4:5:6", "::1"})
    EXPECT_EQ(client_key(make_address(ip)), *client_key(ip)) << ip;
  EXPECT_EQ(client_key(make_address("2001:db8:1:2::9")).str(), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key(make_address("::ffff:10.0.0.1")).str(), "10.0.0.1");
}

TEST(RateLimiter, UnparsableAddressesShareOneBucket) {
  RateLimiter rl;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check(i % 2 ? "junk" : "", t0).allowed);
  EXPECT_FALSE(rl.check("also junk", t0).allowed);
}

TEST(RateLimiter, MemoryIsBoundedByTheLru) {
  RateLimiter rl(RateLimiter::Options{.max_keys = 1000});
  for (unsigned n = 0; n < 200'000; ++n) rl.check(v6(n), t0);
  EXPECT_EQ(rl.size(), 1000u);
}

TEST(RateLimiter, DefaultBoundIsOneHundredThousand) {
  RateLimiter rl;
  for (unsigned n = 0; n < 200'000; ++n) rl.check(v6(n), t0);
  EXPECT_EQ(rl.size(), 100'000u);
}

TEST(RateLimiter, RecentlySeenClientsSurviveEviction) {
  RateLimiter rl(RateLimiter::Options{.max_keys = 100});
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rl.check("198.51.100.7", t0).allowed);
  for (unsigned n = 0; n < 99; ++n) rl.check(v6(n), t0);        // fills the table
  ASSERT_FALSE(rl.check("198.51.100.7", t0).allowed);          // touched: most recent again
  for (unsigned n = 1000; n < 1050; ++n) rl.check(v6(n), t0);  // evicts the oldest 50 others
  EXPECT_FALSE(rl.check("198.51.100.7", t0).allowed) << "an active client was forgotten";
  EXPECT_EQ(rl.size(), 100u);
  // The least recently seen one was evicted and starts with a full bucket.
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(rl.check(v6(0), t0).allowed) << i;
}

TEST(RateLimiter, ThreadSafeAndExact) {
  RateLimiter rl;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (rl.check("203.0.113.9", t0).allowed) ++allowed;
        rl.check(v6(static_cast<unsigned>(t * 1000 + i)), t0);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 12);
  EXPECT_EQ(rl.size(), 1u + 8 * 200);
}

TEST(RateLimiter, OtherRates) {
  RateLimiter rl(RateLimiter::Options{.burst = 2, .period = 10s});
  EXPECT_TRUE(rl.check("192.0.2.1", t0).allowed);
  EXPECT_TRUE(rl.check("192.0.2.1", t0).allowed);
  auto d = rl.check("192.0.2.1", t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, 5s);
}

}  // namespace
}  // namespace tlsrpt::daemon
