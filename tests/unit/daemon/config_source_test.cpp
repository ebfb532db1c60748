// daemon/config.cpp find_config: --config, then $TLSRPTD_CONFIG, then the system
// file when it exists, then the built-in defaults; a named file that is missing is
// an error, never a fall back. The system path is a parameter, so no root is needed.
#include "daemon/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

struct Files {
  test::TempDir dir;
  std::string flag = touch("flag.toml"), env = touch("env.toml"), sys = touch("system.toml");
  std::string missing = (dir.path() / "missing.toml").string();

  std::string touch(const std::string& name) {
    auto p = dir.path() / name;
    std::ofstream(p) << "";
    return p.string();
  }
};

TEST(FindConfig, FlagWinsOverEverything) {
  Files f;
  auto s = find_config(f.flag, f.env.c_str(), f.sys);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->path, f.flag);
  EXPECT_EQ(s->describe(), f.flag + " (from --config)");
}

TEST(FindConfig, EnvironmentBeforeTheSystemFile) {
  Files f;
  auto s = find_config(std::nullopt, f.env.c_str(), f.sys);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->describe(), f.env + " (from $TLSRPTD_CONFIG)");
}

TEST(FindConfig, SystemFileWhenItExists) {
  Files f;
  for (const char* env : {static_cast<const char*>(nullptr), ""}) {  // empty counts as unset
    auto s = find_config(std::nullopt, env, f.sys);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->describe(), f.sys + " (the system configuration file)");
  }
}

TEST(FindConfig, DefaultsWhenNothingIsThere) {
  Files f;
  auto s = find_config(std::nullopt, nullptr, f.missing);
  ASSERT_TRUE(s) << s.error();
  EXPECT_FALSE(s->path);
  EXPECT_EQ(s->describe(), "built-in defaults (no --config, no $TLSRPTD_CONFIG, no " + f.missing + ")");
}

TEST(FindConfig, NamedMissingFileIsAnErrorNotAFallback) {
  Files f;
  auto s = find_config(f.missing, nullptr, f.sys);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), f.missing + ": no such configuration file (from --config)");
  s = find_config(std::nullopt, f.missing.c_str(), f.sys);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), f.missing + ": no such configuration file (from $TLSRPTD_CONFIG)");
}

TEST(FindConfig, ShippedSystemPath) { EXPECT_EQ(kSystemConfigPath, "/etc/tlsrptd/tlsrptd.toml"); }

}  // namespace
}  // namespace tlsrpt::daemon
