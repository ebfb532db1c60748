// `tlsrptd stats`: per policy domain and type, sessions, success rate and failures,
// as a table for people, JSON or CSV for programs.
#include <cstdio>
#include <iostream>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "parser/datetime.hpp"
#include "parser/domain.hpp"
#include "parser/json_writer.hpp"
#include "parser/text.hpp"
#include "storage/stats.hpp"

namespace tlsrpt::daemon {
namespace {

// docs/receiver-rules.md#domains: policies no domain could be attributed to.
constexpr std::string_view kUnattributed = "(no policy-domain)";

std::string shown_domain(const storage::PolicyStats& s) {
  return s.policy_domain.empty() ? std::string(kUnattributed) : escape_line(s.policy_domain, 60);
}

// "Google Inc. (DKIM google.com)" / "Org (not authenticated by DKIM)"
std::string shown_reporter(const storage::ReporterCount& r) {
  return escape_line(r.organization_name, 60) +
         (r.signing_domain.empty() ? " (no DKIM signer)" : " (DKIM " + escape_line(r.signing_domain, 60) + ")");
}

std::string percent(std::optional<double> rate) {
  if (!rate) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f%%", *rate * 100.0);
  return buf;
}

// One CSV cell of report text. Control and bidi characters are escaped as on a
// terminal (escape_line), so the cell is one line; a cell a spreadsheet would run as
// a formula (starting with =, +, -, @, TAB or CR: OWASP "CSV injection") gets a
// leading ' and is shown as text; RFC 4180 quoting for separators and quotes.
std::string csv_field(std::string_view s) {
  std::string cell = escape_line(s);
  const bool formula = !s.empty() && (s.front() == '\t' || s.front() == '\r' ||
                                      std::string_view("=+-@").find(cell.front()) != std::string_view::npos);
  if (formula) cell.insert(cell.begin(), '\'');
  if (cell.find_first_of(",\"") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void print_json(const std::vector<storage::PolicyStats>& rows) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& s : rows) {
    w.begin_object();
    w.member("policy_domain", std::string_view(s.policy_domain));
    w.member("policy_type", std::string_view(s.policy_type));
    w.member("successful_sessions", s.successful_sessions);
    w.member("failed_sessions", s.failed_sessions);
    w.key("success_rate");
    if (auto r = s.success_rate()) w.value(*r); else w.null();
    w.member("reports", s.reports);
    w.member("conflicts", s.conflicts);
    w.member("first_day", std::string_view(s.first_day));
    w.member("last_day", std::string_view(s.last_day));
    w.key("failures").begin_array();
    for (const auto& f : s.failures) {
      w.begin_object();
      w.member("result_type", std::string_view(f.result_type));
      w.key("receiving_mx_hostname");
      if (f.receiving_mx_hostname) w.value(std::string_view(*f.receiving_mx_hostname)); else w.null();
      w.member("failed_sessions", f.failed_sessions);
      w.end_object();
    }
    w.end_array();
    w.key("reporters").begin_array();
    for (const auto& r : s.reporters) {
      w.begin_object();
      w.key("organization_name").raw(terminal_safe_json(r.organization_name));
      w.key("signing_domain");
      if (r.signing_domain.empty()) w.null(); else w.value(std::string_view(r.signing_domain));
      w.member("reports", r.reports);
      w.member("successful_sessions", r.successful_sessions);
      w.member("failed_sessions", r.failed_sessions);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  std::cout << out << "\n";
}

void print_csv(const std::vector<storage::PolicyStats>& rows) {
  std::cout << "policy_domain,policy_type,successful_sessions,failed_sessions,success_rate,reports,first_day,last_day,"
               "failures,conflicts\n";
  for (const auto& s : rows) {
    std::string failures;
    for (const auto& f : s.failures) {
      if (!failures.empty()) failures += "; ";
      failures += f.result_type + "@" + f.receiving_mx_hostname.value_or("-") + "=" + std::to_string(f.failed_sessions);
    }
    char rate[32] = "";
    if (auto r = s.success_rate()) std::snprintf(rate, sizeof rate, "%.6f", *r);
    std::cout << csv_field(s.policy_domain) << ',' << csv_field(s.policy_type) << ',' << s.successful_sessions << ','
              << s.failed_sessions << ',' << rate << ',' << s.reports << ',' << csv_field(s.first_day) << ','
              << csv_field(s.last_day) << ',' << csv_field(failures) << ',' << s.conflicts << "\n";
  }
}

void print_table(const std::vector<storage::PolicyStats>& rows) {
  if (rows.empty()) {
    std::cout << "no reports stored for this selection\n";
    return;
  }
  std::size_t wd = 13;
  for (const auto& s : rows) wd = std::max(wd, shown_domain(s).size());
  std::printf("%-*s  %-15s  %12s  %10s  %8s  %7s  %9s  %s\n", static_cast<int>(wd), "POLICY DOMAIN", "TYPE",
              "SUCCESSFUL", "FAILED", "SUCCESS", "REPORTS", "CONFLICTS", "DAYS");
  for (const auto& s : rows) {
    std::string days = s.first_day == s.last_day ? s.first_day : s.first_day + ".." + s.last_day;
    std::printf("%-*s  %-15s  %12llu  %10llu  %8s  %7llu  %9llu  %s\n", static_cast<int>(wd), shown_domain(s).c_str(),
                escape_line(s.policy_type, 15).c_str(), static_cast<unsigned long long>(s.successful_sessions),
                static_cast<unsigned long long>(s.failed_sessions), percent(s.success_rate()).c_str(),
                static_cast<unsigned long long>(s.reports), static_cast<unsigned long long>(s.conflicts), days.c_str());
    for (const auto& r : s.reporters)
      std::printf("%*s  by %s: %llu reports, %llu successful, %llu failed\n", static_cast<int>(wd), "",
                  shown_reporter(r).c_str(), static_cast<unsigned long long>(r.reports),
                  static_cast<unsigned long long>(r.successful_sessions),
                  static_cast<unsigned long long>(r.failed_sessions));
    for (const auto& f : s.failures)
      std::printf("%*s  - %s at %s: %llu\n", static_cast<int>(wd), "", escape_line(f.result_type, 40).c_str(),
                  f.receiving_mx_hostname ? escape_line(*f.receiving_mx_hostname, 80).c_str() : "(no MX named)",
                  static_cast<unsigned long long>(f.failed_sessions));
  }
}

}  // namespace

int cmd_stats(const GlobalOptions& g, const StatsOptions& o) {
  auto cfg = load_config(g);
  if (!cfg) return kExitConfig;
  storage::StatsFilter filter;
  if (o.domain) {
    auto d = normalize_domain(*o.domain);
    if (!d) {
      std::cerr << "tlsrptd: --domain: " << d.error() << "\n";
      return kExitUsage;
    }
    filter.domain = *d;
  }
  for (auto [opt, dst, name] : {std::tuple{&o.since, &filter.since, "--since"}, std::tuple{&o.until, &filter.until, "--until"}}) {
    if (!*opt) continue;
    if (auto d = parse_date(**opt); !d) {
      std::cerr << "tlsrptd: " << name << ": " << d.error() << "\n";
      return kExitUsage;
    }
    *dst = **opt;
  }
  auto db = open_database_read_only(g, *cfg);  // stats only reads: never creates or migrates
  if (!db) return db.error();
  auto rows = storage::query_stats(*db, filter);
  if (!rows) {
    std::cerr << "tlsrptd: " << rows.error().message << "\n";
    return kExitIoErr;
  }
  if (o.format == "json") print_json(*rows);
  else if (o.format == "csv") print_csv(*rows);
  else print_table(*rows);
  return kExitOk;
}

}  // namespace tlsrpt::daemon
