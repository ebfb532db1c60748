// `tlsrptd report show ID` and `tlsrptd report list`: one stored report in full, or
// one line per report, for an admin checking what a sender sent and how tlsrptd took
// it. They only read: the database is opened read-only, never created or migrated.
// Almost everything a report row holds is sender text (names, ids, MX hosts, mail
// headers, note details), so it reaches a terminal only through escape_line() and
// JSON only through terminal_safe_json(). --raw is the exception: the stored bytes,
// exactly, for re-parsing, and never for a terminal.
#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/exit_codes.hpp"
#include "parser/datetime.hpp"
#include "parser/domain.hpp"
#include "parser/json_writer.hpp"
#include "parser/report.hpp"
#include "parser/text.hpp"
#include "storage/sqlite.hpp"

namespace tlsrpt::daemon {
namespace {

using storage::Db;
using storage::Stmt;
using storage::StoreError;
using Done = std::expected<void, StoreError>;

// docs/receiver-rules.md#domains: policies no domain could be attributed to.
constexpr std::string_view kUnattributed = "(no policy-domain)";

// A field shown two ways: its JSON key and its label in the text output.
struct Field {
  std::string_view json, text;
};

// The `reports` view's mail columns, in their order there (RFC 8460 §5.3 headers,
// then the report part's labels); NULL unless the report came in a mail.
constexpr std::array<Field, 8> kMailFields = {{{"tls_report_domain", "TLS-Report-Domain"},
                                                {"tls_report_submitter", "TLS-Report-Submitter"},
                                                {"message_id", "Message-ID"},
                                                {"from", "From"},
                                                {"subject", "Subject"},
                                                {"date", "Date"},
                                                {"filename", "report filename"},
                                                {"content_type", "report Content-Type"}}};

// The optional failure-details fields (RFC 8460 §4.3.2), in the `failure` table's order.
constexpr std::array<Field, 6> kFailureFields = {{{"sending_mta_ip", "sending-mta-ip"},
                                                   {"receiving_mx_hostname", "receiving-mx-hostname"},
                                                   {"receiving_mx_helo", "receiving-mx-helo"},
                                                   {"receiving_ip", "receiving-ip"},
                                                   {"additional_information", "additional-information"},
                                                   {"failure_reason_code", "failure-reason-code"}}};

struct FailureRow {
  std::string result_type;
  std::int64_t failed_sessions = 0;
  std::array<std::optional<std::string>, kFailureFields.size()> fields;
};

struct PolicyRow {
  std::int64_t idx = 0, successful = 0, failed = 0;
  std::string type, domain;
  std::vector<std::string> strings, mx_hosts;
  std::vector<FailureRow> failures;
};

struct ShownReport {
  std::int64_t id = 0, raw_bytes = 0;
  std::string organization_name, report_id, reporter, status, start, end, day, received_at, transport, source,
      sha256, media_type;
  std::optional<std::string> contact_info, signing_domain, auth_method;
  std::optional<bool> authenticated;  // nullopt: no report_auth row
  std::array<std::optional<std::string>, kMailFields.size()> mail;
  std::vector<Note> notes;
  std::vector<PolicyRow> policies;

