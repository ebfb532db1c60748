// Every metric family the daemon emits is defined (with HELP text) in
// daemon/metrics.cpp: an undefined family is silently dropped by Metrics::series, which
// is how tlsrptd_requests_refused_total and tlsrptd_connections_evicted_total went
// missing (issue 19 item 3). The names are read from the daemon's own sources.
#include "daemon/metrics.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace tlsrpt::daemon {
namespace {

std::set<std::string> emitted_families() {
  std::set<std::string> names;
  const std::regex call(R"(metrics\(\)\s*\.\s*(?:inc|add|set|observe)\(\s*"(tlsrptd_[a-z0-9_]+)\")");
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(TLSRPT_SOURCE_DIR) + "/daemon")) {
    if (!e.is_regular_file() || (e.path().extension() != ".cpp" && e.path().extension() != ".hpp")) continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), call), end; it != end; ++it) names.insert((*it)[1]);
  }
  return names;
}

TEST(Metrics, EveryEmittedFamilyIsDefinedWithHelpText) {
  const auto names = emitted_families();
  ASSERT_GT(names.size(), 10u) << "the source scan found too few metric calls";
  ASSERT_TRUE(names.count("tlsrptd_requests_refused_total"));
  ASSERT_TRUE(names.count("tlsrptd_connections_evicted_total"));
  Metrics m;
  for (const auto& n : names) m.inc(n, {{"listener", "test"}}, 0);
  const std::string text = m.render();
  for (const auto& n : names) {
    EXPECT_NE(text.find("# HELP " + n + " "), std::string::npos) << n << " is emitted but not defined";
    EXPECT_NE(text.find("# TYPE " + n + " "), std::string::npos) << n;
  }
}

TEST(Metrics, AnUndefinedFamilyIsNotRendered) {
  // What the test above guards against: the series goes nowhere.
  Metrics m;
  m.inc("tlsrptd_no_such_family_total", {{"listener", "test"}});
  EXPECT_EQ(m.render().find("tlsrptd_no_such_family_total"), std::string::npos);
}

}  // namespace
}  // namespace tlsrpt::daemon
