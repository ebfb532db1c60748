// parser/org_domain.cpp: organizational domains from the Public Suffix List (libpsl)
// and DKIM relaxed alignment on them (RFC 7489 §3.1.1, §3.2).
#include "parser/org_domain.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <thread>
#include <vector>

namespace tlsrpt {
namespace {

// First in the file so that, run alone or first, it is the list's first use.
TEST(OrgDomain, ConcurrentFirstUseIsSafe) {
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&results, i] { results[i] = organizational_domain("a.b.example.co.uk"); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, "example.co.uk");
}

struct OrgCase {
  std::string_view domain;
  std::string_view org;
};

TEST(OrgDomain, FromThePublicSuffixList) {
  constexpr OrgCase kCases[] = {
      {"google.com", "google.com"},
      {"mail.google.com", "google.com"},
      {"a.b.example.co.uk", "example.co.uk"},
      {"example.co.uk", "example.co.uk"},
      {"tlsrpt.mail.ru", "mail.ru"},
      {"mail.ru", "mail.ru"},
      {"smtp-tls-reporting.outlook.com", "outlook.com"},
      // github.io is in the PSL's private section: each user's site is its own
      // organization.
      {"foo.github.io", "foo.github.io"},
      {"www.foo.github.io", "foo.github.io"},
      // A public suffix is its own organizational domain; so is a name with no
      // registrable part.
      {"co.uk", "co.uk"},
      {"com", "com"},
      {"github.io", "github.io"},
      {"localhost", "localhost"},
      {"", ""},
      // Tolerated: upper case and one trailing dot.
      {"Mail.Google.COM.", "google.com"},
      // IDN TLDs are looked up by their A-label (xn--p1ai is .рф).
      {"mx.xn--80ak6aa92e.xn--p1ai", "xn--80ak6aa92e.xn--p1ai"},
  };
  for (const auto& c : kCases) EXPECT_EQ(organizational_domain(c.domain), c.org) << c.domain;
}

struct AlignCase {
  std::string_view signing_domain;
  std::string_view from_domain;
  bool aligned;
};

TEST(OrgDomain, DkimRelaxedAlignment) {
  constexpr AlignCase kCases[] = {
      {"google.com", "google.com", true},
      {"google.com", "mail.google.com", true},
      {"mail.google.com", "google.com", true},
      {"a.mail.google.com", "b.google.com", true},
      {"GOOGLE.COM.", "google.com", true},
      {"mail.ru", "tlsrpt.mail.ru", true},
      {"evil-google.com", "google.com", false},
      {"google.com.evil.com", "google.com", false},
      {"google.com", "google.com.evil.com", false},
      {"evil.com", "google.com", false},
      {"example.co.uk", "other.co.uk", false},
      // Two names under one public suffix are different organizations.
      {"co.uk", "example.co.uk", false},
      {"foo.github.io", "bar.github.io", false},
      {"github.io", "foo.github.io", false},
      {"", "google.com", false},
      {"google.com", "", false},
      {"", "", false},
  };
  for (const auto& c : kCases)
    EXPECT_EQ(dkim_aligned_domain(c.signing_domain, c.from_domain), c.aligned)
        << "d=" << c.signing_domain << " from=" << c.from_domain;
}

}  // namespace
}  // namespace tlsrpt
