// The steps most commands begin with, each printing its own error to stderr so a
// command reads as: load the config, open the store, do the work.
#pragma once

#include <expected>
#include <memory>
#include <optional>

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

}  // namespace tlsrpt::daemon
