#include "storage/store.hpp"

#include <algorithm>
#include <filesystem>

#include "parser/canonical_json.hpp"
#include "parser/datetime.hpp"
#include "parser/json_writer.hpp"
#include "storage/schema.hpp"

namespace tlsrpt::storage {
namespace {

std::string json_array(const std::vector<std::string>& v) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
  return out;
}

}  // namespace

std::string_view to_token(StoreOutcome o) {
  switch (o) {
    case StoreOutcome::stored: return "stored";
    case StoreOutcome::duplicate: return "duplicate";
    case StoreOutcome::conflict: return "conflict";
    case StoreOutcome::held: return "held";
  }
  return "stored";
}

std::string reporter_identity(const Report& report, const Provenance& provenance) {
  if (!provenance.signing_domain.empty()) return "dkim:" + provenance.signing_domain;
  return "org:" + report.organization_name + " <" + report.contact_info.value_or("") + ">";
}

Store::Store(Db db) : db_(std::move(db)) {}
Store::~Store() = default;

std::expected<std::unique_ptr<Store>, StoreError> Store::open(const std::string& path, const StoreOptions& options) {
  if (options.create) {
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return std::unexpected(StoreError{"cannot create " + parent.string() + ": " + ec.message(), SQLITE_CANTOPEN});
  }
  auto db = Db::open(path, options.create);
  if (!db) return std::unexpected(db.error());
  if (auto r = configure_connection(*db, options.busy_timeout_ms); !r) return std::unexpected(r.error());
  if (auto r = migrate(*db); !r) return std::unexpected(r.error());
  std::unique_ptr<Store> store(new Store(std::move(*db)));
  if (auto r = store->prepare_statements(); !r) return std::unexpected(r.error());
  return store;
}

