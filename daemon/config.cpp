// The parameter table and the TOML loader built on it. Adding a parameter means
// adding one row below; the loader, `config defaults` and the docs follow.
#include "daemon/config.hpp"

#include <toml++/toml.h>

#include "daemon/dns_resolver.hpp"

#include <cctype>
#include <map>
#include <sstream>

namespace tlsrpt::daemon {
namespace {

struct Param {
  std::string_view key;
  std::string_view type;
  std::string_view default_toml;
  std::string_view doc;
  // Applies a TOML value; returns an error message (lower case) when it does not fit.
  std::function<std::optional<std::string>(Config&, const toml::node&)> apply;
};

// "2MiB", "512 KiB", 1048576 -> bytes; "10s", "250ms", "5m", 10 -> duration.
std::expected<std::size_t, std::string> parse_size(const toml::node& n);
std::expected<std::chrono::milliseconds, std::string> parse_duration(const toml::node& n);
const std::vector<Param>& param_table();

using Apply = std::function<std::optional<std::string>(Config&, const toml::node&)>;

std::optional<std::string> type_error(std::string_view want, const toml::node& n) {
  return "expected " + std::string(want) + ", got " + std::string(toml::impl::node_type_friendly_names[static_cast<int>(n.type())]);
}

template <class Get>
Apply string_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::string>();
    if (!v || !n.is_string()) return type_error("a string", n);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply string_list(Get get, std::function<std::optional<std::string>(const std::string&)> check = {}) {
  return [get, check](Config& c, const toml::node& n) -> std::optional<std::string> {
    const auto* arr = n.as_array();
    if (!arr) return type_error("an array of strings", n);
    std::vector<std::string> out;
    for (const auto& el : *arr) {
      auto v = el.value<std::string>();
      if (!v || !el.is_string()) return type_error("an array of strings", n);
      if (check)
        if (auto err = check(*v)) return err;
      out.push_back(*v);
    }
    get(c) = std::move(out);
    return std::nullopt;
  };
}

template <class Get>
Apply size_value(Get get, std::size_t min, std::size_t max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = parse_size(n);
    if (!v) return v.error();
    if (*v < min || *v > max)
      return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply count_value(Get get, std::int64_t min, std::int64_t max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::int64_t>();
    if (!v || !n.is_integer()) return type_error("an integer", n);
    if (*v < min || *v > max) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(*v);
    return std::nullopt;
  };
}

template <class Get>
Apply duration_value(Get get, std::chrono::milliseconds min, std::chrono::milliseconds max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = parse_duration(n);
    if (!v) return v.error();
    if (*v < min || *v > max)
      return "must be between " + std::to_string(min.count()) + "ms and " + std::to_string(max.count()) + "ms";
    get(c) = *v;
    return std::nullopt;
  };
}

std::optional<std::string> dns_server_check(const std::string& s) {
  if (auto v = parse_dns_server(s); !v) return v.error();
  return std::nullopt;
}

std::optional<std::string> domain_check(const std::string& d) {
  if (d.empty() || d.find_first_of(" \t;,/") != std::string::npos) return "\"" + d + "\" is not a domain name";
  return std::nullopt;
}

std::vector<Param> build_table() {
  std::vector<Param> t;
  auto add = [&](std::string_view key, std::string_view type, std::string_view def, std::string_view doc, Apply a) {
    t.push_back(Param{key, type, def, doc, std::move(a)});
  };
  add("database", "string", R"("var/tlsrptd.sqlite")",
      "SQLite database file; a relative path is relative to the working directory. Created on first use.",
      string_value([](Config& c) -> std::string& { return c.database; }));
  add("domains", "string array", "[]",
      "Policy domains served. Reports whose policies are all for other domains are refused (HTTPS 422); "
      "empty accepts every domain.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.domains; }, domain_check));

  add("limits.max_submission_bytes", "size", R"("2MiB")",
      "Largest report as submitted (an HTTPS body, a mail attachment, a file), compressed or not.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_submission_bytes; }, 1024, 1024 * kMiB));
  add("limits.max_report_bytes", "size", R"("16MiB")",
      "Largest report JSON after gunzip; a gzip bomb is stopped here.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_report_bytes; }, 1024, 1024 * kMiB));
  add("limits.max_inflate_ratio", "integer", "200",
      "Largest decompressed/compressed ratio once the output passes 1 MiB.",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_inflate_ratio; }, 2, 100000));
  add("limits.max_policies", "integer", "1000", "Most policies in one report.",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_policies; }, 1, 1000000));
  add("limits.max_failure_details", "integer", "10000", "Most failure-details in one report (all policies).",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_failure_details; }, 1, 10000000));
  add("limits.max_json_depth", "integer", "32", "Deepest JSON nesting accepted (a report needs 6).",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_json_depth; }, 8, 1024));

  add("dns.servers", "string array", "[]",
      "DNS servers for `record inspect` and the inspection endpoint, as IP:port (\"127.0.0.1:5353\", "
      "\"[::1]:5353\"; the port defaults to 53). Empty uses /etc/resolv.conf.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.dns.servers; }, dns_server_check));
  add("dns.timeout", "duration", R"("5s")",
      "Deadline of one DNS lookup, all retries included; an unanswered lookup then counts as a timeout.",
      duration_value([](Config& c) -> std::chrono::milliseconds& { return c.dns.timeout; },
                     std::chrono::milliseconds{100}, std::chrono::milliseconds{60000}));
  return t;
}

std::map<std::string, const Param*> index_table() {
  std::map<std::string, const Param*> m;
  for (const auto& p : param_table()) m[std::string(p.key)] = &p;
  return m;
}

