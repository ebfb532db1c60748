// daemon/config.cpp: the [dns] rows (servers, timeout) added for record inspect.
#include <gtest/gtest.h>

#include <fstream>

#include "daemon/config.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

std::string write(const test::TempDir& dir, const std::string& toml) {
  auto p = dir.path() / "tlsrptd.toml";
  std::ofstream(p) << toml;
  return p.string();
}

TEST(ConfigDns, Defaults) {
  Config c = default_config();
  EXPECT_TRUE(c.dns.servers.empty());
  EXPECT_EQ(c.dns.timeout, std::chrono::milliseconds(5000));
  std::string defaults = render_defaults();
  EXPECT_NE(defaults.find("[dns]\n"), std::string::npos);
  EXPECT_NE(defaults.find("servers = []"), std::string::npos);
  EXPECT_NE(defaults.find("timeout = \"5s\""), std::string::npos);
}

TEST(ConfigDns, Values) {
  test::TempDir dir;
  auto c = load_config(write(dir, "[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\", \"192.0.2.53\"]\ntimeout = \"1500ms\"\n"));
  ASSERT_TRUE(c) << c.error().front().text();
  EXPECT_EQ(c->dns.servers, (std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "192.0.2.53"}));
  EXPECT_EQ(c->dns.timeout, std::chrono::milliseconds(1500));
}

TEST(ConfigDns, Errors) {
  test::TempDir dir;
  auto c = load_config(write(dir, "[dns]\nservers = [\"ns1.example.net\"]\ntimeout = \"10ms\"\n"));
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 2u);
  EXPECT_NE(c.error()[0].text().find(":2:"), std::string::npos) << c.error()[0].text();
  EXPECT_NE(c.error()[0].message.find("dns.servers: DNS server \"ns1.example.net\": not an IP address"), std::string::npos)
      << c.error()[0].message;
  EXPECT_NE(c.error()[1].message.find("dns.timeout: must be between 100ms and 60s"), std::string::npos)
      << c.error()[1].message;
  auto d = load_config(write(dir, "[dns]\ntimeout = \"soon\"\n"));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error()[0].message.find("dns.timeout"), std::string::npos);
}

}  // namespace
}  // namespace tlsrpt::daemon
