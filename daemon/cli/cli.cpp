// The command line: `tlsrptd <noun> <verb>` with CLI11. Parsing and help only; the
// work is in the cmd_* functions.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"

namespace tlsrpt::daemon {

namespace {

// Every command's options, filled by CLI11 while parsing; the chosen command's
// callback runs it and keeps its exit code.
struct Cli {
  GlobalOptions g;
  std::string parse_file;
  ImportOptions io;
  HeldOptions ho;
  ReleaseOptions ro;
  ShowOptions sho;
  ListOptions lo;
  StatsOptions so;
  ServeOptions sv;
  RecordGenerateOptions rgo;
  RecordTextOptions rco;
  RecordInspectOptions rio;
  AlertsListOptions alo;
  std::string defaults_format = "toml";
  int rc = kExitOk;
};

std::expected<ConfigSource, std::string> find_config_for(const GlobalOptions& g) {
  return find_config(g.config, std::getenv("TLSRPTD_CONFIG"), g.system_config.value_or(std::string(kSystemConfigPath)));
}

// Settles which configuration file the command reads, then runs it. Only commands
// that read the configuration come through here, so a wrong $TLSRPTD_CONFIG does
// not stop `record check` or `config defaults`.
int run_configured(GlobalOptions& g, const std::function<int()>& cmd) {
  auto src = find_config_for(g);
  if (!src) {
    std::cerr << "tlsrptd: " << src.error() << "\n";
    return kExitConfig;
  }
  g.config = src->path;
  g.config_in_use = src->describe();
  return cmd();
}

// Every --help ends with the configuration in use, found as the command would find
// it: the footer is computed when help is printed, after the options were parsed.
void add_config_footer(CLI::App& app, const GlobalOptions& g) {
  app.footer([&g] {
    auto src = find_config_for(g);
    return "Configuration in use: " + (src ? src->describe() : src.error());
  });
  for (CLI::App* sub : app.get_subcommands({})) add_config_footer(*sub, g);
}

// report show | list: read-only, so they never create the database
void add_report_reading(CLI::App& report, Cli& c) {
  auto* show = report.add_subcommand(
      "show", "one stored report: who sent it and how it was authenticated, its status, mail headers, notes, and "
              "every policy with its counts and failure-details");
  show->add_option("ID", c.sho.id, "the id from `report list`")->required();
  auto* format = show->add_option("--format", c.sho.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  show->add_flag("--raw", c.sho.raw, "write the bytes as they were submitted (mail, gzip or JSON), unchanged, to stdout")
      ->excludes(format);
  show->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_show(c.g, c.sho); }); });

  auto* list = report.add_subcommand("list", "stored reports, newest report day first, one line each");
  list->add_option("--since", c.lo.since, "first report day, YYYY-MM-DD (UTC, inclusive)");
  list->add_option("--until", c.lo.until, "last report day, YYYY-MM-DD (UTC, inclusive)");
  list->add_option("--domain", c.lo.domain, "only reports with a policy for this domain");
  list->add_option("--status", c.lo.status, "stored (counted) or conflict (kept, not counted)")
      ->check(CLI::IsMember({"stored", "conflict"}));
  list->add_option("--limit", c.lo.limit, "at most this many reports (default 50; 0: all)")
      ->check(CLI::Range(0, 1000000));
  list->add_option("--format", c.lo.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  list->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_list(c.g, c.lo); }); });
}

// report parse | import | held | release | show | list
void add_report_commands(CLI::App& app, Cli& c) {
  auto* report = app.add_subcommand("report", "parse, import, list and show reports; list and release held ones");
  report->require_subcommand(1);

  auto* parse = report->add_subcommand("parse", "print a report's canonical JSON and data-quality notes, or why it is rejected");
  parse->add_option("FILE", c.parse_file, "report file (.json or .json.gz, detected by content); - for stdin")
      ->required();
  parse->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_parse(c.g, c.parse_file); }); });

  auto* import = report->add_subcommand("import", "store report files and folders (recursively) in the database");
  import->add_option("PATH", c.io.paths, "report files or folders")->required();
  import->add_flag("-v,--verbose", c.io.verbose, "show each report's data-quality notes");
  import->add_flag("!--no-progress", c.io.progress, "no progress bar");
  import->add_option("--batch", c.io.batch, "reports per transaction")->check(CLI::Range(1, 100000));
  import->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_import(c.g, c.io); }); });

  auto* held = report->add_subcommand("held", "mailed reports kept but not counted (no valid DKIM signature)");
  held->add_flag("--all", c.ho.all, "also the released ones");
  held->add_option("--format", c.ho.format, "table or json")->check(CLI::IsMember({"table", "json"}));
  held->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_held(c.g, c.ho); }); });

  auto* release = report->add_subcommand("release", "count a held report: after its DKIM check passes now, or --force");
  release->add_option("ID", c.ro.id, "the id from `report held`")->required();
  release->add_flag("--force", c.ro.force, "count it without a passing DKIM check");
  release->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_report_release(c.g, c.ro); }); });

  add_report_reading(*report, c);
}

