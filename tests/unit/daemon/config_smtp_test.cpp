// daemon/config.cpp: the [smtp] DKIM rows (smtp.dkim, smtp.trusted_authserv_ids) and the
// shared message-bytes budget (smtp.max_message_bytes_in_flight).
#include <gtest/gtest.h>

#include <fstream>

#include "daemon/config.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

std::expected<Config, std::vector<ConfigError>> load(const std::string& toml) {
  static test::TempDir dir;
  auto path = dir.path() / "tlsrptd.toml";
  std::ofstream(path) << toml;
  return load_config(path.string());
}

TEST(ConfigSmtp, Defaults) {
  Config c = default_config();
  EXPECT_EQ(c.smtp.dkim, DkimPolicy::require);  // RFC 8460 §3: unsigned reports MUST be ignored
  EXPECT_TRUE(c.smtp.trusted_authserv_ids.empty());
}

TEST(ConfigSmtp, MessageBytesInFlight) {
  EXPECT_EQ(default_config().smtp.max_message_bytes_in_flight, 64u * 1024 * 1024);
  auto c = load("[smtp]\nmax_message_bytes_in_flight = \"16MiB\"\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->smtp.max_message_bytes_in_flight, 16u * 1024 * 1024);
  EXPECT_FALSE(load("[smtp]\nmax_message_bytes_in_flight = \"1KiB\"\n"));
}

TEST(ConfigSmtp, EveryDkimPolicy) {
  for (auto [text, want] : {std::pair{"require", DkimPolicy::require}, std::pair{"record", DkimPolicy::record},
                            std::pair{"off", DkimPolicy::off}}) {
    auto c = load(std::string("[smtp]\ndkim = \"") + text + "\"\n");
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->smtp.dkim, want) << text;
  }
}

TEST(ConfigSmtp, TrustedAuthservIds) {
  auto c = load("[smtp]\ntrusted_authserv_ids = [\"mx.example.net\", \"mx2.example.net\"]\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->smtp.trusted_authserv_ids, (std::vector<std::string>{"mx.example.net", "mx2.example.net"}));
}

TEST(ConfigSmtp, BadValuesNameTheirLine) {
  auto c = load("[smtp]\ndkim = \"maybe\"\ntrusted_authserv_ids = [\"has space\"]\n");
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 2u);
  EXPECT_EQ(c.error()[0].line, 2);
  EXPECT_NE(c.error()[0].message.find("smtp.dkim"), std::string::npos) << c.error()[0].message;
  EXPECT_EQ(c.error()[1].line, 3);
  EXPECT_NE(c.error()[1].message.find("has space"), std::string::npos) << c.error()[1].message;

  c = load("[smtp]\ndkim = true\n");
  ASSERT_FALSE(c);
  c = load("[smtp]\ntrusted_authserv_ids = \"mx.example.net\"\n");
  ASSERT_FALSE(c);
}

TEST(ConfigSmtp, DocumentedInTheTable) {
  bool dkim = false, ids = false;
  for (const auto& p : param_docs()) {
    dkim = dkim || (p.key == "smtp.dkim" && p.default_toml == "\"require\"");
    ids = ids || (p.key == "smtp.trusted_authserv_ids" && p.default_toml == "[]");
  }
  EXPECT_TRUE(dkim);
  EXPECT_TRUE(ids);
}

}  // namespace
}  // namespace tlsrpt::daemon
