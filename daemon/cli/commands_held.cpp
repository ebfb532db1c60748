// `tlsrptd report held` and `tlsrptd report release`: the mailed reports kept but
// not counted (RFC 8460 §3: no valid DKIM signature under smtp.dkim = "require").
// An admin lists them and releases one — after the DKIM check passes now (the key
// may have been unreachable), or with --force on their own authority.
#include <iostream>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/intake/commit.hpp"
#include "daemon/intake/intake.hpp"
#include "parser/datetime.hpp"
#include "parser/json_writer.hpp"
#include "parser/text.hpp"
#include "storage/store.hpp"

namespace tlsrpt::daemon {

int cmd_report_held(const GlobalOptions& g, const HeldOptions& o) {
  auto opened = open_configured_database_read_only(g);  // listing never creates or migrates
  if (!opened) return opened.error();
  auto st = opened->db.prepare(
      "SELECT id, organization_name, report_id, received_at, transport, source, reason, status FROM held_reports "
      "WHERE (?1 OR status = 'held') ORDER BY id");
  if (!st) {
    std::cerr << "tlsrptd: " << st.error().message << "\n";
    return kExitIoErr;
  }
  st->bind(1, std::int64_t{o.all ? 1 : 0});
  std::string json;
  JsonWriter w(json);
  w.begin_array();
  std::size_t n = 0;
  for (;;) {
    auto row = st->step();
    if (!row) {
      std::cerr << "tlsrptd: " << row.error().message << "\n";
      return kExitIoErr;
    }
    if (!*row) break;
    ++n;
    if (o.format == "json") {
      w.begin_object();
      w.member("id", st->int64(0));
      for (int c = 1; c <= 7; ++c) {
        static const char* kNames[] = {"", "organization_name", "report_id", "received_at", "transport", "source",
                                       "reason", "status"};
        w.member(kNames[c], std::string_view(st->text(c)));
      }
      w.end_object();
    } else {
      std::cout << st->int64(0) << "  " << st->text(3) << "  " << escape_line(st->text(1), 60) << "  "
                << escape_line(st->text(2), 80) << "  [" << st->text(7) << "]\n    via " << escape_line(st->text(5), 120)
                << "\n    " << escape_line(st->text(6), 200) << "\n";
    }
  }
  w.end_array();
  if (o.format == "json") std::cout << json << "\n";
  else if (n == 0) std::cout << "no held reports\n";
  return kExitOk;
}

int cmd_report_release(const GlobalOptions& g, const ReleaseOptions& o) {
  auto opened = open_configured_store(g);
  if (!opened) return opened.error();
  auto& [cfg, store] = *opened;
  storage::Db& db = store->db();
  auto st = db.prepare("SELECT raw, transport, source, status FROM held_report WHERE id = ?1");
  if (!st) return kExitIoErr;
  st->bind(1, o.id);
  auto row = st->step();
  if (!row || !*row) {
    std::cerr << "tlsrptd: no held report " << o.id << "\n";
    return kExitNoInput;
  }
  const std::string raw = st->text(0), transport = st->text(1), source = st->text(2), status = st->text(3);
  st->reset();
  if (status != "held") {
    std::cerr << "tlsrptd: held report " << o.id << " is already " << status << "\n";
    return kExitDataErr;
  }
  // Through the one intake, as when it arrived: the DKIM check must pass now (the
  // key may have been unreachable), or the admin vouches for it with --force.
  auto rules = intake_rules(cfg);
  if (!rules) {
    std::cerr << "tlsrptd: " << rules.error() << "\n";
    return kExitSoftware;
  }
  rules->dkim = DkimPolicy::require;
  Intake intake(std::move(*rules));
  Submission sub;
  sub.transport = transport == "lmtp" ? Transport::lmtp : transport == "maildir" ? Transport::maildir : Transport::smtp;
  sub.source = source;
  sub.media_type = "message/rfc822";
  sub.bytes = raw;
  sub.received_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (o.force) {
    sub.authority = Authority::admin;
    sub.admin_method = "released by an admin (--force)";
  }
  IntakeDecision d = intake.check(sub);
  if (d.kind == IntakeDecision::Kind::reject) {
    std::cerr << "tlsrptd: held report " << o.id << " is refused now: " << escape_line(d.detail) << "\n";
    return kExitDataErr;
  }
  if (d.kind != IntakeDecision::Kind::store) {
    std::cerr << "tlsrptd: held report " << o.id << " still fails the check ("
              << escape_line(d.kind == IntakeDecision::Kind::hold ? d.hold_reason : d.detail)
              << "); release it anyway with --force\n";
    return d.kind == IntakeDecision::Kind::retry_later ? kExitTempFail : kExitDataErr;
  }
  const Provenance& prov = d.provenance;
  storage::PendingReport p{&*d.report, &prov, raw, {}};
  auto committed = commit_reports(*store, {&p, 1});
  if (!committed.front().outcome) {
    std::cerr << "tlsrptd: " << committed.front().outcome.error().message << "\n";
    return kExitIoErr;
  }
  auto mark = db.prepare("UPDATE held_report SET status = 'released', released_at = ?2 WHERE id = ?1");
  if (!mark) return kExitIoErr;
  mark->bind(1, o.id).bind(2, std::string_view(format_rfc3339(prov.received_at)));
  if (!mark->run()) return kExitIoErr;
  std::cout << "held report " << o.id << ": " << to_token(*committed.front().outcome) << "\n";
  return kExitOk;
}

}  // namespace tlsrpt::daemon
