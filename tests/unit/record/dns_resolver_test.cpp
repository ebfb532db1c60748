// daemon/dns_resolver.cpp without a network: server specs, the TLSA RDATA parser on
// hand-built DNS messages, and status classification. Real lookups are in
// tests/e2e/test_record_inspect.py against dnsmasq.
#include "record/dns_resolver.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace tlsrpt::record {
namespace {

TEST(DnsServerSpec, Accepted) {
  struct Case {
    const char* spec;
    int family;
    std::uint16_t port;
    const char* text;
  };
  for (const Case& c : {Case{"127.0.0.1:5353", AF_INET, 5353, "127.0.0.1:5353"},
                        Case{"192.0.2.53", AF_INET, 53, "192.0.2.53:53"},
                        Case{"[::1]:5353", AF_INET6, 5353, "[::1]:5353"},
                        Case{"[2001:db8::53]", AF_INET6, 53, "[2001:db8::53]:53"},
                        Case{"::1", AF_INET6, 53, "[::1]:53"},
                        Case{"10.0.0.1:65535", AF_INET, 65535, "10.0.0.1:65535"}}) {
    auto s = parse_dns_server(c.spec);
    ASSERT_TRUE(s) << c.spec << ": " << s.error();
    EXPECT_EQ(s->family, c.family) << c.spec;
    EXPECT_EQ(s->port, c.port) << c.spec;
    EXPECT_EQ(s->text(), c.text);
  }
}

TEST(DnsServerSpec, Refused) {
  struct Case {
    const char* spec;
    const char* reason;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"localhost:53", "not an IP address"},
                        Case{"dns.example:53", "not an IP address"}, Case{"127.0.0.1:", "empty port"},
                        Case{"127.0.0.1:0", "between 1 and 65535"}, Case{"127.0.0.1:65536", "between 1 and 65535"},
                        Case{"127.0.0.1:53a", "not a number"}, Case{"[::1", "missing \"]\""},
                        Case{"[::1]5353", "expected \":port\""}, Case{"[::1]:", "empty port"},
                        Case{"256.0.0.1", "not an IP address"}}) {
    auto s = parse_dns_server(c.spec);
    ASSERT_FALSE(s) << c.spec;
    EXPECT_NE(s.error().find(c.reason), std::string::npos) << c.spec << ": " << s.error();
  }
}

TEST(DnsResolver, CreateRefusesBadServers) {
  auto r = DnsResolver::create(ResolverOptions{.servers = {"127.0.0.1:5353", "nameserver"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("\"nameserver\""), std::string::npos) << r.error();
  EXPECT_TRUE(DnsResolver::create(ResolverOptions{.servers = {"127.0.0.1:5353", "[::1]:5353"}}));
}

TEST(DnsStatus, WhatCountsAsAFailedLookup) {
  EXPECT_FALSE(lookup_failed(DnsStatus::answer));
  EXPECT_FALSE(lookup_failed(DnsStatus::nxdomain));
  EXPECT_FALSE(lookup_failed(DnsStatus::nodata));
  for (auto s : {DnsStatus::servfail, DnsStatus::refused, DnsStatus::timeout, DnsStatus::unreachable, DnsStatus::error})
    EXPECT_TRUE(lookup_failed(s)) << to_token(s);
  EXPECT_EQ(to_token(DnsStatus::nxdomain), "nxdomain");
  EXPECT_EQ(to_token(DnsStatus::nodata), "nodata");
}

// A DNS answer for _25._tcp.mx.example TLSA: a TLSA 3 1 1, a CNAME (ignored) and a
// TLSA 2 0 1, all with compressed owner names.
std::vector<unsigned char> tlsa_message() {
  std::vector<unsigned char> m = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0};
  for (std::string label : {"_25", "_tcp", "mx", "example"}) {
    m.push_back(static_cast<unsigned char>(label.size()));
    m.insert(m.end(), label.begin(), label.end());
  }
  m.insert(m.end(), {0, 0, 52, 0, 1});  // root, QTYPE 52, QCLASS IN
  auto rr = [&](unsigned type, std::vector<unsigned char> rdata) {
    m.insert(m.end(), {0xC0, 0x0C, static_cast<unsigned char>(type >> 8), static_cast<unsigned char>(type), 0, 1,
                       0, 0, 1, 44, static_cast<unsigned char>(rdata.size() >> 8),
                       static_cast<unsigned char>(rdata.size())});
    m.insert(m.end(), rdata.begin(), rdata.end());
  };
  std::vector<unsigned char> sha256 = {3, 1, 1};
  for (int i = 0; i < 32; ++i) sha256.push_back(static_cast<unsigned char>(i * 8));
  rr(52, sha256);
  rr(5, {0xC0, 0x0C});
  rr(52, {2, 0, 1, 0xAB, 0xcd});
  return m;
}

TEST(TlsaParser, ReadsEveryTlsaRecordAndSkipsOthers) {
  auto m = tlsa_message();
  auto r = parse_tlsa_answer(m.data(), m.size());
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].text(), "3 1 1 0008101820283038404850586068707880889098A0A8B0B8C0C8D0D8E0E8F0F8");
  EXPECT_EQ((*r)[1].usage, 2);
  EXPECT_EQ((*r)[1].selector, 0);
  EXPECT_EQ((*r)[1].matching_type, 1);
  EXPECT_EQ((*r)[1].text(), "2 0 1 ABCD");
}

// The TTL the DKIM key cache keeps an answer for: the smallest of its records'.
TEST(AnswerTtl, TheSmallestTtlOfTheAnswerRecordsAndNothingForAMalformedMessage) {
  auto m = tlsa_message();  // three records, TTL 300 each
  EXPECT_EQ(answer_min_ttl(m.data(), m.size()), std::optional<std::uint32_t>(300));
  // The CNAME's TTL (second record, after the 35-byte first RDATA) lowered to 60.
  const std::size_t second = m.size() - (12 + 5) - (12 + 2) + 6;  // its TTL field
  m[second + 2] = 0;
  m[second + 3] = 60;
  EXPECT_EQ(answer_min_ttl(m.data(), m.size()), std::optional<std::uint32_t>(60));
  for (std::size_t cut : {m.size() - 1, std::size_t{40}, std::size_t{11}, std::size_t{0}})
    EXPECT_FALSE(answer_min_ttl(m.data(), cut)) << "cut at " << cut;
  std::vector<unsigned char> empty = {0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(answer_min_ttl(empty.data(), empty.size()));  // no answer records
}

TEST(TlsaParser, TruncatedMessagesAreErrors) {
  auto m = tlsa_message();
  for (std::size_t cut : {m.size() - 1, m.size() - 4, std::size_t{40}, std::size_t{20}, std::size_t{11}, std::size_t{0}}) {
    auto r = parse_tlsa_answer(m.data(), cut);
    EXPECT_FALSE(r) << "cut at " << cut;
  }
}

TEST(TlsaParser, ShortRdataIsAnError) {
  auto m = tlsa_message();
  // Shrink the last record's RDATA to 2 bytes (its RDLENGTH is 2 bytes before the data).
  m.resize(m.size() - 3);
  m[m.size() - 4] = 0;
  m[m.size() - 3] = 2;
  auto r = parse_tlsa_answer(m.data(), m.size());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("shorter than 3 bytes"), std::string::npos) << r.error();
}

TEST(TlsaParser, CompressionLoopIsAnError) {
  std::vector<unsigned char> m = {0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 52, 0, 1};
  EXPECT_FALSE(parse_tlsa_answer(m.data(), m.size()));
}

}  // namespace
}  // namespace tlsrpt::record
