// The parameter table and the TOML loader built on it. Adding a parameter means
// adding one row below; the loader, `config defaults` and the docs follow.
#include "daemon/config.hpp"

#include "alerts/sinks/email_sink.hpp"

#include <toml++/toml.h>

#include <algorithm>
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

std::optional<std::string> domain_check(const std::string& d) {
  if (d.empty() || d.find_first_of(" \t;,/") != std::string::npos) return "\"" + d + "\" is not a domain name";
  return std::nullopt;
}

template <class Get>
Apply duration_value(Get get, std::chrono::milliseconds min, std::chrono::milliseconds max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = parse_duration(n);
    if (!v) return v.error();
    if (*v < min || *v > max)
      return "must be between " + std::to_string(min.count() / 1000) + "s and " + std::to_string(max.count() / 1000) + "s";
    using T = std::remove_reference_t<decltype(get(c))>;
    get(c) = std::chrono::duration_cast<T>(*v);
    return std::nullopt;
  };
}

template <class Get>
Apply bool_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<bool>();
    if (!v || !n.is_boolean()) return type_error("true or false", n);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply ratio_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<double>();
    if (!v || !(n.is_floating_point() || n.is_integer())) return type_error("a number", n);
    if (!(*v > 0.0 && *v <= 1.0)) return "must be above 0 and at most 1 (0.05 is 5%)";
    get(c) = *v;
    return std::nullopt;
  };
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

  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  add("alerts.cooldown", "duration", R"("12h")",
      "At most one alert per policy domain and kind is sent within this time; an alert still happening is sent "
      "again after it. Only a rise in severity, backed by an authenticated report, is sent sooner.",
      duration_value([](Config& c) -> seconds& { return c.alerts.cooldown; }, milliseconds(0), hours(24 * 30)));
  add("alerts.failure_ratio", "number", "0.05",
      "failure-rate alert: share of a domain's sessions in a day that failed, at or above which it fires (when also "
      "at least twice the ratio of the baseline days).",
      ratio_value([](Config& c) -> double& { return c.alerts.failure_ratio; }));
  add("alerts.min_sessions", "integer", "50",
      "failure-rate alert: fewest sessions in a day for a domain before a ratio counts, so small numbers page nobody.",
      count_value([](Config& c) -> std::uint64_t& { return c.alerts.min_sessions; }, 1, 1000000000));
  add("alerts.baseline_days", "integer", "7",
      "Days before a report's day that its policies and failures are compared with. A domain without reports in "
      "them gets no change alerts (failure alerts still fire).",
      count_value([](Config& c) -> int& { return c.alerts.baseline_days; }, 1, 90));
  add("alerts.trust_unauthenticated", "boolean", "false",
      "Let unauthenticated reports (HTTPS, or mail that failed DKIM) open alerts. RFC 8460 section 7: anyone can "
      "send them; keep false unless you accept forged reports raising alerts.",
      bool_value([](Config& c) -> bool& { return c.alerts.trust_unauthenticated; }));
  add("alerts.max_per_hour", "integer", "20",
      "Most alerts sent in any hour over all sinks; the rest are recorded and announced as \"N more suppressed\".",
      count_value([](Config& c) -> int& { return c.alerts.max_per_hour; }, 1, 100000));
  add("alerts.stale_after", "duration", R"("4d")",
      "Alerts about report days that ended longer ago are recorded (see `tlsrptd alerts list`) but not sent, so "
      "importing an archive pages nobody.",
      duration_value([](Config& c) -> seconds& { return c.alerts.stale_after; }, milliseconds(0), hours(24 * 3650)));
  return t;
}

// The [[alerts.sink]] array of tables: its own small parameter table, one row per key,
// with the sink types the key applies to.
struct SinkParam {
  std::string_view key;
  std::string_view type;
  std::string_view example_toml;  // shown commented out in `config defaults`
  std::string_view applies_to;    // "file", "email webhook", ... ("" = every type)
  std::string_view doc;
  std::function<std::optional<std::string>(AlertSinkConfig&, const toml::node&)> apply;
};

