// The [alerts] rows of the parameter table and the [[alerts.sink]] array of tables:
// defaults, values, per-type validation with file:line, and `config defaults`
// loading back to the same configuration.
#include <gtest/gtest.h>

#include <fstream>

#include "daemon/config.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono_literals;

class AlertsConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& toml) {
    auto p = (dir_.path() / "t.toml").string();
    std::ofstream(p) << toml;
    return p;
  }
  std::vector<std::string> errors(const std::string& toml) {
    auto c = load_config(write(toml));
    EXPECT_FALSE(c);
    std::vector<std::string> out;
    if (!c)
      for (const auto& e : c.error()) out.push_back(e.text().substr(e.text().find("t.toml")));
    return out;
  }
  test::TempDir dir_;
};

TEST_F(AlertsConfigTest, Defaults) {
  Config c = default_config();
  EXPECT_EQ(c.alerts.cooldown, 12h);
  EXPECT_DOUBLE_EQ(c.alerts.failure_ratio, 0.05);
  EXPECT_EQ(c.alerts.min_sessions, 50u);
  EXPECT_EQ(c.alerts.baseline_days, 7);
  EXPECT_FALSE(c.alerts.trust_unauthenticated);
  EXPECT_EQ(c.alerts.max_per_hour, 20);
  EXPECT_EQ(c.alerts.stale_after, 96h);
  EXPECT_TRUE(c.alerts.sinks.empty());
}

TEST_F(AlertsConfigTest, ValuesAndSeveralSinks) {
  auto c = load_config(write(R"(
[alerts]
cooldown = "6h"
failure_ratio = 0.1
min_sessions = 200
baseline_days = 14
trust_unauthenticated = true
max_per_hour = 5
stale_after = "2d"

[[alerts.sink]]
type = "file"
path = "/var/log/tlsrptd/alerts.jsonl"

[[alerts.sink]]
type = "email"
smarthost = "smtps://mail.example.com:465"
to = ["a@example.com", "b@example.org"]
from = "tlsrptd@example.com"
username = "tlsrptd"
password_file = "/etc/tlsrptd/pw"
starttls = "try"
timeout = "30s"
retries = 0

[[alerts.sink]]
type = "webhook"
url = "https://chat.example.com/hooks/x"
format = "slack"
allow_private = true
)"));
  ASSERT_TRUE(c) << c.error().front().text();
  EXPECT_EQ(c->alerts.cooldown, 6h);
  EXPECT_DOUBLE_EQ(c->alerts.failure_ratio, 0.1);
  EXPECT_EQ(c->alerts.min_sessions, 200u);
  EXPECT_EQ(c->alerts.baseline_days, 14);
  EXPECT_TRUE(c->alerts.trust_unauthenticated);
  EXPECT_EQ(c->alerts.max_per_hour, 5);
  EXPECT_EQ(c->alerts.stale_after, 48h);
  ASSERT_EQ(c->alerts.sinks.size(), 3u);
  EXPECT_EQ(c->alerts.sinks[0].type, "file");
  EXPECT_EQ(c->alerts.sinks[0].path, "/var/log/tlsrptd/alerts.jsonl");
  const auto& e = c->alerts.sinks[1];
  EXPECT_EQ(e.smarthost, "smtps://mail.example.com:465");
  EXPECT_EQ(e.to, (std::vector<std::string>{"a@example.com", "b@example.org"}));
  EXPECT_EQ(e.starttls, "try");  // AUTH is fine: smtps:// is TLS from the start
  EXPECT_EQ(e.timeout, 30s);
  EXPECT_EQ(e.retries, 0);
  EXPECT_EQ(e.where.substr(e.where.rfind(':')), ":15");  // its [[alerts.sink]] header line
  EXPECT_EQ(c->alerts.sinks[2].format, "slack");
  EXPECT_TRUE(c->alerts.sinks[2].allow_private);
}

TEST_F(AlertsConfigTest, ErrorsNameFileLineAndWhy) {
  EXPECT_EQ(errors("[alerts]\nfailure_ratio = 0\n"),
            std::vector<std::string>{"t.toml:2:17: alerts.failure_ratio: must be above 0 and at most 1 (0.05 is 5%)"});
  EXPECT_EQ(errors("[alerts]\ncooldown = \"soon\"\n"),
            std::vector<std::string>{"t.toml:2:12: alerts.cooldown: expected a duration such as \"10s\", got \"soon\""});
  EXPECT_EQ(errors("[alerts.sink]\ntype = \"log\"\n"),
            std::vector<std::string>{"t.toml:1:1: alerts.sink: expected [[alerts.sink]] tables"});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"pager\"\n"),
            std::vector<std::string>{"t.toml:2:8: alerts.sink.type: must be one of log, file, email, webhook"});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"file\"\ncolour = 1\n"),
            std::vector<std::string>{"t.toml:3:10: unknown key \"alerts.sink.colour\""});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"file\"\n"),
            std::vector<std::string>{"t.toml:1:1: alerts.sink: a file sink needs path"});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"email\"\nsmarthost = \"smtp://h:25\"\nto = [\"x@y\\r\\nBcc: z@w\"]\n"),
            std::vector<std::string>{"t.toml:4:6: alerts.sink.to: \"x@y\r\nBcc: z@w\" is not a bare mail address"});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"webhook\"\nurl = \"http://h/\"\n"),
            std::vector<std::string>{"t.toml:3:7: alerts.sink.url: must be an https:// URL"});
  EXPECT_EQ(errors("[[alerts.sink]]\ntype = \"log\"\npath = \"/x\"\n"),
            std::vector<std::string>{"t.toml:1:1: alerts.sink: \"path\" does not apply to a log sink (only file)"});
}

TEST_F(AlertsConfigTest, DefaultsFileLoadsBack) {
  auto c = load_config(write(render_defaults()));
  ASSERT_TRUE(c) << c.error().front().text();
  ASSERT_EQ(c->alerts.sinks.size(), 1u);  // the rendered [[alerts.sink]] is the default log sink
  EXPECT_EQ(c->alerts.sinks[0].type, "log");
  EXPECT_EQ(c->alerts.cooldown, default_config().alerts.cooldown);
  EXPECT_NE(render_defaults().find("# smarthost = \"smtp://mail.example.com:587\""), std::string::npos);
}

}  // namespace
}  // namespace tlsrpt::daemon
