#include "daemon/cli/command_support.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "daemon/exit_codes.hpp"
#include "parser/json_writer.hpp"
#include "storage/schema.hpp"

namespace tlsrpt::daemon {
namespace {

// A missing database is usually the wrong working directory (the default is
// relative) or the wrong configuration: say which path that made, and the knobs.
void explain_missing_database(const GlobalOptions& g, const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  std::cerr << "tlsrptd: no database at " << (ec ? path : abs.string()) << " ("
            << (g.db ? std::string("given by --db") : "the `database` setting of " + g.config_in_use)
            << "); a command that only reads creates none\n"
            << "tlsrptd: to read another, pass --db PATH, or a configuration naming it (`database = ...`) "
               "with --config FILE or $TLSRPTD_CONFIG\n";
}

// No migration on a read-only connection: an older database lacks tables and views
// these commands read, so refuse with the fix rather than fail on a missing table.
std::expected<void, std::string> check_schema(storage::Db& db, const std::string& path) {
  auto v = db.user_version();
  if (!v) return std::unexpected(path + ": " + v.error().message);
  const std::string have = std::to_string(*v), want = std::to_string(storage::kSchemaVersion);
  if (*v == storage::kSchemaVersion) return {};
  if (*v == 0) return std::unexpected(path + " is not a tlsrptd database (it has no schema)");
  if (*v > storage::kSchemaVersion)
    return std::unexpected(path + ": database schema version " + have + " is newer than this tlsrptd understands (" +
                           want + ")");
  return std::unexpected(path + ": database schema version " + have + " is older than this tlsrptd reads (" + want +
                         "); commands that only read do not migrate it: `tlsrptd serve` or `tlsrptd report import` "
                         "with this database does");
}

}  // namespace

std::optional<Config> load_config(const GlobalOptions& g) {
  auto cfg = resolve_config(g.config, g.db);
  if (!cfg) {
    for (const auto& e : cfg.error()) std::cerr << "tlsrptd: " << e.text() << "\n";
    return std::nullopt;
  }
  return std::move(*cfg);
}

std::unique_ptr<storage::Store> open_store(const Config& cfg) {
  auto store = storage::Store::open(cfg.database);
  if (!store) {
    std::cerr << "tlsrptd: " << store.error().message << "\n";
    return nullptr;
  }
  return std::move(*store);
}

std::expected<ConfiguredStore, int> open_configured_store(const GlobalOptions& g) {
  auto cfg = load_config(g);
  if (!cfg) return std::unexpected(kExitConfig);
  auto store = open_store(*cfg);
  if (!store) return std::unexpected(kExitIoErr);
  return ConfiguredStore{std::move(*cfg), std::move(store)};
}

std::expected<storage::Db, int> open_database_read_only(const GlobalOptions& g, const Config& cfg) {
  std::error_code ec;
  if (!std::filesystem::exists(cfg.database, ec) && !ec) {
    explain_missing_database(g, cfg.database);
    return std::unexpected(kExitNoInput);
  }
  auto db = storage::Db::open_read_only(cfg.database, static_cast<int>(cfg.store.busy_timeout.count()));
  if (!db) {
    std::cerr << "tlsrptd: " << db.error().message << "\n";
    return std::unexpected(kExitIoErr);
  }
  if (auto ok = check_schema(*db, cfg.database); !ok) {
    std::cerr << "tlsrptd: " << ok.error() << "\n";
    return std::unexpected(kExitIoErr);
  }
  return std::move(*db);
}

std::expected<ConfiguredDb, int> open_configured_database_read_only(const GlobalOptions& g) {
  auto cfg = load_config(g);
  if (!cfg) return std::unexpected(kExitConfig);
  auto db = open_database_read_only(g, *cfg);
  if (!db) return std::unexpected(db.error());
  return ConfiguredDb{std::move(*cfg), std::move(*db)};
}

std::string terminal_safe_json(std::string_view text) {
  std::string json;
  append_json_string(json, text);
  std::string out;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(json[i]), next = i + 1 < json.size() ? json[i + 1] : 0;
    if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", next);
      out += buf;
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace tlsrpt::daemon
