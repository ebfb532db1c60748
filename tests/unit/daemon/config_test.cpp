// daemon/config.cpp: defaults from the parameter table, TOML overlay, errors with
// file:line, `config defaults` round-trips through the loader.
#include "daemon/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  auto p = dir.path() / name;
  std::ofstream(p) << text;
  return p.string();
}

TEST(Config, Defaults) {
  Config c = default_config();
  EXPECT_EQ(c.database, "var/tlsrptd.sqlite");
  EXPECT_TRUE(c.domains.empty());
  EXPECT_EQ(c.limits.max_submission_bytes, 2 * kMiB);
  EXPECT_EQ(c.limits.max_report_bytes, 16 * kMiB);
  EXPECT_EQ(c.limits.max_json_depth, 32u);
}

TEST(Config, Overlay) {
  test::TempDir dir;
  auto path = write(dir, "c.toml", R"(
database = "/srv/tlsrpt.sqlite"
domains = ["example.com", "example.net"]
[limits]
max_report_bytes = "4MiB"
max_policies = 10
)");
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().front().text();
  EXPECT_EQ(c->database, "/srv/tlsrpt.sqlite");
  EXPECT_EQ(c->domains, (std::vector<std::string>{"example.com", "example.net"}));
  EXPECT_EQ(c->limits.max_report_bytes, 4 * kMiB);
  EXPECT_EQ(c->limits.max_policies, 10u);
  EXPECT_EQ(c->limits.max_submission_bytes, 2 * kMiB);  // untouched default
}

TEST(Config, PerClientBodyBudget) {
  EXPECT_EQ(default_config().https.max_body_bytes_per_client, 8 * kMiB);
  test::TempDir dir;
  auto c = load_config(write(dir, "c.toml", "[https]\nmax_body_bytes_per_client = \"1MiB\"\n"));
  ASSERT_TRUE(c) << c.error().front().text();
  EXPECT_EQ(c->https.max_body_bytes_per_client, kMiB);
  EXPECT_FALSE(load_config(write(dir, "d.toml", "[https]\nmax_body_bytes_per_client = \"1KiB\"\n")));
}

TEST(Config, ErrorsNameFileAndLine) {
  test::TempDir dir;
  auto path = write(dir, "bad.toml", "database = 5\n\n[limits]\nmax_policies = -1\nnot_a_key = 1\nmax_report_bytes = \"4 parsecs\"\n");
  auto c = load_config(path);
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 4u);
  EXPECT_EQ(c.error()[0].text(), path + ":1:12: database: expected a string, got integer");
  EXPECT_EQ(c.error()[1].line, 4);
  EXPECT_NE(c.error()[1].message.find("must be between"), std::string::npos);
  EXPECT_EQ(c.error()[2].message, "unknown key \"limits.not_a_key\"");
  EXPECT_NE(c.error()[3].message.find("unknown size unit"), std::string::npos);
}

TEST(Config, SyntaxError) {
  test::TempDir dir;
  auto path = write(dir, "syntax.toml", "database = \"x\"\n[limits\n");
  auto c = load_config(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error()[0].line, 2);
}

TEST(Config, DbOverrideWins) {
  auto c = resolve_config(std::nullopt, std::string("/tmp/x.sqlite"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->database, "/tmp/x.sqlite");
}

TEST(Config, RenderedDefaultsLoadBackToTheDefaults) {
  test::TempDir dir;
  auto path = write(dir, "defaults.toml", render_defaults());
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().front().text();
  Config d = default_config();
  EXPECT_EQ(c->database, d.database);
  EXPECT_EQ(c->limits.max_report_bytes, d.limits.max_report_bytes);
  EXPECT_EQ(c->limits.max_inflate_ratio, d.limits.max_inflate_ratio);
  // Every parameter appears, with its doc.
  std::string text = render_defaults();
  for (const auto& p : param_docs()) {
    std::string leaf(p.key.substr(p.key.rfind('.') == std::string_view::npos ? 0 : p.key.rfind('.') + 1));
    EXPECT_NE(text.find(leaf + " = " + std::string(p.default_toml)), std::string::npos) << p.key;
    EXPECT_NE(text.find(std::string(p.doc)), std::string::npos) << p.key;
  }
}

}  // namespace
}  // namespace tlsrpt::daemon
