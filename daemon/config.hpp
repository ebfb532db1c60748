// The configuration: ONE parameter table (name, type, default, doc) from which the
// TOML loader, `config defaults`, the example config and the README section are all
// produced (design §8). Only daemon/ reads configuration files.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/limits.hpp"

namespace tlsrpt::daemon {

struct Config {
  std::string database;
  std::vector<std::string> domains;  // policy domains served; empty = every domain
  Limits limits;
  struct Dns {
    std::vector<std::string> servers;         // "host:port" IP literals; empty = /etc/resolv.conf
    std::chrono::milliseconds timeout{5000};  // per lookup, every try included
  } dns;
  std::string source;  // the file it came from, "" for embedded defaults
};

// One row of the parameter table, as documentation (the loader keeps the setters).
struct ParamDoc {
  std::string_view key;           // dotted TOML path, e.g. "limits.max_report_bytes"
  std::string_view type;          // "string", "integer", "size", "duration", ...
  std::string_view default_toml;  // the default as a TOML value
  std::string_view doc;           // one or two sentences
};
std::vector<ParamDoc> param_docs();

struct ConfigError {
  std::string file;
  long line = 0;
  long column = 0;
  std::string message;
  std::string text() const;  // "file:line:column: message"
};

// Every parameter at its default (the table's default_toml values).
Config default_config();
// Defaults overlaid with a TOML file; all errors at once, each with file:line.
std::expected<Config, std::vector<ConfigError>> load_config(const std::string& path);
// Loads `path` when given, else the defaults; `db_override` (from --db) wins.
std::expected<Config, std::vector<ConfigError>> resolve_config(const std::optional<std::string>& path,
                                                                const std::optional<std::string>& db_override);
// `tlsrptd config defaults`: every parameter, its default and doc, as a TOML file.
std::string render_defaults();

}  // namespace tlsrpt::daemon