  bool mailed() const {
    for (const auto& m : mail)
      if (m) return true;
    return false;
  }
};

// Steps a prepared and bound statement to its end, handing each row to `row`.
template <class Row>
Done each_row(std::expected<Stmt, StoreError>& st, Row&& row) {
  if (!st) return std::unexpected(st.error());
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    row(*st);
  }
}

// The report row with how it was authenticated and the size of its raw bytes;
// false when there is no report with that id.
std::expected<bool, StoreError> load_report(Db& db, ShownReport& r) {
  auto st = db.prepare(
      "SELECT r.organization_name, r.report_id, r.contact_info, r.reporter, r.signing_domain, r.status, "
      "r.start_datetime, r.end_datetime, r.day, r.received_at, r.transport, r.source, r.content_sha256, "
      "a.authenticated, a.method, w.media_type, length(CAST(w.bytes AS BLOB)), "
      "r.tls_report_domain, r.tls_report_submitter, r.mail_message_id, r.mail_from, r.mail_subject, r.mail_date, "
      "r.mail_filename, r.mail_content_type "
      "FROM reports r LEFT JOIN report_auth a ON a.report = r.id LEFT JOIN report_raw w ON w.report = r.id "
      "WHERE r.id = ?1");
  if (st) st->bind(1, r.id);
  bool found = false;
  auto done = each_row(st, [&](const Stmt& s) {
    found = true;
    for (auto [col, dst] : {std::pair{0, &r.organization_name}, {1, &r.report_id}, {3, &r.reporter}, {5, &r.status},
                            {6, &r.start}, {7, &r.end}, {8, &r.day}, {9, &r.received_at}, {10, &r.transport},
                            {11, &r.source}, {12, &r.sha256}, {15, &r.media_type}})
      *dst = s.text(col);
    r.contact_info = s.opt_text(2);
    r.signing_domain = s.opt_text(4);
    if (!s.is_null(13)) r.authenticated = s.int64(13) != 0;
    r.auth_method = s.opt_text(14);
    r.raw_bytes = s.int64(16);
    for (std::size_t i = 0; i < r.mail.size(); ++i) r.mail[i] = s.opt_text(17 + static_cast<int>(i));
  });
  if (!done) return std::unexpected(done.error());
  return found;
}

// The data-quality notes, stored as a JSON array of {code, where, detail}.
Done load_notes(Db& db, ShownReport& r) {
  auto st = db.prepare(
      "SELECT json_extract(j.value, '$.code'), json_extract(j.value, '$.where'), json_extract(j.value, '$.detail') "
      "FROM reports r, json_each(r.notes) j WHERE r.id = ?1 ORDER BY j.key");
  if (st) st->bind(1, r.id);
  return each_row(st, [&](const Stmt& s) { r.notes.push_back(Note{s.text(0), s.text(1), s.text(2)}); });
}

// The items of a JSON array of strings the store wrote (policy strings, MX hosts).
std::expected<std::vector<std::string>, StoreError> json_strings(Db& db, const std::string& array) {
  std::vector<std::string> out;
  auto st = db.prepare("SELECT value FROM json_each(?1) ORDER BY key");
  if (st) st->bind(1, std::string_view(array));
  auto done = each_row(st, [&](const Stmt& s) { out.push_back(s.text(0)); });
  if (!done) return std::unexpected(done.error());
  return out;
}

Done load_policies(Db& db, ShownReport& r) {
  auto st = db.prepare(
      "SELECT idx, policy_type, policy_domain, successful_sessions, failed_sessions, policy_strings, mx_hosts "
      "FROM policy WHERE report = ?1 ORDER BY idx");
  if (st) st->bind(1, r.id);
  std::vector<std::pair<std::string, std::string>> arrays;  // strings, mx_hosts: read after this statement
  auto done = each_row(st, [&](const Stmt& s) {
    r.policies.push_back(PolicyRow{s.int64(0), s.int64(3), s.int64(4), s.text(1), s.text(2), {}, {}, {}});
    arrays.emplace_back(s.text(5), s.text(6));
  });
  if (!done) return done;
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    auto strings = json_strings(db, arrays[i].first);
    if (!strings) return std::unexpected(strings.error());
    auto mx = json_strings(db, arrays[i].second);
    if (!mx) return std::unexpected(mx.error());
    r.policies[i].strings = std::move(*strings);
    r.policies[i].mx_hosts = std::move(*mx);
  }
  return {};
}

Done load_failures(Db& db, ShownReport& r) {
  auto st = db.prepare(
      "SELECT policy_idx, result_type, failed_sessions, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, "
      "receiving_ip, additional_information, failure_reason_code FROM failure WHERE report = ?1 "
      "ORDER BY policy_idx, idx");
  if (st) st->bind(1, r.id);
  return each_row(st, [&](const Stmt& s) {
    FailureRow f{s.text(1), s.int64(2), {}};
    for (std::size_t i = 0; i < f.fields.size(); ++i) f.fields[i] = s.opt_text(3 + static_cast<int>(i));
    for (auto& p : r.policies)
      if (p.idx == s.int64(0)) {
        p.failures.push_back(std::move(f));
        break;
      }
  });
}

