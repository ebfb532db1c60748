// parser/gunzip.cpp: bounded inflate, concatenated members, bombs, corrupt input.
#include "parser/gunzip.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace tlsrpt {
namespace {

using test::gzip;

std::string str(const std::vector<char>& v) { return std::string(v.begin(), v.end()); }

TEST(Gunzip, RoundTrip) {
  std::vector<char> out;
  auto r = gunzip(gzip("{\"a\":1}"), out, Limits{});
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(str(out), "{\"a\":1}");
  EXPECT_EQ(r->members, 1u);
}

TEST(Gunzip, ConcatenatedMembersAreOnePayload) {
  std::vector<char> out;
  auto r = gunzip(gzip("{\"a\":") + gzip("1}"), out, Limits{});
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(str(out), "{\"a\":1}");
  EXPECT_EQ(r->members, 2u);
}

TEST(Gunzip, TrailingGarbageIsRefused) {
  std::vector<char> out;
  auto r = gunzip(gzip("{}") + "garbage", out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::gzip_corrupt);
  EXPECT_NE(r.error().message.find("trailing data"), std::string::npos);
}

TEST(Gunzip, TruncatedStreamIsRefused) {
  std::string gz = gzip(std::string(10000, 'x'));
  std::vector<char> out;
  for (std::size_t cut : {gz.size() - 1, gz.size() - 8, gz.size() / 2, std::size_t{11}}) {
    auto r = gunzip(std::string_view(gz).substr(0, cut), out, Limits{});
    ASSERT_FALSE(r) << "cut at " << cut;
    EXPECT_EQ(r.error().reason, RejectReason::gzip_truncated) << "cut at " << cut << ": " << r.error().text();
  }
}

TEST(Gunzip, CrcMismatchIsRefused) {
  std::string gz = gzip("{\"organization-name\":\"x\"}");
  gz[gz.size() - 8] ^= 0x01;  // CRC32 in the trailer
  std::vector<char> out;
  auto r = gunzip(gz, out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::gzip_corrupt);
}

TEST(Gunzip, LengthMismatchIsRefused) {
  std::string gz = gzip("{}");
  gz[gz.size() - 4] ^= 0x01;  // ISIZE in the trailer
  std::vector<char> out;
  auto r = gunzip(gz, out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::gzip_corrupt);
}

TEST(Gunzip, CorruptHeaderIsRefused) {
  std::string gz = gzip("{}");
  gz[2] = 7;  // compression method must be 8 (deflate)
  std::vector<char> out;
  auto r = gunzip(gz, out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::gzip_corrupt);
}

TEST(Gunzip, BombStopsAtTheCapWithoutHoldingMore) {
  // 64 MiB of zeros compresses to ~64 KiB: ratio ~1000.
  std::string bomb = gzip(std::string(64 * kMiB, '\0'), 9);
  Limits limits;
  limits.max_inflate_ratio = 1'000'000;  // exercise the absolute cap alone
  std::vector<char> out;
  auto r = gunzip(bomb, out, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
  EXPECT_LE(out.capacity(), limits.max_report_bytes + 1 + kGunzipPadding);
}

TEST(Gunzip, BombIsRefusedByTheRatioCapBeforeTheSizeCap) {
  std::string bomb = gzip(std::string(64 * kMiB, '\0'), 9);
  std::vector<char> out;
  auto r = gunzip(bomb, out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::gzip_ratio);
  // Refused soon after the 1 MiB grace, long before 16 MiB: at most 4 MiB of the
  // buffer written (its capacity may be the whole cap, reserved but never touched).
  EXPECT_LE(out.size(), 4 * kMiB);
  EXPECT_LE(out.capacity(), Limits{}.max_report_bytes + 1 + kGunzipPadding);
}

TEST(Gunzip, ExactlyAtTheCapIsAccepted) {
  Limits limits;
  limits.max_report_bytes = 100'000;
  limits.max_inflate_ratio = 1'000'000;
  std::vector<char> out;
  EXPECT_TRUE(gunzip(gzip(std::string(100'000, 'a')), out, limits));
  EXPECT_EQ(out.size(), 100'000u);
  auto r = gunzip(gzip(std::string(100'001, 'a')), out, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
}

TEST(Gunzip, CompressedSizeCap) {
  Limits limits;
  limits.max_submission_bytes = 10;
  std::vector<char> out;
  auto r = gunzip(gzip("{\"some\":\"thing longer\"}"), out, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
}

TEST(Gunzip, EmptyInput) {
  std::vector<char> out;
  auto r = gunzip("", out, Limits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::empty);
}

TEST(Gunzip, MagicDetection) {
  EXPECT_TRUE(has_gzip_magic(gzip("x")));
  EXPECT_FALSE(has_gzip_magic("{}"));
  EXPECT_FALSE(has_gzip_magic("\x1f"));
}

}  // namespace
}  // namespace tlsrpt
