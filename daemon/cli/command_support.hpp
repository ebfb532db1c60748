// The steps most commands begin with, each printing its own error to stderr so a
// command reads as: load the config, open the store, do the work.
#pragma once

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "storage/store.hpp"

namespace tlsrpt::daemon {

// --config/--db over the embedded defaults; nullopt after printing every problem
// (the command then exits kExitConfig).
std::optional<Config> load_config(const GlobalOptions& g);

// The configured database, opened and migrated; nullptr after printing why (the
// command then exits kExitIoErr).
std::unique_ptr<storage::Store> open_store(const Config& cfg);

// Both, for the commands that need nothing else first; the error is the exit code.
struct ConfiguredStore {
  Config cfg;
  std::unique_ptr<storage::Store> store;
};
std::expected<ConfiguredStore, int> open_configured_store(const GlobalOptions& g);

// The configured database (--db, else the configuration's `database`) opened
// read-only, for the commands that only read it: never created, never migrated.
// The error is the exit code, after printing why: kExitNoInput when the file does
// not exist (saying where it looked and how to point elsewhere), kExitIoErr when it
// cannot be read or its schema is not the one this binary reads.
std::expected<storage::Db, int> open_database_read_only(const GlobalOptions& g, const Config& cfg);

// Both, for the read-only commands that need nothing else first.
struct ConfiguredDb {
  Config cfg;
  storage::Db db;
};
std::expected<ConfiguredDb, int> open_configured_database_read_only(const GlobalOptions& g);

// A JSON string of sender text that is also safe on a terminal: C1 controls
// (U+0080-U+009F, which JSON allows raw and some terminals obey, CSI 0x9B among
// them) are escaped as \u00XX too. For every report-derived string a command prints
// as JSON.
std::string terminal_safe_json(std::string_view text);

}  // namespace tlsrpt::daemon
