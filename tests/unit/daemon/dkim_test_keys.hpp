// DKIM keys and signatures made at test time by dkimpy (tests/tools/dkim_tool.py),
// for the tests of the verifier and of the intake: a key pair per folder, messages
// signed with it, and a TXT lookup answering from a test zone (the verifier's
// input, not a fake network).
#pragma once

#include <cstdlib>
#include <expected>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/intake/dkim_verifier.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon::test_dkim {

// Runs dkim_tool.py with `args`, `input` on stdin; its stdout.
inline std::string run_tool(const std::string& args, const std::string& input, const std::filesystem::path& dir) {
  static int n = 0;
  std::filesystem::path in = dir / ("in" + std::to_string(++n)), out = dir / ("out" + std::to_string(n));
  {
    std::ofstream f(in, std::ios::binary);
    f << input;
  }
  std::string tool = (test::source_dir() / "tests" / "tools" / "dkim_tool.py").string();
  std::string cmd = "/usr/bin/python3 " + tool + " " + args + " < " + in.string() + " > " + out.string();
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  return test::read_file(out);
}

inline std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A key pair in `dir`/`name`; its TXT record.
inline std::string keygen(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir / name);
  return trim_newlines(run_tool("keygen " + (dir / name).string(), "", dir));
}

// `msg` with a DKIM-Signature by `domain` (selector `selector`) using key `name` of `dir`.
inline std::string sign(const std::filesystem::path& dir, const std::string& msg, const std::string& selector,
                        const std::string& domain, bool length = false, const std::string& name = "a") {
  return run_tool("sign " + (dir / name / "key.pem").string() + " " + selector + " " + domain +
                      (length ? " --length" : ""),
                  msg, dir);
}

using Zone = std::map<std::string, std::expected<std::vector<std::string>, TxtLookupError>>;

// A lookup answering from `zone` (NXDOMAIN for names it lacks).
inline TxtLookup zone_lookup(const Zone& zone) {
  return [&zone](const std::string& name) -> std::expected<std::vector<std::string>, TxtLookupError> {
    auto it = zone.find(name);
    if (it == zone.end()) return std::unexpected(TxtLookupError{TxtLookupError::Kind::not_found, "NXDOMAIN"});
    return it->second;
  };
}

}  // namespace tlsrpt::daemon::test_dkim
