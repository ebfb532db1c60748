// The HTTPS body budget and its cut rule (daemon/net/body_budget.hpp): issue 19 item 3,
// scenario 31 (body_budget_lockout) without sockets.
#include "daemon/net/body_budget.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t MiB = 1024 * 1024;
const BodyBudget::Clock::time_point t0{};

TEST(BodyBudget, PerClientShareAndOneRequestAlwaysLetIn) {
  BodyBudget b(64 * MiB, 8 * MiB);
  std::vector<std::shared_ptr<BodyBudget::Body>> held;
  for (int i = 0; i < 4; ++i) held.push_back(b.reserve("192.0.2.1", 2 * MiB, t0).body);
  for (auto& h : held) ASSERT_TRUE(h);
  auto fifth = b.reserve("192.0.2.1", 2 * MiB, t0);
  EXPECT_FALSE(fifth.body);
  EXPECT_EQ(fifth.refused, BodyBudget::Refusal::per_client);
  auto big = b.reserve("192.0.2.2", 9 * MiB, t0);
  EXPECT_TRUE(big.body) << "one request is always let in, whatever the share";
  b.release(*held[0]);
  EXPECT_EQ(b.held_by("192.0.2.1"), 6 * MiB);
  b.release(*held[0]);  // twice: nothing more
  EXPECT_EQ(b.used(), 15 * MiB);
}

// Issue 19 item 3: 8 addresses x 4 connections trickling 2 MiB bodies fill 64 MiB.
TEST(BodyBudget, EightAddressesCannotLockANinthOut) {
  BodyBudget b(64 * MiB, 8 * MiB);
  std::vector<std::shared_ptr<BodyBudget::Body>> hogs;
  int cancelled = 0;
  for (int a = 1; a <= 8; ++a)
    for (int c = 0; c < 4; ++c) {
      auto g = b.reserve("192.0.2." + std::to_string(a), 2 * MiB, t0 + std::chrono::seconds(a * 4 + c),
                         [&] { ++cancelled; });
      ASSERT_TRUE(g.body);
      b.progress(*g.body, 1);
      hogs.push_back(g.body);
    }
  EXPECT_EQ(b.used(), 64 * MiB);
  auto honest = b.reserve("198.51.100.7", 600, t0 + 40s);
  ASSERT_TRUE(honest.body) << "the ninth address gets in";
  ASSERT_EQ(honest.cut.size(), 1u);
  EXPECT_EQ(cancelled, 1);
  EXPECT_TRUE(honest.cut[0]->cut);
  // All hold 8 MiB and progressed 1 byte: the slowest is the oldest, 192.0.2.1's first.
  EXPECT_EQ(honest.cut[0], hogs[0]);
  EXPECT_EQ(b.held_by("192.0.2.1"), 6 * MiB);
  EXPECT_LE(b.used(), 64 * MiB);
  b.release(*hogs[0]);  // the cut body's coroutine ends: its bytes are not given back twice
  EXPECT_EQ(b.used(), 62 * MiB + 600);
}

TEST(BodyBudget, TheSlowestBodyOfTheBiggestHolderGoesFirst) {
  BodyBudget b(8 * MiB, 10 * MiB);
  auto small = b.reserve("a", 2 * MiB, t0).body;  // a holds 2 MiB
  auto fast = b.reserve("b", 2 * MiB, t0).body;
  auto slow = b.reserve("b", 2 * MiB, t0 + 1s).body;
  auto slower = b.reserve("b", 2 * MiB, t0 + 2s).body;  // b holds 6 MiB
  b.progress(*fast, 1 * MiB);
  b.progress(*slow, 100);
  b.progress(*slower, 10);
  auto g = b.reserve("c", 3 * MiB, t0 + 10s);
  ASSERT_TRUE(g.body);
  ASSERT_EQ(g.cut.size(), 2u) << "nothing free, 3 MiB asked: one cut is not enough, two are";
  EXPECT_EQ(g.cut[0], slower);
  EXPECT_EQ(g.cut[1], slow);
  EXPECT_FALSE(fast->cut);
  EXPECT_FALSE(small->cut);
}

TEST(BodyBudget, TheCutAlwaysFavoursTheClientThatHoldsLess) {
  // An attacker with endless IPv6 /64s: one 2 MiB body per key.
  BodyBudget b(8 * MiB, 8 * MiB);
  auto honest = b.reserve("2001:db8:1::/64", 600, t0).body;
  b.progress(*honest, 600);
  std::vector<std::shared_ptr<BodyBudget::Body>> attackers;
  for (int i = 0; i < 10; ++i) {
    auto g = b.reserve("2001:db8:a" + std::to_string(i) + "::/64", 2 * MiB, t0 + std::chrono::seconds(1 + i));
    ASSERT_TRUE(g.body) << i;
    for (auto& c : g.cut) EXPECT_NE(c, honest) << "the smaller holder is never cut";
    attackers.push_back(g.body);
  }
  EXPECT_FALSE(honest->cut);
  EXPECT_LE(b.used(), 8 * MiB);
  // A requester that would hold more than the biggest holder gets no cut: 503.
  BodyBudget c(4 * MiB, 8 * MiB);
  ASSERT_TRUE(c.reserve("x", 2 * MiB, t0).body);
  ASSERT_TRUE(c.reserve("y", 2 * MiB, t0).body);
  auto greedy = c.reserve("x", 2 * MiB, t0 + 1s);
  EXPECT_FALSE(greedy.body) << "x holds as much as y: x cannot cut y";
  EXPECT_EQ(greedy.refused, BodyBudget::Refusal::in_flight);
  EXPECT_TRUE(greedy.cut.empty());
}

TEST(BodyBudget, CompleteBodiesAreNeverCutAndNoCutWithoutEnoughRoom) {
  BodyBudget b(4 * MiB, 8 * MiB);
  auto done = b.reserve("a", 3 * MiB, t0).body;
  b.settle(*done);  // read completely, being stored
  auto g = b.reserve("b", 2 * MiB, t0 + 1s);
  EXPECT_FALSE(g.body);
  EXPECT_TRUE(g.cut.empty());
  EXPECT_FALSE(done->cut);
  // The first cut would be allowed, the second not (x then holds less than z would):
  // nothing is cut at all.
  constexpr std::size_t KiB = 1024;
  BodyBudget c(4 * MiB, 8 * MiB);
  auto x1 = c.reserve("x", 1536 * KiB, t0).body;
  auto x2 = c.reserve("x", 1536 * KiB, t0).body;
  auto y1 = c.reserve("y", 1024 * KiB, t0).body;
  auto z = c.reserve("z", 2560 * KiB, t0 + 1s);
  EXPECT_FALSE(z.body);
  EXPECT_TRUE(z.cut.empty());
  EXPECT_FALSE(x1->cut);
  EXPECT_FALSE(x2->cut);
  EXPECT_FALSE(y1->cut);
  EXPECT_EQ(c.used(), 4 * MiB);
}

}  // namespace
}  // namespace tlsrpt::daemon
