#include "daemon/cli/command_support.hpp"

#include <iostream>

#include "daemon/exit_codes.hpp"

namespace tlsrpt::daemon {

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

}  // namespace tlsrpt::daemon
