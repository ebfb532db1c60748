// SSRF guard of the webhook sink (docs/guarantees.md#output-side; the targets of
// reliability scenario 28, docs/guarantees.md#reliability-scenarios).
#include "alerts/address_policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

namespace tlsrpt::alerts {
namespace {

std::optional<std::string> check(const char* text) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
    ss.ss_family = AF_INET6;
  } else {
    ADD_FAILURE() << "not an address: " << text;
  }
  return forbidden_address(reinterpret_cast<const sockaddr*>(&ss));
}

TEST(AddressPolicy, RefusesScenario28Targets) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "169.254.169.254", "10.0.0.1", "::ffff:127.0.0.1",
                        "172.16.5.4", "192.168.1.1", "100.64.0.1", "0.0.0.0", "::", "fe80::1", "fd00::1", "fc00::2",
                        "224.0.0.1", "ff02::1", "64:ff9b::a00:1", "2002:7f00:1::1", "255.255.255.255"})
    EXPECT_TRUE(check(a).has_value()) << a;
}

TEST(AddressPolicy, AllowsPublicUnicast) {
  for (const char* a : {"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                        "64:ff9b::808:808", "2002:808:808::1"})
    EXPECT_FALSE(check(a).has_value()) << a << ": " << check(a).value_or("");
}

TEST(AddressPolicy, SaysWhy) {
  EXPECT_EQ(check("127.0.0.1").value_or(""), "127.0.0.1 is a loopback address");
  EXPECT_EQ(check("::ffff:127.0.0.1").value_or(""), "::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address");
}

}  // namespace
}  // namespace tlsrpt::alerts
