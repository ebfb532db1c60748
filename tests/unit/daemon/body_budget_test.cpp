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
  BodyBudget b(10 * MiB, 10 * MiB);
  auto small = b.reserve("a", 2 * MiB, t0).body;  // a holds 2 MiB
  auto fast = b.reserve("b", 2 * MiB, t0).body;
  auto quick = b.reserve("b", 2 * MiB, t0).body;
  auto slow = b.reserve("b", 2 * MiB, t0 + 1s).body;
  auto slower = b.reserve("b", 2 * MiB, t0 + 2s).body;  // b holds 8 MiB
  b.progress(*fast, 1 * MiB);
  b.progress(*quick, 1 * MiB);
  b.progress(*slow, 100);
  b.progress(*slower, 10);
  auto g = b.reserve("c", 3 * MiB, t0 + 10s);
  ASSERT_TRUE(g.body);
  ASSERT_EQ(g.cut.size(), 2u) << "nothing free, 3 MiB asked: one cut is not enough, two are";
  EXPECT_EQ(g.cut[0], slower);
  EXPECT_EQ(g.cut[1], slow);
  EXPECT_FALSE(fast->cut);
  EXPECT_FALSE(quick->cut);
  EXPECT_FALSE(small->cut);
  EXPECT_EQ(b.held_by("b"), 4 * MiB) << "b still holds more than c's 3 MiB";
}

// Review finding 7: the rule compares holdings after the cut, so equal holders never
// cut each other, and a sender's only body is never cut by a fresh /64 of its size.
TEST(BodyBudget, EqualHoldingsNeverCutAndNoCutBackAndForth) {
  BodyBudget b(4 * MiB, 8 * MiB);
  auto honest = b.reserve("2001:db8:1::/64", 2 * MiB, t0).body;  // the slowest body there is
  auto other = b.reserve("2001:db8:2::/64", 2 * MiB, t0 + 1s).body;
  b.progress(*other, 1 * MiB);
  for (int i = 0; i < 5; ++i) {
    auto g = b.reserve("2001:db8:a" + std::to_string(i) + "::/64", 2 * MiB, t0 + std::chrono::seconds(2 + i));
    EXPECT_FALSE(g.body) << "equal holdings (2 MiB each): no cut, " << i;
    EXPECT_TRUE(g.cut.empty());
  }
  EXPECT_FALSE(honest->cut);
  EXPECT_FALSE(other->cut);
  // A tie after the cut is allowed (x 4 -> 2 MiB, z 2 MiB); x's comeback then cuts nothing.
  BodyBudget c(4 * MiB, 8 * MiB);
  auto x1 = c.reserve("x", 2 * MiB, t0).body;
  auto x2 = c.reserve("x", 2 * MiB, t0 + 1s).body;
  auto z = c.reserve("z", 2 * MiB, t0 + 2s);
  ASSERT_TRUE(z.body);
  ASSERT_EQ(z.cut.size(), 1u);
  EXPECT_EQ(z.cut[0], x1);
  c.release(*x1);
  auto back = c.reserve("x", 2 * MiB, t0 + 3s);
  EXPECT_FALSE(back.body) << "x holds 2 MiB like z: x cannot cut z back";
  EXPECT_TRUE(back.cut.empty());
  EXPECT_FALSE(z.body->cut);
  EXPECT_FALSE(x2->cut);
}

// The slowest body whose cut the rule allows: a bigger, slower body of the same client
// that would leave it holding less than the requester is passed over.
TEST(BodyBudget, TheSlowestAllowedBodyIsCut) {
  BodyBudget b(10 * MiB, 10 * MiB);
  auto big = b.reserve("x", 6 * MiB, t0).body;  // the slowest, but x would keep 3 < 4 MiB
  auto small = b.reserve("x", 3 * MiB, t0 + 1s).body;
  b.progress(*small, 1 * MiB);
  auto g = b.reserve("y", 4 * MiB, t0 + 2s);
  ASSERT_TRUE(g.body);
  ASSERT_EQ(g.cut.size(), 1u);
  EXPECT_EQ(g.cut[0], small);
  EXPECT_FALSE(big->cut);
  auto lone = b.reserve("w", 1, t0 + 3s);
  EXPECT_FALSE(lone.body) << "x and y hold one body each: either would hold 0 < 1";
}

TEST(BodyBudget, TheCutAlwaysFavoursTheClientThatHoldsLess) {
  // An attacker with endless IPv6 /64s: one 2 MiB body per key.
  BodyBudget b(8 * MiB, 8 * MiB);
  auto honest = b.reserve("2001:db8:1::/64", 600, t0).body;
  b.progress(*honest, 600);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    auto g = b.reserve("2001:db8:a" + std::to_string(i) + "::/64", 2 * MiB, t0 + std::chrono::seconds(1 + i));
    EXPECT_TRUE(g.cut.empty()) << "one body per /64: nobody holds more than a newcomer would, " << i;
    admitted += g.body ? 1 : 0;
  }
  EXPECT_EQ(admitted, 3) << "what fits beside the honest body; the rest 503";
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

// Review finding 6: a body whose last bytes came in as it was cut is complete and wins:
// settle() undoes the cut and counts its bytes again until it is released.
TEST(BodyBudget, ACompleteBodyWinsOverACutThatLandedLate) {
  BodyBudget b(4 * MiB, 8 * MiB);
  auto x1 = b.reserve("x", 2 * MiB, t0).body;
  auto x2 = b.reserve("x", 2 * MiB, t0 + 1s).body;
  auto z = b.reserve("z", 1 * MiB, t0 + 2s);
  ASSERT_TRUE(z.body);
  ASSERT_EQ(z.cut.size(), 1u);
  ASSERT_EQ(z.cut[0], x1);
  EXPECT_EQ(b.used(), 3 * MiB);
  b.settle(*x1);  // its read had already completed
  EXPECT_FALSE(x1->cut);
  EXPECT_EQ(b.used(), 5 * MiB) << "over the budget by the body that won, until it is released";
  EXPECT_EQ(b.held_by("x"), 4 * MiB);
  auto w = b.reserve("w", 1 * MiB, t0 + 3s);
  ASSERT_TRUE(w.body);
  ASSERT_EQ(w.cut.size(), 1u);
  EXPECT_EQ(w.cut[0], x2) << "the settled body is never cut";
  b.release(*x1);
  b.release(*x2);  // cut: nothing more given back
  EXPECT_EQ(b.used(), 2 * MiB);
  EXPECT_EQ(b.held_by("x"), 0u);
}

TEST(BodyBudget, CompleteBodiesAreNeverCutAndNoCutWithoutEnoughRoom) {
  BodyBudget b(4 * MiB, 8 * MiB);
  auto done = b.reserve("a", 3 * MiB, t0).body;
  b.settle(*done);  // read completely, being stored
  auto g = b.reserve("b", 2 * MiB, t0 + 1s);
  EXPECT_FALSE(g.body);
  EXPECT_TRUE(g.cut.empty());
  EXPECT_FALSE(done->cut);
  // x (3 MiB) would keep 1.5 MiB, less than z's 2.5 MiB: nothing is cut at all.
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
