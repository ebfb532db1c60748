// The CLI commands (`tlsrptd <noun> <verb>`), each a function from parsed options
// to an exit code (exit_codes.hpp). cli.cpp wires them to CLI11.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tlsrpt::daemon {

struct GlobalOptions {
  std::optional<std::string> config;  // --config FILE; then the file find_config settled on
  std::optional<std::string> db;      // --db PATH
  // Hidden --system-config FILE: where the system configuration is looked for instead
  // of /etc/tlsrptd/tlsrptd.toml, so tests can check the search order without root.
  std::optional<std::string> system_config;
  // find_config's ConfigSource::describe(), for messages; set before a command runs.
  std::string config_in_use;
};

int cmd_report_parse(const GlobalOptions& g, const std::string& file);

struct ImportOptions {
  std::vector<std::string> paths;
  bool verbose = false;   // print data-quality notes
  bool progress = true;   // a progress bar when stderr is a terminal
  std::size_t batch = 256;
};
int cmd_report_import(const GlobalOptions& g, const ImportOptions& o);

struct StatsOptions {
  std::optional<std::string> domain, since, until;
  std::string format = "table";  // table | json | csv
};
int cmd_stats(const GlobalOptions& g, const StatsOptions& o);

struct HeldOptions {
  bool all = false;              // also released ones
  std::string format = "table";  // table | json
};
int cmd_report_held(const GlobalOptions& g, const HeldOptions& o);

struct ReleaseOptions {
  std::int64_t id = 0;
  bool force = false;  // count it without a passing DKIM check
};
int cmd_report_release(const GlobalOptions& g, const ReleaseOptions& o);

struct ShowOptions {
  std::int64_t id = 0;
  std::string format = "text";  // text | json
  bool raw = false;             // the stored bytes, exactly, instead
};
int cmd_report_show(const GlobalOptions& g, const ShowOptions& o);

struct ListOptions {
  std::optional<std::string> since, until, domain;  // days are YYYY-MM-DD; domain: a policy's
  std::optional<std::string> status;                // stored | conflict
  std::size_t limit = 50;                           // 0: all
  std::string format = "text";                      // text | json
};
int cmd_report_list(const GlobalOptions& g, const ListOptions& o);

struct ServeOptions {
  std::string user;  // --user: overrides the config's `user`
};
int cmd_serve(const GlobalOptions& g, const ServeOptions& o);

struct RecordGenerateOptions {
  std::string domain;
  std::vector<std::string> rua;
  std::string provider = "generic";  // generic | cloudflare | ionos | bind
  std::string format = "text";       // text | json
};
int cmd_record_generate(const RecordGenerateOptions& o);

struct RecordTextOptions {
  std::string text;
  std::string format = "text";  // text | json
};
int cmd_record_check(const RecordTextOptions& o);

struct RecordInspectOptions {
  std::string domain;
  std::string format = "text";          // text | json
  std::optional<std::string> resolver;  // --resolver HOST:PORT, overrides [dns] servers
};
int cmd_record_inspect(const GlobalOptions& g, const RecordInspectOptions& o);

struct AlertsListOptions {
  bool open_only = false;        // --open
  std::string format = "table";  // table | json
};
int cmd_alerts_list(const GlobalOptions& g, const AlertsListOptions& o);

int cmd_config_check(const GlobalOptions& g);
int cmd_config_defaults(const std::string& format);

int run_cli(int argc, char** argv);

}  // namespace tlsrpt::daemon