// The whole report; false when there is none with that id.
std::expected<bool, StoreError> load(Db& db, ShownReport& r) {
  auto found = load_report(db, r);
  if (!found || !*found) return found;
  for (auto step : {load_notes, load_policies, load_failures})
    if (auto done = step(db, r); !done) return std::unexpected(done.error());
  return true;
}

std::string shown_domain(const std::string& policy_domain) {
  return policy_domain.empty() ? std::string(kUnattributed) : escape_line(policy_domain, 253);
}

std::string shown_status(const std::string& status) {
  if (status == "stored") return "stored (counted)";
  if (status == "conflict")
    return "conflict (kept, not counted: this reporter has another report with the same organization-name and "
           "report-id)";
  return escape_line(status);
}

std::string shown_authentication(const ShownReport& r) {
  std::string how = r.auth_method ? " (" + escape_line(*r.auth_method, 200) + ")" : "";
  if (!r.authenticated) return "unknown" + how;
  return (*r.authenticated ? "authenticated" : "not authenticated") + how;
}

// One "  label    value" line; the value is already escaped.
void field(std::string_view label, const std::string& shown) {
  constexpr std::size_t kWidth = 22;
  std::cout << "  " << label << std::string(label.size() < kWidth ? kWidth - label.size() : 1, ' ') << shown << "\n";
}

void print_identity_text(const ShownReport& r) {
  std::cout << "report " << r.id << ": " << shown_status(r.status) << "\n";
  field("organization-name", escape_line(r.organization_name, 200));
  field("report-id", escape_line(r.report_id, 200));
  field("contact-info", r.contact_info ? escape_line(*r.contact_info, 200) : "(none)");
  field("reporter", escape_line(r.reporter, 300));
  field("signed by", r.signing_domain ? escape_line(*r.signing_domain, 253) + " (aligned DKIM signature)"
                                      : "not authenticated by DKIM");
  field("authentication", shown_authentication(r));
  field("date-range", escape_line(r.start, 40) + " .. " + escape_line(r.end, 40));
  field("day", escape_line(r.day, 20));
  field("received", escape_line(r.received_at, 40));
  field("transport", escape_line(r.transport, 20));
  field("source", escape_line(r.source, 300));
  field("content sha256", escape_line(r.sha256, 64));
  // Imported files carry no media type: the format is found from the content.
  field("raw", std::to_string(r.raw_bytes) + " bytes" +
                   (r.media_type.empty() ? "" : ", " + escape_line(r.media_type, 100)) + " (`tlsrptd report show " +
                   std::to_string(r.id) + " --raw`)");
}

void print_mail_and_notes_text(const ShownReport& r) {
  if (r.mailed()) {
    std::cout << "mail\n";
    for (std::size_t i = 0; i < r.mail.size(); ++i)
      if (r.mail[i]) field(kMailFields[i].text, escape_line(*r.mail[i], 300));
  }
  std::cout << "data-quality notes" << (r.notes.empty() ? ": none\n" : "\n");
  for (const auto& n : r.notes)
    std::cout << "  - " << escape_line(n.code, 60) << (n.where.empty() ? "" : " at " + escape_line(n.where, 200))
              << (n.detail.empty() ? "" : ": " + escape_line(n.detail, 300)) << "\n";
}

void print_policy_text(const PolicyRow& p, std::size_t n) {
  std::cout << "policy " << p.idx + 1 << " of " << n << ": " << escape_line(p.type, 40) << " "
            << shown_domain(p.domain) << "\n";
  for (const auto& s : p.strings) field("policy-string", escape_line(s, 300));
  for (const auto& m : p.mx_hosts) field("mx-host", escape_line(m, 300));
  field("sessions", std::to_string(p.successful) + " successful, " + std::to_string(p.failed) + " failed");
  for (const auto& f : p.failures) {
    field("failure", escape_line(f.result_type, 60) + ": " + std::to_string(f.failed_sessions) +
                         (f.failed_sessions == 1 ? " session" : " sessions"));
    for (std::size_t i = 0; i < f.fields.size(); ++i)
      if (f.fields[i]) field("", std::string(kFailureFields[i].text) + " " + escape_line(*f.fields[i], 300));
  }
}