// stats, serve
void add_stats_and_serve(CLI::App& app, Cli& c) {
  auto* stats = app.add_subcommand("stats", "successful and failed sessions per policy domain and type");
  stats->add_option("--domain", c.so.domain, "only this policy domain");
  stats->add_option("--since", c.so.since, "first day, YYYY-MM-DD (UTC, inclusive)");
  stats->add_option("--until", c.so.until, "last day, YYYY-MM-DD (UTC, inclusive)");
  stats->add_option("--format", c.so.format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}));
  stats->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_stats(c.g, c.so); }); });

  auto* serve = app.add_subcommand("serve", "run the daemon: the RFC 8460 HTTPS endpoint (and the admin listener)");
  serve->add_option("--user", c.sv.user, "drop privileges to this user after binding (required when started as root)");
  serve->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_serve(c.g, c.sv); }); });
}

// record generate | check | inspect
void add_record_commands(CLI::App& app, Cli& c) {
  auto* record = app.add_subcommand("record", "write, check and inspect the _smtp._tls DNS record (RFC 8460 §3)");
  record->require_subcommand(1);

  auto* rgen = record->add_subcommand("generate", "print the TXT record for a domain and how to publish it");
  rgen->add_option("--domain", c.rgo.domain, "the mail domain (IDN allowed), e.g. example.com")->required();
  rgen->add_option("--rua", c.rgo.rua, "where reports go: mailto:ADDRESS or https://HOST/PATH (repeat for several)")
      ->required();
  rgen->add_option("--provider", c.rgo.provider, "instructions for generic, cloudflare, ionos or bind")
      ->check(CLI::IsMember({"generic", "cloudflare", "ionos", "bind"}));
  rgen->add_option("--format", c.rgo.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rgen->callback([&] { c.rc = cmd_record_generate(c.rgo); });

  auto* rcheck = record->add_subcommand("check", "check a record string against the RFC 8460 grammar (exit 0 valid, 65 not)");
  rcheck->add_option("TEXT", c.rco.text, "the record, e.g. 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com'")->required();
  rcheck->add_option("--format", c.rco.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rcheck->callback([&] { c.rc = cmd_record_check(c.rco); });

  auto* rinspect = record->add_subcommand(
      "inspect", "look up a domain's record as senders do (exit 0 valid, 65 invalid or missing, 75 DNS failed)");
  rinspect->add_option("DOMAIN", c.rio.domain, "the mail domain, e.g. example.com")->required();
  rinspect->add_option("--format", c.rio.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rinspect->add_option("--resolver", c.rio.resolver, "DNS server as IP:PORT, e.g. 127.0.0.1:5353 or [::1]:53");
  rinspect->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_record_inspect(c.g, c.rio); }); });
}

// alerts list, config check | defaults
void add_alerts_and_config(CLI::App& app, Cli& c) {
  auto* alerts = app.add_subcommand("alerts", "drift alerts raised from the stored reports");
  alerts->require_subcommand(1);
  auto* alerts_list = alerts->add_subcommand("list", "alerts with their state (open or resolved), newest first");
  alerts_list->add_flag("--open", c.alo.open_only, "only open alerts");
  alerts_list->add_option("--format", c.alo.format, "table or json")->check(CLI::IsMember({"table", "json"}));
  alerts_list->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_alerts_list(c.g, c.alo); }); });

  auto* config = app.add_subcommand("config", "check the configuration or print every parameter's default");
  config->require_subcommand(1);
  config->add_subcommand("check", "validate the configuration file (exit 0, or 78 with file:line errors)")
      ->callback([&] { c.rc = run_configured(c.g, [&] { return cmd_config_check(c.g); }); });
  auto* defaults = config->add_subcommand("defaults", "print every parameter with its default and documentation");
  defaults->add_option("--format", c.defaults_format, "toml (a config file) or markdown (the README's table)")
      ->check(CLI::IsMember({"toml", "markdown"}));
  defaults->callback([&] { c.rc = cmd_config_defaults(c.defaults_format); });
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "tlsrptd: receive, store and query SMTP TLS reports (RFC 8460 TLS-RPT).\n"
      "Reports arrive by HTTPS POST or mail from sending mail servers; tlsrptd stores the\n"
      "per-policy session counts in SQLite for admins to query."};
  app.name("tlsrptd");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.set_version_flag("--version", "tlsrptd 0.1.0");

  Cli c;
  app.add_option("--config", c.g.config,
                 "configuration file (TOML); without it $TLSRPTD_CONFIG, then /etc/tlsrptd/tlsrptd.toml if it "
                 "exists, then the built-in defaults");
  app.add_option("--db", c.g.db,
                 "SQLite database, instead of the configuration's `database`; only serve, report import and "
                 "report release create it");
  // Hidden: lets the tests move the system configuration file away from /etc.
  app.add_option("--system-config", c.g.system_config, "where the system configuration file is looked for")
      ->group("");
  add_report_commands(app, c);
  add_stats_and_serve(app, c);
  add_record_commands(app, c);
  add_alerts_and_config(app, c);
  add_config_footer(app, c.g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return c.rc;
}

}  // namespace tlsrpt::daemon