std::expected<void, StoreError> Store::prepare_statements() {
  auto prep = [&](Stmt& dst, std::string_view sql) -> std::expected<void, StoreError> {
    auto st = db_.prepare(sql, true);
    if (!st) return std::unexpected(st.error());
    dst = std::move(*st);
    return {};
  };
  if (auto r = prep(find_twin_,
                    "SELECT r.id, coalesce(a.authenticated, 0), r.status = 'counted' FROM report r "
                    "LEFT JOIN report_auth a ON a.report = r.id "
                    "WHERE r.organization_name = ?2 AND r.report_id = ?3 AND r.content_sha256 = ?1 "
                    "ORDER BY r.status = 'counted' DESC, r.id LIMIT 1");
      !r)
    return r;
  if (auto r = prep(find_key_,
                    "SELECT 1 FROM report WHERE organization_name = ?1 AND report_id = ?2 AND reporter = ?3 LIMIT 1");
      !r)
    return r;
  if (auto r = prep(upgrade_auth_,
                    "INSERT INTO report_auth (report, authenticated, method) VALUES (?1, 1, ?2) "
                    "ON CONFLICT (report) DO UPDATE SET authenticated = 1, method = excluded.method");
      !r)
    return r;
  if (auto r = prep(upgrade_signer_, "UPDATE report SET signing_domain = ?2, reporter = 'dkim:' || ?2 WHERE id = ?1");
      !r)
    return r;
  if (auto r = prep(attribute_twin_,
                    "UPDATE policy SET policy_domain = ?3 WHERE report = ?1 AND idx = ?2 AND policy_domain = '' "
                    "AND policy_type = ?4");
      !r)
    return r;
  if (auto r = prep(insert_report_,
                    "INSERT INTO report (organization_name, report_id, content_sha256, status, contact_info, "
                    "start_datetime, end_datetime, day, received_at, transport, source, notes, "
                    "tls_report_domain, tls_report_submitter, mail_message_id, mail_from, mail_subject, mail_date, "
                    "mail_filename, mail_content_type, reporter, signing_domain) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
                    "?21, ?22)");
      !r)
    return r;
  if (auto r = prep(insert_raw_, "INSERT INTO report_raw (report, media_type, bytes) VALUES (?1, ?2, ?3)"); !r)
    return r;
  if (auto r = prep(insert_policy_,
                    "INSERT INTO policy (report, idx, policy_type, policy_domain, policy_strings, mx_hosts, "
                    "successful_sessions, failed_sessions, day) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      !r)
    return r;
  if (auto r = prep(insert_auth_, "INSERT INTO report_auth (report, authenticated, method) VALUES (?1, ?2, ?3) "
                                 "ON CONFLICT (report) DO UPDATE SET authenticated = excluded.authenticated, "
                                 "method = excluded.method");
      !r)
    return r;
  if (auto r = prep(insert_pending_, "INSERT INTO alert_pending (report) VALUES (?1) ON CONFLICT DO NOTHING"); !r)
    return r;
  if (auto r = prep(find_held_, "SELECT 1 FROM held_report WHERE content_sha256 = ?1 AND status = 'held'"); !r) return r;
  if (auto r = prep(insert_held_,
                    "INSERT INTO held_report (content_sha256, organization_name, report_id, received_at, transport, "
                    "source, reason, media_type, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      !r)
    return r;
  return prep(insert_failure_,
              "INSERT INTO failure (report, policy_idx, idx, result_type, sending_mta_ip, receiving_mx_hostname, "
              "receiving_mx_helo, receiving_ip, failed_sessions, additional_information, failure_reason_code) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
}

// docs/receiver-rules.md#report-identity: the same content is the same report,
// whoever sent it and however it came; the same (organization-name, report-id) with
// other content is a conflict only within one reporter, so no reporter can push
// another's report aside by claiming its name and report-id.
std::expected<StoreOutcome, StoreError> Store::store_one(const PendingReport& p, std::int64_t& row_id) {
  row_id = 0;
  auto twin = find_twin(p);
  if (!twin) return std::unexpected(twin.error());
  if (twin->id != 0) {
    auto upgraded = improve_twin(*twin, p);
    if (!upgraded) return std::unexpected(upgraded.error());
    row_id = *upgraded;
    if (row_id > 0)
      if (auto res = mark_pending(row_id); !res) return std::unexpected(res.error());
    return StoreOutcome::duplicate;
  }
  if (!p.hold_reason.empty()) return hold_one(p);
  const std::string reporter = reporter_identity(p.report->parsed.report, *p.provenance);
  auto taken = key_taken(p, reporter);
  if (!taken) return std::unexpected(taken.error());
  const StoreOutcome outcome = *taken ? StoreOutcome::conflict : StoreOutcome::stored;
  const std::string day = report_day(p.report->parsed.report);
  auto id = insert_report_row(p, outcome == StoreOutcome::stored ? "counted" : "conflict", reporter, day);
  if (!id) return std::unexpected(id.error());
  row_id = *id;
  if (auto res = insert_raw_and_auth(*id, p); !res) return std::unexpected(res.error());
  if (auto res = insert_policies(*id, *p.report, day); !res) return std::unexpected(res.error());
  if (outcome == StoreOutcome::stored)
    if (auto res = mark_pending(*id); !res) return std::unexpected(res.error());
  return outcome;
}

// The alert hook owes this report an evaluation (alert_pending, schema 6).
std::expected<void, StoreError> Store::mark_pending(std::int64_t id) {
  insert_pending_.bind(1, id);
  return insert_pending_.run();
}

// A stored report with the same canonical content (the counted one first).
std::expected<Store::Twin, StoreError> Store::find_twin(const PendingReport& p) {
  Twin twin;
  // The canonical content holds organization-name and report-id, so equal content
  // has equal ones: the lookup is served by the UNIQUE (organization_name,
  // report_id, content_sha256) index, and no index of its own is kept for the hash.
  const Report& r = p.report->parsed.report;
  find_twin_.bind(1, std::string_view(p.report->content_sha256))
      .bind(2, std::string_view(r.organization_name))
      .bind(3, std::string_view(r.report_id));
  auto row = find_twin_.step();
  if (row && *row) twin = {find_twin_.int64(0), find_twin_.int64(1) != 0, find_twin_.int64(2) != 0};
  find_twin_.reset();
  if (!row) return std::unexpected(row.error());
  return twin;
}

// Whether this reporter already has a report under the (organization-name, report-id).
std::expected<bool, StoreError> Store::key_taken(const PendingReport& p, const std::string& reporter) {
  const Report& r = p.report->parsed.report;
  find_key_.bind(1, std::string_view(r.organization_name))
      .bind(2, std::string_view(r.report_id))
      .bind(3, std::string_view(reporter));
  auto row = find_key_.step();
  find_key_.reset();
  if (!row) return std::unexpected(row.error());
  return *row;
}

// A copy may know more than the stored one: a signature (the same report POSTed,
// then mailed with a DKIM signature) vouches for it, so alerts see it now; a
// TLS-Report-Domain or per-domain path attributes its domainless policies. The
// stored row's id when it changed (for the alert hook), else 0.
std::expected<std::int64_t, StoreError> Store::improve_twin(const Twin& twin, const PendingReport& p) {
  const Provenance& prov = *p.provenance;
  // Only a copy vouched for at least as well may change the counted one.
  if (!twin.counted || !p.hold_reason.empty() || (twin.authenticated && !prov.authenticated)) return 0;
  bool changed = false;
  if (!twin.authenticated && prov.authenticated) {
    auto vouched = authenticate_twin(twin, p);
    if (!vouched) return std::unexpected(vouched.error());
    changed = *vouched;
  }
  auto attributed = attribute_twin(twin, *p.report);
  if (!attributed) return std::unexpected(attributed.error());
  return changed || *attributed ? twin.id : 0;
}

// The counted copy becomes authenticated, and with a signer becomes that signer's
// report, unless the signer already has a report under this organization-name and
// report-id (then two copies would count for one reporter: it is left as it was).
std::expected<bool, StoreError> Store::authenticate_twin(const Twin& twin, const PendingReport& p) {
  const Provenance& prov = *p.provenance;
  if (!prov.signing_domain.empty()) {
    auto taken = key_taken(p, reporter_identity(p.report->parsed.report, prov));
    if (!taken) return std::unexpected(taken.error());
    if (*taken) return false;
  }
  upgrade_auth_.bind(1, twin.id).bind(2, std::string_view(prov.auth_method + " (a later copy)"));
  if (auto res = upgrade_auth_.run(); !res) return std::unexpected(res.error());
  if (prov.signing_domain.empty()) return true;
  upgrade_signer_.bind(1, twin.id).bind(2, std::string_view(prov.signing_domain));
  if (auto res = upgrade_signer_.run(); !res) return std::unexpected(res.error());
  return true;
}

// The stored copy's domainless policies take the domains this copy attributed: the
// same policies, by their index in the report as sent (the same content).
std::expected<bool, StoreError> Store::attribute_twin(const Twin& twin, const Ingested& copy) {
  bool changed = false;
  const Report& r = copy.parsed.report;
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const std::uint32_t as_sent = copy.index_as_sent(i);
    if (std::find(copy.attributed.begin(), copy.attributed.end(), as_sent) == copy.attributed.end()) continue;
    const Policy& policy = r.policies[i].policy;
    attribute_twin_.bind(1, twin.id)
        .bind(2, static_cast<std::int64_t>(as_sent))
        .bind(3, std::string_view(policy.domain))
        .bind(4, policy.type.token());
    if (auto res = attribute_twin_.run(); !res) return std::unexpected(res.error());
    changed = changed || sqlite3_changes(db_.handle()) > 0;
  }
  return changed;
}

// The `report` row, with its status ("counted" or "conflict"); its row id.
std::expected<std::int64_t, StoreError> Store::insert_report_row(const PendingReport& p, std::string_view status,
                                                                 const std::string& reporter, std::string_view day) {
  const Report& r = p.report->parsed.report;
  const Provenance& prov = *p.provenance;
  insert_report_.bind(1, std::string_view(r.organization_name))
      .bind(2, std::string_view(r.report_id))
      .bind(3, std::string_view(p.report->content_sha256))
      .bind(4, status)
      .bind(5, r.contact_info)
      .bind(6, std::string_view(format_rfc3339(r.date_range.start)))
      .bind(7, std::string_view(format_rfc3339(r.date_range.end)))
      .bind(8, day)
      .bind(9, std::string_view(format_rfc3339(prov.received_at)))
      .bind(10, to_token(prov.transport))
      .bind(11, std::string_view(prov.source))
      .bind(12, std::string_view(notes_to_json(p.report->parsed.notes)));
  // Mail headers (migration 2): NULL when absent or not a mail.
  const std::optional<MailProvenance>& mail = p.report->mail;
  auto header = [&](int i, std::string MailProvenance::*field) {
    if (mail && !((*mail).*field).empty()) insert_report_.bind(i, std::string_view((*mail).*field));
    else insert_report_.bind_null(i);
  };
  header(13, &MailProvenance::tls_report_domain);
  header(14, &MailProvenance::tls_report_submitter);
  header(15, &MailProvenance::message_id);
  header(16, &MailProvenance::from);
  header(17, &MailProvenance::subject);
  header(18, &MailProvenance::date);
  header(19, &MailProvenance::filename);
  header(20, &MailProvenance::content_type);
  insert_report_.bind(21, std::string_view(reporter));
  if (prov.signing_domain.empty()) insert_report_.bind_null(22);
  else insert_report_.bind(22, std::string_view(prov.signing_domain));
  if (auto res = insert_report_.run(); !res) return std::unexpected(res.error());
  return sqlite3_last_insert_rowid(db_.handle());
}

// The bytes as received, and how the channel authenticated them.
std::expected<void, StoreError> Store::insert_raw_and_auth(std::int64_t id, const PendingReport& p) {
  const Provenance& prov = *p.provenance;
  insert_raw_.bind(1, id).bind(2, std::string_view(prov.media_type)).bind_blob(3, p.raw);
  if (auto res = insert_raw_.run(); !res) return std::unexpected(res.error());
  insert_auth_.bind(1, id).bind(2, std::int64_t{prov.authenticated ? 1 : 0});
  if (prov.auth_method.empty()) insert_auth_.bind_null(3);
  else insert_auth_.bind(3, std::string_view(prov.auth_method));
  if (auto res = insert_auth_.run(); !res) return std::unexpected(res.error());
  return {};
}

// One `policy` row per policy and one `failure` row per failure-detail, numbered by
// the policy's index in the report as sent (the data-quality notes' paths use it).
std::expected<void, StoreError> Store::insert_policies(std::int64_t id, const Ingested& ingested,
                                                       std::string_view day) {
  const Report& r = ingested.parsed.report;
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const PolicyResult& pr = r.policies[i];
    const auto idx = static_cast<std::int64_t>(ingested.index_as_sent(i));
    insert_policy_.bind(1, id)
        .bind(2, idx)
        .bind(3, pr.policy.type.token())
        .bind(4, std::string_view(pr.policy.domain))
        .bind(5, std::string_view(json_array(pr.policy.strings)))
        .bind(6, std::string_view(json_array(pr.policy.mx_hosts)))
        .bind(7, pr.summary.successful)
        .bind(8, pr.summary.failed)
        .bind(9, day);
    if (auto res = insert_policy_.run(); !res) return std::unexpected(res.error());
    for (std::size_t j = 0; j < pr.failures.size(); ++j) {
      const FailureDetail& f = pr.failures[j];
      insert_failure_.bind(1, id)
          .bind(2, idx)
          .bind(3, static_cast<std::int64_t>(j))
          .bind(4, f.result_type.token())
          .bind(5, f.sending_mta_ip)
          .bind(6, f.receiving_mx_hostname)
          .bind(7, f.receiving_mx_helo)
          .bind(8, f.receiving_ip)
          .bind(9, f.failed_session_count)
          .bind(10, f.additional_information)
          .bind(11, f.failure_reason_code);
      if (auto res = insert_failure_.run(); !res) return std::unexpected(res.error());
    }
  }
  return {};
}

// A held report is not counted and stays out of the dedupe space of `report`; the
// same held content again is one held row (a sender retrying its mail).
std::expected<StoreOutcome, StoreError> Store::hold_one(const PendingReport& p) {
  find_held_.bind(1, std::string_view(p.report->content_sha256));
  auto row = find_held_.step();
  find_held_.reset();
  if (!row) return std::unexpected(row.error());
  if (*row) return StoreOutcome::held;
  const Report& r = p.report->parsed.report;
  const Provenance& prov = *p.provenance;
  insert_held_.bind(1, std::string_view(p.report->content_sha256))
      .bind(2, std::string_view(r.organization_name))
      .bind(3, std::string_view(r.report_id))
      .bind(4, std::string_view(format_rfc3339(prov.received_at)))
      .bind(5, to_token(prov.transport))
      .bind(6, std::string_view(prov.source))
      .bind(7, p.hold_reason)
      .bind(8, std::string_view(prov.media_type))
      .bind_blob(9, p.raw);
  if (auto res = insert_held_.run(); !res) return std::unexpected(res.error());
  return StoreOutcome::held;
}

std::expected<std::vector<StoreOutcome>, StoreError> Store::store_batch(std::span<const PendingReport> batch,
                                                                        std::vector<std::int64_t>* row_ids) {
  std::vector<StoreOutcome> outcomes;
  if (row_ids) row_ids->clear();
  if (batch.empty()) return outcomes;
  outcomes.reserve(batch.size());
  std::vector<std::int64_t> ids;
  ids.reserve(batch.size());
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  for (const auto& p : batch) {
    std::int64_t id = 0;
    auto o = store_one(p, id);
    if (!o) {
      (void)db_.exec("ROLLBACK");
      return std::unexpected(o.error());
    }
    outcomes.push_back(*o);
    ids.push_back(id);
  }
  if (auto r = db_.exec("COMMIT"); !r) {
    // A failed COMMIT leaves the transaction open (e.g. SQLITE_BUSY, SQLITE_FULL):
    // roll back so nothing of the batch is half-kept.
    if (!sqlite3_get_autocommit(db_.handle())) (void)db_.exec("ROLLBACK");
    return std::unexpected(r.error());
  }
  if (row_ids) *row_ids = std::move(ids);
  return outcomes;
}

}  // namespace tlsrpt::storage
