// `tlsrptd config check` and `tlsrptd config defaults`.
#include <iostream>

#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"

namespace tlsrpt::daemon {

int cmd_config_check(const GlobalOptions& g) {
  // Which file was checked comes first: with a search order, "OK" alone does not say
  // whether the file the admin edited is the one in use.
  std::cout << "using " << g.config_in_use << "\n";
  auto cfg = resolve_config(g.config, g.db);
  if (!cfg) {
    for (const auto& e : cfg.error()) std::cerr << e.text() << "\n";
    return kExitConfig;
  }
  std::cout << "configuration OK\n";
  // Addresses are compared in canonical form: say so where the file spells one otherwise.
  for (const auto& note : cfg->notes) std::cout << "canonical: " << note << "\n";
  return kExitOk;
}

int cmd_config_defaults(const std::string& format) {
  std::cout << (format == "markdown" ? render_defaults_markdown() : render_defaults());
  return kExitOk;
}

}  // namespace tlsrpt::daemon
