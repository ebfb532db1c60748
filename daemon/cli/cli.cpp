// The command line: `tlsrptd <noun> <verb>` with CLI11. Parsing and help only; the
// work is in the cmd_* functions.
#include <CLI/CLI.hpp>

#include <iostream>

#include "daemon/cli/commands.hpp"
#include "daemon/exit_codes.hpp"

namespace tlsrpt::daemon {

int run_cli(int argc, char** argv) {
  CLI::App app{
      "tlsrptd: receive, store and query SMTP TLS reports (RFC 8460 TLS-RPT).\n"
      "Reports arrive by HTTPS POST or mail from sending mail servers; tlsrptd stores the\n"
      "per-policy session counts in SQLite for admins to query."};
  app.name("tlsrptd");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.set_version_flag("--version", "tlsrptd 0.1.0");

  GlobalOptions g;
  app.add_option("--config", g.config, "configuration file (TOML); without it the embedded defaults apply")
      ->check(CLI::ExistingFile);
  app.add_option("--db", g.db, "SQLite database (default: var/tlsrptd.sqlite, created on first use)");

  int rc = kExitOk;

  auto* report = app.add_subcommand("report", "parse or import report files");
  report->require_subcommand(1);

  std::string parse_file;
  auto* parse = report->add_subcommand("parse", "print a report's canonical JSON and data-quality notes, or why it is rejected");
  parse->add_option("FILE", parse_file, "report file (.json or .json.gz, detected by content); - for stdin")->required();
  parse->callback([&] { rc = cmd_report_parse(g, parse_file); });

  ImportOptions io;
  auto* import = report->add_subcommand("import", "store report files and folders (recursively) in the database");
  import->add_option("PATH", io.paths, "report files or folders")->required();
  import->add_flag("-v,--verbose", io.verbose, "show each report's data-quality notes");
  import->add_flag("!--no-progress", io.progress, "no progress bar");
  import->add_option("--batch", io.batch, "reports per transaction")->check(CLI::Range(1, 100000));
  import->callback([&] { rc = cmd_report_import(g, io); });

  HeldOptions ho;
  auto* held = report->add_subcommand("held", "mailed reports kept but not counted (no valid DKIM signature)");
  held->add_flag("--all", ho.all, "also the released ones");
  held->add_option("--format", ho.format, "table or json")->check(CLI::IsMember({"table", "json"}));
  held->callback([&] { rc = cmd_report_held(g, ho); });

  ReleaseOptions ro;
  auto* release = report->add_subcommand("release", "count a held report: after its DKIM check passes now, or --force");
  release->add_option("ID", ro.id, "the id from `report held`")->required();
  release->add_flag("--force", ro.force, "count it without a passing DKIM check");
  release->callback([&] { rc = cmd_report_release(g, ro); });

  StatsOptions so;
  auto* stats = app.add_subcommand("stats", "successful and failed sessions per policy domain and type");
  stats->add_option("--domain", so.domain, "only this policy domain");
  stats->add_option("--since", so.since, "first day, YYYY-MM-DD (UTC, inclusive)");
  stats->add_option("--until", so.until, "last day, YYYY-MM-DD (UTC, inclusive)");
  stats->add_option("--format", so.format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}));
  stats->callback([&] { rc = cmd_stats(g, so); });

  ServeOptions sv;
  auto* serve = app.add_subcommand("serve", "run the daemon: the RFC 8460 HTTPS endpoint (and the admin listener)");
  serve->add_option("--user", sv.user, "drop privileges to this user after binding (required when started as root)");
  serve->callback([&] { rc = cmd_serve(g, sv); });

  auto* record = app.add_subcommand("record", "write, check and inspect the _smtp._tls DNS record (RFC 8460 §3)");
  record->require_subcommand(1);

  RecordGenerateOptions rgo;
  auto* rgen = record->add_subcommand("generate", "print the TXT record for a domain and how to publish it");
  rgen->add_option("--domain", rgo.domain, "the mail domain (IDN allowed), e.g. example.com")->required();
  rgen->add_option("--rua", rgo.rua, "where reports go: mailto:ADDRESS or https://HOST/PATH (repeat for several)")
      ->required();
  rgen->add_option("--provider", rgo.provider, "instructions for generic, cloudflare, ionos or bind")
      ->check(CLI::IsMember({"generic", "cloudflare", "ionos", "bind"}));
  rgen->add_option("--format", rgo.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rgen->callback([&] { rc = cmd_record_generate(rgo); });

  RecordTextOptions rco;
  auto* rcheck = record->add_subcommand("check", "check a record string against the RFC 8460 grammar (exit 0 valid, 65 not)");
  rcheck->add_option("TEXT", rco.text, "the record, e.g. 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com'")->required();
  rcheck->add_option("--format", rco.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rcheck->callback([&] { rc = cmd_record_check(rco); });

  RecordInspectOptions rio;
  auto* rinspect = record->add_subcommand(
      "inspect", "look up a domain's record as senders do (exit 0 valid, 65 invalid or missing, 75 DNS failed)");
  rinspect->add_option("DOMAIN", rio.domain, "the mail domain, e.g. example.com")->required();
  rinspect->add_option("--format", rio.format, "text or json")->check(CLI::IsMember({"text", "json"}));
  rinspect->add_option("--resolver", rio.resolver, "DNS server as IP:PORT, e.g. 127.0.0.1:5353 or [::1]:53");
  rinspect->callback([&] { rc = cmd_record_inspect(g, rio); });

  AlertsListOptions alo;
  auto* alerts = app.add_subcommand("alerts", "drift alerts raised from the stored reports");
  alerts->require_subcommand(1);
  auto* alerts_list = alerts->add_subcommand("list", "alerts with their state (open or resolved), newest first");
  alerts_list->add_flag("--open", alo.open_only, "only open alerts");
  alerts_list->add_option("--format", alo.format, "table or json")->check(CLI::IsMember({"table", "json"}));
  alerts_list->callback([&] { rc = cmd_alerts_list(g, alo); });

  auto* config = app.add_subcommand("config", "check the configuration or print every parameter's default");
  config->require_subcommand(1);
  config->add_subcommand("check", "validate the configuration file (exit 0, or 78 with file:line errors)")
      ->callback([&] { rc = cmd_config_check(g); });
  std::string defaults_format = "toml";
  auto* defaults = config->add_subcommand("defaults", "print every parameter with its default and documentation");
  defaults->add_option("--format", defaults_format, "toml (a config file) or markdown (the README's table)")
      ->check(CLI::IsMember({"toml", "markdown"}));
  defaults->callback([&] { rc = cmd_config_defaults(defaults_format); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}

}  // namespace tlsrpt::daemon