void print_text(const ShownReport& r) {
  print_identity_text(r);
  print_mail_and_notes_text(r);
  if (r.policies.empty()) std::cout << "no policies\n";
  for (const auto& p : r.policies) print_policy_text(p, r.policies.size());
}

// Sender text as a JSON member: escaped for JSON and for a terminal both.
void text_member(JsonWriter& w, std::string_view key, std::string_view value) {
  w.key(key).raw(terminal_safe_json(value));
}

void opt_member(JsonWriter& w, std::string_view key, const std::optional<std::string>& value) {
  if (value) text_member(w, key, *value);
  else w.key(key).null();
}

void strings_member(JsonWriter& w, std::string_view key, const std::vector<std::string>& values) {
  w.key(key).begin_array();
  for (const auto& v : values) w.raw(terminal_safe_json(v));
  w.end_array();
}

void identity_json(JsonWriter& w, const ShownReport& r) {
  w.member("id", r.id);
  text_member(w, "organization_name", r.organization_name);
  text_member(w, "report_id", r.report_id);
  opt_member(w, "contact_info", r.contact_info);
  text_member(w, "reporter", r.reporter);
  opt_member(w, "signing_domain", r.signing_domain);
  w.key("authenticated");
  if (r.authenticated) w.value(*r.authenticated); else w.null();
  opt_member(w, "auth_method", r.auth_method);
  w.member("status", std::string_view(r.status));
  for (auto [key, value] : {std::pair{"start_datetime", &r.start}, {"end_datetime", &r.end}, {"day", &r.day},
                            {"received_at", &r.received_at}, {"transport", &r.transport}, {"source", &r.source},
                            {"content_sha256", &r.sha256}})
    text_member(w, key, *value);
  w.key("raw").begin_object();
  text_member(w, "media_type", r.media_type);
  w.member("bytes", r.raw_bytes);
  w.end_object();
}

void mail_and_notes_json(JsonWriter& w, const ShownReport& r) {
  w.key("mail");
  if (r.mailed()) {
    w.begin_object();
    for (std::size_t i = 0; i < r.mail.size(); ++i) opt_member(w, kMailFields[i].json, r.mail[i]);
    w.end_object();
  } else {
    w.null();
  }
  w.key("notes").begin_array();
  for (const auto& n : r.notes) {
    w.begin_object();
    text_member(w, "code", n.code);
    text_member(w, "where", n.where);
    text_member(w, "detail", n.detail);
    w.end_object();
  }
  w.end_array();
}