template <class F>
auto sink_string(F get, std::vector<std::string_view> allowed = {}) {
  return [get, allowed](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::string>();
    if (!v || !n.is_string()) return type_error("a string", n);
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return "must be one of " + list;
    }
    get(s) = *v;
    return std::nullopt;
  };
}

const std::vector<SinkParam>& sink_params() {
  static const std::vector<SinkParam> table = [] {
    std::vector<SinkParam> t;
    t.push_back({"type", "string", R"("log")", "", "log (one line to the log), file (JSON Lines), email or webhook.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.type; },
                             {"log", "file", "email", "webhook"})});
    t.push_back({"path", "string", R"("/var/log/tlsrptd/alerts.jsonl")", "file",
                 "File the alerts are appended to, one JSON object per line.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.path; })});
    t.push_back({"to", "string array", R"(["postmaster@example.com"])", "email", "Recipients (bare addresses).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   const auto* arr = n.as_array();
                   if (!arr || arr->empty()) return "expected a non-empty array of addresses";
                   s.to.clear();
                   for (const auto& el : *arr) {
                     auto v = el.value<std::string>();
                     if (!v || !el.is_string()) return "expected a non-empty array of addresses";
                     if (!alerts::valid_mailbox(*v)) return "\"" + *v + "\" is not a bare mail address";
                     s.to.push_back(*v);
                   }
                   return std::nullopt;
                 }});
    t.push_back({"from", "string", R"("tlsrptd@example.com")", "email",
                 "Sender address (envelope and From:); empty means tlsrptd@<this host's name>.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->empty() && !alerts::valid_mailbox(*v)) return "\"" + *v + "\" is not a bare mail address";
                   s.from = *v;
                   return std::nullopt;
                 }});
    t.push_back({"smarthost", "string", R"("smtp://mail.example.com:587")", "email",
                 "SMTP relay: smtp://host:port (STARTTLS) or smtps://host:port (TLS from the start).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->starts_with("smtp://") && !v->starts_with("smtps://"))
                     return "must start with smtp:// or smtps://";
                   s.smarthost = *v;
                   return std::nullopt;
                 }});
    t.push_back({"starttls", "string", R"("required")", "email",
                 "required: refuse to send unless STARTTLS succeeds; try: use it when offered.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.starttls; }, {"required", "try"})});
    t.push_back({"username", "string", R"("tlsrptd")", "email", "SMTP AUTH user; empty means no AUTH.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.username; })});
    t.push_back({"password_file", "string", R"("/etc/tlsrptd/smtp-password")", "email",
                 "File holding the SMTP AUTH password (first line), readable by tlsrptd only.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.password_file; })});
    t.push_back({"url", "string", R"("https://chat.example.com/hooks/xxxx")", "webhook",
                 "HTTPS URL the alert is POSTed to. Redirects are not followed.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->starts_with("https://") || v->size() <= 8) return "must be an https:// URL";
                   s.url = *v;
                   return std::nullopt;
                 }});
    t.push_back({"format", "string", R"("json")", "webhook",
                 "json: the alert as JSON; slack: {\"text\": ...} for Slack or Mattermost incoming webhooks.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.format; }, {"json", "slack"})});
    t.push_back({"allow_private", "boolean", "false", "webhook",
                 "Allow loopback, private and link-local targets (refused by default: SSRF).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<bool>();
                   if (!v || !n.is_boolean()) return type_error("true or false", n);
                   s.allow_private = *v;
                   return std::nullopt;
                 }});
    t.push_back({"ca_file", "string", R"("/etc/tlsrptd/ca.pem")", "email webhook",
                 "PEM file of CA certificates to trust for this sink instead of the system store.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.ca_file; })});
    t.push_back({"timeout", "duration", R"("10s")", "email webhook", "Deadline for one delivery attempt.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = parse_duration(n);
                   if (!v) return v.error();
                   if (*v < std::chrono::seconds(1) || *v > std::chrono::minutes(5))
                     return "must be between 1s and 300s";
                   s.timeout = *v;
                   return std::nullopt;
                 }});
    t.push_back({"retries", "integer", "3", "file email webhook",
                 "Further attempts after a failed delivery, 1s, 2s, 4s ... apart.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::int64_t>();
                   if (!v || !n.is_integer()) return type_error("an integer", n);
                   if (*v < 0 || *v > 10) return "must be between 0 and 10";
                   s.retries = static_cast<int>(*v);
                   return std::nullopt;
                 }});
    return t;
  }();
  return table;
}

// Type-specific rules once every key of a [[alerts.sink]] table is known.
std::optional<std::string> check_sink(const AlertSinkConfig& s, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    auto it = std::find_if(sink_params().begin(), sink_params().end(), [&](const SinkParam& p) { return p.key == k; });
    if (it == sink_params().end() || it->applies_to.empty()) continue;
    std::string applies(it->applies_to);
    bool ok = false;
    for (std::size_t pos = 0; pos <= applies.size();) {
      auto sp = applies.find(' ', pos);
      if (applies.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos) == s.type) ok = true;
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
    if (!ok) return "\"" + k + "\" does not apply to a " + s.type + " sink (only " + applies + ")";
  }
  if (s.type == "file" && s.path.empty()) return "a file sink needs path";
  if (s.type == "email") {
    if (s.smarthost.empty()) return "an email sink needs smarthost";
    if (s.to.empty()) return "an email sink needs to";
    if (s.username.empty() != s.password_file.empty()) return "username and password_file go together";
    // AUTH over a connection that may stay plain text would give the password away.
    if (!s.username.empty() && s.starttls != "required" && !s.smarthost.starts_with("smtps://"))
      return "AUTH needs starttls = \"required\" or an smtps:// smarthost";
  }
  if (s.type == "webhook" && s.url.empty()) return "a webhook sink needs url";
  return std::nullopt;
}

void walk_sinks(const toml::node& node, Config& cfg, const std::string& file, std::vector<ConfigError>& errors) {
  auto where = node.source().begin;
  const auto* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                 "alerts.sink: expected [[alerts.sink]] tables"});
    return;
  }
  for (const auto& el : *arr) {
    const auto& tbl = *el.as_table();
    auto at = tbl.source().begin;
    AlertSinkConfig sink;
    sink.where = file + ":" + std::to_string(at.line);
    std::vector<std::string> keys;
    bool ok = true;
    for (const auto& [k, v] : tbl) {
      std::string key(k.str());
      auto vw = v.source().begin;
      auto it = std::find_if(sink_params().begin(), sink_params().end(), [&](const SinkParam& p) { return p.key == key; });
      if (it == sink_params().end()) {
        errors.push_back(ConfigError{file, static_cast<long>(vw.line), static_cast<long>(vw.column),
                                     "unknown key \"alerts.sink." + key + "\""});
        ok = false;
        continue;
      }
      if (auto err = it->apply(sink, v)) {
        errors.push_back(ConfigError{file, static_cast<long>(vw.line), static_cast<long>(vw.column),
                                     "alerts.sink." + key + ": " + *err});
        ok = false;
        continue;
      }
      keys.push_back(key);
    }
    if (ok)
      if (auto err = check_sink(sink, keys))
        errors.push_back(
            ConfigError{file, static_cast<long>(at.line), static_cast<long>(at.column), "alerts.sink: " + *err});
    cfg.alerts.sinks.push_back(std::move(sink));
  }
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
    if (key == "alerts.sink") {  // the one array of tables
      walk_sinks(node, cfg, file, errors);
      continue;
    }
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
  // [[alerts.sink]] last: keys after an array-of-tables header belong to it.
  out << "\n# Where alerts go: one [[alerts.sink]] table per sink, several allowed. Without any,\n"
         "# alerts go to the log. The keys below type are examples for the other types.\n"
         "[[alerts.sink]]\n";
  for (const auto& p : sink_params()) {
    out << "# " << p.doc << " (" << p.type;
    if (!p.applies_to.empty()) out << "; " << p.applies_to;
    out << ")\n";
    if (p.key == "type") out << p.key << " = " << p.example_toml << "\n";
    else out << "# " << p.key << " = " << p.example_toml << "\n";
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

[[maybe_unused]] std::expected<std::chrono::milliseconds, std::string> parse_duration(const toml::node& n) {
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
