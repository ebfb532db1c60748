// parser/domain.cpp: A-labels, host-name syntax, canonical IP text.
#include "parser/domain.hpp"

#include <gtest/gtest.h>

namespace tlsrpt {
namespace {

TEST(Domain, Normalize) {
  EXPECT_EQ(normalize_domain("Example.COM."), "example.com");
  EXPECT_EQ(normalize_domain("göpher.test"), "xn--gpher-jua.test");
  EXPECT_EQ(normalize_domain("BÜCHER.example"), "xn--bcher-kva.example");
  EXPECT_EQ(normalize_domain("xn--gpher-jua.test"), "xn--gpher-jua.test");
  EXPECT_FALSE(normalize_domain("a\xff.example"));
}

TEST(Domain, Hostnames) {
  EXPECT_TRUE(is_valid_hostname("mx1.example.com"));
  EXPECT_TRUE(is_valid_hostname("a-b.c"));
  EXPECT_TRUE(is_valid_hostname("localhost"));
  EXPECT_FALSE(is_valid_hostname(""));
  EXPECT_FALSE(is_valid_hostname("a..b"));
  EXPECT_FALSE(is_valid_hostname("-a.b"));
  EXPECT_FALSE(is_valid_hostname("a-.b"));
  EXPECT_FALSE(is_valid_hostname("_x.example"));
  EXPECT_TRUE(is_valid_hostname("_smtp._tls.example", true));
  EXPECT_FALSE(is_valid_hostname(std::string(64, 'a') + ".example"));
  EXPECT_TRUE(is_valid_hostname(std::string(63, 'a') + ".example"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "x";
  EXPECT_FALSE(is_valid_hostname(long_name));  // > 253
  EXPECT_FALSE(is_valid_hostname("ex ample.com"));
  EXPECT_FALSE(is_valid_hostname("exam_ple.com", true));
}

TEST(Domain, CanonicalIp) {
  EXPECT_EQ(canonical_ip("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(canonical_ip("2001:DB8:abcd:0012::1"), "2001:db8:abcd:12::1");
  EXPECT_EQ(canonical_ip("2001:db8:0:0:0:0:0:1"), "2001:db8::1");
  EXPECT_EQ(canonical_ip("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(canonical_ip("::1"), "::1");
  // RFC 8460 §4.4 dec-octet: no leading zeros.
  EXPECT_FALSE(canonical_ip("010.1.2.3"));
  EXPECT_FALSE(canonical_ip("x.x.x.x"));
  EXPECT_FALSE(canonical_ip("256.1.1.1"));
  EXPECT_FALSE(canonical_ip(""));
  EXPECT_FALSE(canonical_ip(std::string(100, '1')));
}

// Found by fuzz_record: texts of 47-64 bytes overflowed the stack buffer (a report
// with such a sending-mta-ip crashed the daemon).
TEST(Domain, CanonicalIpLongTexts) {
  // The longest address text there is: 45 bytes.
  EXPECT_EQ(canonical_ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  for (std::size_t n = 40; n <= 80; ++n) {
    EXPECT_FALSE(canonical_ip(std::string(n, '1'))) << n;
    EXPECT_FALSE(canonical_ip(std::string(n - 9, ' ') + "192.0.2.1")) << n;
  }
}

TEST(Domain, ServedDomain) {
  const std::vector<std::string> served = {"example.com", "mail.example.org", "example.org"};
  EXPECT_EQ(served_domain("example.com", served), "example.com");
  EXPECT_EQ(served_domain("f7.example.com", served), "example.com");
  EXPECT_EQ(served_domain("mx.MAIL.example.org", served), "mail.example.org");  // the longest entry
  EXPECT_EQ(served_domain("www.example.org", served), "example.org");
  EXPECT_EQ(served_domain("badexample.com", served), "");  // not a label boundary
  EXPECT_EQ(served_domain("other.example", served), "");
  EXPECT_EQ(served_domain("", served), "");
  EXPECT_EQ(served_domain("a.b.example.co.uk", {}), "example.co.uk");  // every domain served: its org domain
}

}  // namespace
}  // namespace tlsrpt