void policy_json(JsonWriter& w, const PolicyRow& p) {
  w.begin_object();
  text_member(w, "policy_type", p.type);
  text_member(w, "policy_domain", p.domain);  // "" as in `stats`: counted for no domain
  strings_member(w, "policy_strings", p.strings);
  strings_member(w, "mx_hosts", p.mx_hosts);
  w.member("successful_sessions", p.successful);
  w.member("failed_sessions", p.failed);
  w.key("failure_details").begin_array();
  for (const auto& f : p.failures) {
    w.begin_object();
    text_member(w, "result_type", f.result_type);
    w.member("failed_sessions", f.failed_sessions);
    for (std::size_t i = 0; i < f.fields.size(); ++i) opt_member(w, kFailureFields[i].json, f.fields[i]);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void print_json(const ShownReport& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  identity_json(w, r);
  mail_and_notes_json(w, r);
  w.key("policies").begin_array();
  for (const auto& p : r.policies) policy_json(w, p);
  w.end_array();
  w.end_object();
  std::cout << out << "\n";
}

int no_such_report(std::int64_t id) {
  std::cerr << "tlsrptd: no report " << id << " (`tlsrptd report list` shows the ids)\n";
  return kExitNoInput;
}

// The bytes as they were submitted (a mail, gzip, JSON), so they can be parsed
// again after a parser fix; written unchanged, whatever they hold.
int write_raw(Db& db, std::int64_t id) {
  auto st = db.prepare("SELECT w.report IS NOT NULL, w.bytes FROM reports r LEFT JOIN report_raw w ON w.report = r.id "
                       "WHERE r.id = ?1");
  if (st) st->bind(1, id);
  std::optional<std::string> bytes;
  bool found = false;
  auto done = each_row(st, [&](const Stmt& s) {
    found = true;
    if (s.int64(0)) bytes = s.text(1);  // a BLOB's bytes, NULs included
  });
  if (!done) {
    std::cerr << "tlsrptd: " << done.error().message << "\n";
    return kExitIoErr;
  }
  if (!found) return no_such_report(id);
  if (!bytes) {
    std::cerr << "tlsrptd: report " << id << " has no raw bytes stored\n";
    return kExitNoInput;
  }
  if (std::fwrite(bytes->data(), 1, bytes->size(), stdout) != bytes->size() || std::fflush(stdout) != 0) {
    std::cerr << "tlsrptd: cannot write the raw bytes to stdout\n";
    return kExitIoErr;
  }
  return kExitOk;
}

struct ListRow {
  std::int64_t id = 0, policies = 0, successful = 0, failed = 0;
  std::string day, organization_name, report_id, reporter, status, transport, received_at;
  std::optional<std::string> signing_domain;
};

// The options as bound values: NULL is "any". Days and the domain are checked here,
// so a typo is a usage error rather than an empty list.
struct ListFilter {
  std::optional<std::string> since, until, domain, status;
  std::int64_t limit = -1;  // SQLite: no limit
};

std::expected<ListFilter, std::string> list_filter(const ListOptions& o) {
  ListFilter f{o.since, o.until, std::nullopt, o.status, o.limit ? static_cast<std::int64_t>(o.limit) : -1};
  for (auto [day, name] : {std::pair{&o.since, "--since"}, {&o.until, "--until"}})
    if (*day)
      if (auto d = parse_date(**day); !d) return std::unexpected(std::string(name) + ": " + d.error());
  if (o.domain) {
    auto d = normalize_domain(*o.domain);
    if (!d) return std::unexpected("--domain: " + d.error());
    f.domain = *d;
  }
  return f;
}

// Newest report day first; the sessions are the report's own, over all its policies.
std::expected<std::vector<ListRow>, StoreError> query_list(Db& db, const ListFilter& f) {
  auto st = db.prepare(
      "SELECT r.id, r.day, r.organization_name, r.report_id, r.reporter, r.signing_domain, r.status, r.transport, "
      "r.received_at, r.policies, "
      "(SELECT CAST(TOTAL(p.successful_sessions) AS INTEGER) FROM policy p WHERE p.report = r.id), "
      "(SELECT CAST(TOTAL(p.failed_sessions) AS INTEGER) FROM policy p WHERE p.report = r.id) "
      "FROM reports r WHERE (?1 IS NULL OR r.day >= ?1) AND (?2 IS NULL OR r.day <= ?2) "
      "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM policy p WHERE p.report = r.id AND p.policy_domain = ?3)) "
      "AND (?4 IS NULL OR r.status = ?4) ORDER BY r.day DESC, r.id DESC LIMIT ?5");
  if (st) st->bind(1, f.since).bind(2, f.until).bind(3, f.domain).bind(4, f.status).bind(5, f.limit);
  std::vector<ListRow> rows;
  auto done = each_row(st, [&](const Stmt& s) {
    rows.push_back(ListRow{s.int64(0), s.int64(9), s.int64(10), s.int64(11), s.text(1), s.text(2), s.text(3),
                           s.text(4), s.text(6), s.text(7), s.text(8), s.opt_text(5)});
  });
  if (!done) return std::unexpected(done.error());
  return rows;
}

void print_list_json(const std::vector<ListRow>& rows) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& r : rows) {
    w.begin_object();
    w.member("id", r.id);
    text_member(w, "day", r.day);
    text_member(w, "organization_name", r.organization_name);
    text_member(w, "report_id", r.report_id);
    text_member(w, "reporter", r.reporter);
    opt_member(w, "signing_domain", r.signing_domain);
    w.member("status", std::string_view(r.status));
    w.member("transport", std::string_view(r.transport));
    text_member(w, "received_at", r.received_at);
    w.member("policies", r.policies);
    w.member("successful_sessions", r.successful);
    w.member("failed_sessions", r.failed);
    w.end_object();
  }
  w.end_array();
  std::cout << out << "\n";
}

