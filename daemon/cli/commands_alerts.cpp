// `tlsrptd alerts list`: the stored alerts (the `alerts` view), open ones or all, as a
// table for people or JSON for programs. Report text is escaped for the terminal.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "parser/json_writer.hpp"
#include "parser/text.hpp"
#include "storage/alert_store.hpp"

namespace tlsrpt::daemon {
namespace {

void print_json(const std::vector<storage::AlertRecord>& rows) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& a : rows) {
    w.begin_object();
    w.member("id", a.id);
    w.member("key", std::string_view(a.kind + ":" + a.policy_domain));
    w.member("kind", std::string_view(a.kind));
    w.member("severity", std::string_view(a.severity));
    w.member("status", std::string_view(a.status));
    w.member("policy_domain", std::string_view(a.policy_domain));
    w.member("policy_type", std::string_view(a.policy_type));
    w.member("first_day", std::string_view(a.first_day));
    w.member("last_day", std::string_view(a.last_day));
    w.member("opened_at", std::string_view(a.opened_at));
    w.member("last_seen_at", std::string_view(a.last_seen_at));
    for (auto [k, v] : {std::pair{"resolved_at", &a.resolved_at}, std::pair{"resolved_day", &a.resolved_day},
                        std::pair{"last_notified_at", &a.last_notified_at}}) {
      w.key(k);
      if (*v) w.value(std::string_view(**v)); else w.null();
    }
    w.member("count", a.count);
    w.member("notifications", a.notifications);
    w.member("suppressed", a.suppressed);
    w.member("summary", std::string_view(a.summary));
    w.member("explanation", std::string_view(a.explanation));
    w.key("evidence").raw(a.evidence_json.empty() ? std::string_view("{}") : std::string_view(a.evidence_json));
    w.end_object();
  }
  w.end_array();
  std::cout << out << "\n";
}

void print_table(const std::vector<storage::AlertRecord>& rows, bool open_only) {
  if (rows.empty()) {
    std::cout << (open_only ? "no open alerts\n" : "no alerts\n");
    return;
  }
  std::size_t wd = 13;
  for (const auto& a : rows) wd = std::max(wd, escape_line(a.policy_domain, 60).size());
  std::printf("%6s  %-8s  %-8s  %-18s  %-*s  %-22s  %5s  %s\n", "ID", "STATUS", "SEVERITY", "KIND",
              static_cast<int>(wd), "POLICY DOMAIN", "DAYS", "COUNT", "SUMMARY");
  for (const auto& a : rows) {
    std::string days = a.first_day == a.last_day ? a.first_day : a.first_day + ".." + a.last_day;
    std::printf("%6lld  %-8s  %-8s  %-18s  %-*s  %-22s  %5lld  %s\n", static_cast<long long>(a.id),
                escape_line(a.status, 8).c_str(), escape_line(a.severity, 8).c_str(), escape_line(a.kind, 18).c_str(),
                static_cast<int>(wd), escape_line(a.policy_domain, 60).c_str(), escape_line(days, 22).c_str(),
                static_cast<long long>(a.count), escape_line(a.summary, 200).c_str());
  }
}

}  // namespace

int cmd_alerts_list(const GlobalOptions& g, const AlertsListOptions& o) {
  auto opened = open_configured_database_read_only(g);  // listing never creates or migrates
  if (!opened) return opened.error();
  storage::AlertStore alerts(opened->db);
  auto rows = alerts.list(o.open_only);
  if (!rows) {
    std::cerr << "tlsrptd: " << rows.error().message << "\n";
    return kExitIoErr;
  }
  if (o.format == "json") print_json(*rows);
  else print_table(*rows, o.open_only);
  return kExitOk;
}

}  // namespace tlsrpt::daemon
