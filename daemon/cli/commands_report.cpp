// `tlsrptd report parse` and `tlsrptd report import`.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/intake/alerting.hpp"
#include "daemon/intake/importer.hpp"
#include "storage/alert_store.hpp"
#include "parser/canonical_json.hpp"
#include "parser/datetime.hpp"
#include "parser/ingest.hpp"
#include "parser/json_writer.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace {

// Alert log lines go to stderr, whole lines under a lock (sink threads share it).
void stderr_log(std::string_view line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::string out = "tlsrptd: " + std::string(line) + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

int cmd_report_parse(const GlobalOptions& g, const std::string& file) {
  auto cfg = load_config(g);
  if (!cfg) return kExitConfig;
  std::string bytes;
  if (file == "-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "tlsrptd: " << escape_line(file) << ": cannot open\n";
      return kExitNoInput;
    }
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  Ingestor ingestor(cfg->limits);
  auto r = ingestor.ingest(bytes);
  if (!r) {
    std::cerr << escape_line(file) << ": rejected: " << escape_line(r.error().text()) << "\n";
    return kExitDataErr;
  }
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("report").raw(r->canonical_json);
  w.member("day", std::string_view(report_day(r->parsed.report)));
  w.member("content_sha256", std::string_view(r->content_sha256));
  w.member("compressed", r->was_gzip);
  w.key("notes").raw(notes_to_json(r->parsed.notes));
  if (r->mail) {
    // RFC 8460 §5.3: the headers a mailed report came with (not verified here).
    const MailProvenance& m = *r->mail;
    w.key("mail").begin_object();
    w.member("tls_report_domain", std::string_view(m.tls_report_domain));
    w.member("tls_report_submitter", std::string_view(m.tls_report_submitter));
    w.member("subject", std::string_view(m.subject));
    w.member("message_id", std::string_view(m.message_id));
    w.member("from", std::string_view(m.from));
    w.member("date", std::string_view(m.date));
    w.member("filename", std::string_view(m.filename));
    w.member("content_type", std::string_view(m.content_type));
    w.member("dkim_signature_present", m.dkim_signature_present);
    w.end_object();
  }
  w.end_object();
  std::cout << out << "\n";
  return kExitOk;
}

int cmd_report_import(const GlobalOptions& g, const ImportOptions& o) {
  auto opened = open_configured_store(g);
  if (!opened) return opened.error();
  auto& [cfg, store] = *opened;
  std::vector<ImportResult> missing;
  auto files = Importer::expand(o.paths, missing);

  auto print = [&](const ImportResult& r) {
    std::string line = escape_line(r.path) + ": ";
    switch (r.kind) {
      case ImportResult::Kind::stored: line += "stored"; break;
      case ImportResult::Kind::duplicate: line += "duplicate"; break;
      case ImportResult::Kind::conflict:
        line += "conflict (kept, not counted: a stored report of the same reporter has the same "
                "organization-name and report-id with different content)";
        break;
      case ImportResult::Kind::held: line += "held, not counted: " + escape_line(r.reason); break;
      case ImportResult::Kind::rejected: line += "rejected: " + escape_line(r.reason); break;
      case ImportResult::Kind::failed: line += "failed: " + escape_line(r.reason); break;
    }
    std::cout << line << "\n";
    if (o.verbose)
      for (const auto& n : r.note_list)
        std::cout << "  note " << n.code << (n.where.empty() ? "" : " at " + escape_line(n.where))
                  << (n.detail.empty() ? "" : ": " + escape_line(n.detail)) << "\n";
  };
  for (const auto& m : missing) print(m);

  const bool bar = o.progress && isatty(STDERR_FILENO) && files.size() >= 50;
  auto progress = [&](std::size_t done, std::size_t total) {
    if (!bar || (done % 25 != 0 && done != total)) return;
    constexpr int kWidth = 40;
    int filled = static_cast<int>(kWidth * done / total);
    std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu files", filled, "########################################",
                 kWidth - filled, "", done, total);
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  };

  // Hop [5]: alerts for what the import stored, once it has all been stored
  // (Alerting::after_import: each touched domain and day once, in day order).
  // Imported files are the admin's own: authenticated. A sink that cannot be set up
  // (say, an unreadable password file) is a configuration error before anything is
  // imported; later alerting problems are logged and never fail the import. What an
  // earlier run stored but never evaluated (an import killed before its end, a crash
  // of serve) is evaluated with it (alert_pending).
  auto alerting = Alerting::create(cfg.alerts, stderr_log);
  if (!alerting) {
    std::cerr << "tlsrptd: " << alerting.error() << "\n";
    return kExitConfig;
  }
  auto rules = intake_rules(cfg);
  if (!rules) {
    std::cerr << "tlsrptd: " << rules.error() << "\n";
    return kExitSoftware;
  }
  Intake intake(std::move(*rules));
  Importer importer(*store, intake, o.batch);
  auto left = storage::AlertStore(store->db()).pending();
  if (!left) {
    std::cerr << "tlsrptd: " << left.error().message << "\n";
    return kExitIoErr;
  }
  std::vector<std::int64_t> counted = std::move(left->authenticated);
  importer.set_after_commit([&](std::span<const std::int64_t> ids) { counted.insert(counted.end(), ids.begin(), ids.end()); });
  ImportSummary sum = importer.run(files, print, progress);
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  std::sort(counted.begin(), counted.end());
  counted.erase(std::unique(counted.begin(), counted.end()), counted.end());
  (*alerting)->after_import(store->db(), counted, now);
  if (!left->unauthenticated.empty())
    (*alerting)->after_commit(store->db(), left->unauthenticated, /*authenticated=*/false, now);
  (*alerting)->shutdown(kImportDrainDeadline);
  sum.failed += missing.size();
  sum.files += missing.size();
  std::cout << sum.files << " files: " << sum.stored << " stored, " << sum.duplicate << " duplicate, "
            << sum.conflict << " conflict, " << sum.rejected << " rejected";
  if (sum.held) std::cout << ", " << sum.held << " held";
  if (sum.failed) std::cout << ", " << sum.failed << " failed";
  std::cout << "\n";
  std::cout.flush();
  if (sum.failed > missing.size()) return kExitIoErr;  // database failure
  if (sum.rejected) return kExitDataErr;
  return missing.empty() ? kExitOk : kExitNoInput;
}

}  // namespace tlsrpt::daemon