// Terminal columns of escaped text, one per character: escape_line() leaves only
// printable ones, and "…" (three bytes) marks a cut. Wide CJK characters are rare
// in these fields and would only shift the rest of their line.
std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string padded(std::string s, std::size_t width) {
  if (auto n = columns(s); n < width) s.append(width - n, ' ');
  return s;
}

// Columns as wide as their widest (escaped, cut) value; report-ids are often long
// (a timestamp and a domain), so they are cut: `report show` has them whole.
void print_list_text(const std::vector<ListRow>& rows) {
  if (rows.empty()) {
    std::cout << "no reports stored for this selection\n";
    return;
  }
  std::vector<std::array<std::string, 3>> shown;  // organization-name, report-id, reporter
  std::array<std::size_t, 3> wd = {12, 9, 8};     // the headers' widths
  for (const auto& r : rows) {
    shown.push_back({escape_line(r.organization_name, 40), escape_line(r.report_id, 32), escape_line(r.reporter, 48)});
    for (std::size_t c = 0; c < wd.size(); ++c) wd[c] = std::max(wd[c], columns(shown.back()[c]));
  }
  auto line = [&](std::string id, std::string day, const std::array<std::string, 3>& text, std::string status,
                  std::string transport, std::string ok, std::string failed) {
    std::cout << std::string(id.size() < 6 ? 6 - id.size() : 0, ' ') << id << "  " << padded(day, 10) << "  "
              << padded(text[0], wd[0]) << "  " << padded(text[1], wd[1]) << "  " << padded(text[2], wd[2]) << "  "
              << padded(status, 8) << "  " << padded(transport, 9) << "  "
              << std::string(ok.size() < 10 ? 10 - ok.size() : 0, ' ') << ok << "  "
              << std::string(failed.size() < 8 ? 8 - failed.size() : 0, ' ') << failed << "\n";
  };
  line("ID", "DAY", {"ORGANIZATION", "REPORT-ID", "REPORTER"}, "STATUS", "TRANSPORT", "SUCCESSFUL", "FAILED");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    line(std::to_string(r.id), escape_line(r.day, 10), shown[i], escape_line(r.status, 8),
         escape_line(r.transport, 9), std::to_string(r.successful), std::to_string(r.failed));
  }
}

}  // namespace

int cmd_report_show(const GlobalOptions& g, const ShowOptions& o) {
  auto opened = open_configured_database_read_only(g);  // showing never creates or migrates
  if (!opened) return opened.error();
  if (o.raw) return write_raw(opened->db, o.id);
  ShownReport r;
  r.id = o.id;
  auto found = load(opened->db, r);
  if (!found) {
    std::cerr << "tlsrptd: " << found.error().message << "\n";
    return kExitIoErr;
  }
  if (!*found) return no_such_report(o.id);
  if (o.format == "json") print_json(r);
  else print_text(r);
  return kExitOk;
}

int cmd_report_list(const GlobalOptions& g, const ListOptions& o) {
  auto cfg = load_config(g);
  if (!cfg) return kExitConfig;
  auto filter = list_filter(o);
  if (!filter) {
    std::cerr << "tlsrptd: " << filter.error() << "\n";
    return kExitUsage;
  }
  auto db = open_database_read_only(g, *cfg);  // listing never creates or migrates
  if (!db) return db.error();
  auto rows = query_list(*db, *filter);
  if (!rows) {
    std::cerr << "tlsrptd: " << rows.error().message << "\n";
    return kExitIoErr;
  }
  if (o.format == "json") print_list_json(*rows);
  else print_list_text(*rows);
  return kExitOk;
}

}  // namespace tlsrpt::daemon