void walk_table(const toml::table& tbl, const std::string& prefix, Config& cfg, const std::string& file,
                const std::map<std::string, const Param*>& index, std::vector<ConfigError>& errors) {
  for (const auto& [k, node] : tbl) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    auto where = node.source().begin;
    auto it = index.find(key);
    if (it == index.end()) {
      if (const auto* sub = node.as_table()) {
        walk_table(*sub, key, cfg, file, index, errors);
        continue;
      }
      errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                   "unknown key \"" + key + "\""});
      continue;
    }
    if (auto err = it->second->apply(cfg, node))
      errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                   key + ": " + *err});
  }
}

const std::vector<Param>& param_table() {
  static const std::vector<Param> table = build_table();
  return table;
}

}  // namespace

std::vector<ParamDoc> param_docs() {
  std::vector<ParamDoc> out;
  for (const auto& p : param_table()) out.push_back(ParamDoc{p.key, p.type, p.default_toml, p.doc});
  return out;
}

std::string ConfigError::text() const {
  std::ostringstream s;
  s << file;
  if (line > 0) s << ':' << line << ':' << column;
  s << ": " << message;
  return s.str();
}

Config default_config() {
  Config c;
  for (const auto& p : param_table()) {
    // The table's defaults are TOML literals: parse each as `v = <default>`.
    auto doc = toml::parse("v = " + std::string(p.default_toml));
    if (auto err = p.apply(c, *doc.get("v")))
      throw std::logic_error("bad default for " + std::string(p.key) + ": " + *err);
  }
  return c;
}

std::expected<Config, std::vector<ConfigError>> load_config(const std::string& path) {
  Config cfg = default_config();
  cfg.source = path;
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    auto where = e.source().begin;
    return std::unexpected(std::vector<ConfigError>{ConfigError{path, static_cast<long>(where.line),
                                                                static_cast<long>(where.column),
                                                                std::string(e.description())}});
  }
  std::vector<ConfigError> errors;
  walk_table(tbl, "", cfg, path, index_table(), errors);
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return cfg;
}

std::expected<Config, std::vector<ConfigError>> resolve_config(const std::optional<std::string>& path,
                                                                const std::optional<std::string>& db_override) {
  std::expected<Config, std::vector<ConfigError>> cfg = path ? load_config(*path) : default_config();
  if (cfg && db_override) cfg->database = *db_override;
  return cfg;
}

std::string render_defaults() {
  std::ostringstream out;
  out << "# tlsrptd configuration: every parameter with its default.\n"
         "# Generated by `tlsrptd config defaults` from the parameter table.\n";
  std::string section;
  for (const auto& p : param_table()) {
    std::string key(p.key);
    std::string sec, leaf = key;
    if (auto dot = key.rfind('.'); dot != std::string::npos) {
      sec = key.substr(0, dot);
      leaf = key.substr(dot + 1);
    }
    if (sec != section) {
      out << "\n[" << sec << "]\n";
      section = sec;
    } else {
      out << "\n";
    }
    out << "# " << p.doc << " (" << p.type << ")\n";
    out << leaf << " = " << p.default_toml << "\n";
  }
  return out.str();
}

namespace {

std::expected<std::size_t, std::string> parse_size(const toml::node& n) {
  if (auto i = n.value<std::int64_t>(); i && n.is_integer()) {
    if (*i < 0) return std::unexpected("a size must not be negative");
    return static_cast<std::size_t>(*i);
  }
  auto s = n.value<std::string>();
  if (!s || !n.is_string()) return std::unexpected("expected a size such as 2MiB or 1048576");
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(*s, &pos);
  } catch (...) {
    return std::unexpected("expected a size such as 2MiB or 1048576, got \"" + *s + "\"");
  }
  std::string unit = s->substr(pos);
  unit.erase(0, unit.find_first_not_of(' '));
  std::size_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "KB") mult = kKiB;
  else if (unit == "MiB" || unit == "M" || unit == "MB") mult = kMiB;
  else if (unit == "GiB" || unit == "G" || unit == "GB") mult = 1024 * kMiB;
  else return std::unexpected("unknown size unit \"" + unit + "\" (use B, KiB, MiB or GiB)");
  return static_cast<std::size_t>(v) * mult;
}

std::expected<std::chrono::milliseconds, std::string> parse_duration(const toml::node& n) {
  using namespace std::chrono;
  if (auto i = n.value<std::int64_t>(); i && n.is_integer()) {
    if (*i < 0) return std::unexpected("a duration must not be negative");
    return duration_cast<milliseconds>(seconds{*i});
  }
  auto s = n.value<std::string>();
  if (!s || !n.is_string()) return std::unexpected("expected a duration such as \"10s\", \"250ms\" or \"5m\"");
  std::size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(*s, &pos);
  } catch (...) {
    return std::unexpected("expected a duration such as \"10s\", got \"" + *s + "\"");
  }
  std::string unit = s->substr(pos);
  if (v < 0) return std::unexpected("a duration must not be negative");
  if (unit == "ms") return milliseconds{v};
  if (unit == "s" || unit.empty()) return duration_cast<milliseconds>(seconds{v});
  if (unit == "m" || unit == "min") return duration_cast<milliseconds>(minutes{v});
  if (unit == "h") return duration_cast<milliseconds>(hours{v});
  if (unit == "d") return duration_cast<milliseconds>(hours{24 * v});
  return std::unexpected("unknown duration unit \"" + unit + "\" (use ms, s, m, h or d)");
}

}  // namespace

}  // namespace tlsrpt::daemon
