// storage/schema.cpp migration 2 and storage/store.cpp: the headers of a mailed
// report are stored beside it (NULL for other channels) and shown by `reports`. The
// reports and mails are this repository's own (tests/corpus).
#include <gtest/gtest.h>

#include "parser/ingest.hpp"
#include "storage/schema.hpp"
#include "storage/store.hpp"
#include "test_support.hpp"

namespace tlsrpt::storage {
namespace {

using Row = std::vector<std::optional<std::string>>;

const std::string kMailColumns =
    "tls_report_domain, tls_report_submitter, mail_message_id, mail_from, mail_subject, mail_date, mail_filename, "
    "mail_content_type";

Row query_row(Db& db, const std::string& sql, int columns) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st) << st.error().message;
  if (!st) return {};
  auto r = st->step();
  EXPECT_TRUE(r && *r) << sql;
  Row out;
  if (r && *r)
    for (int i = 0; i < columns; ++i) out.push_back(st->opt_text(i));
  return out;
}

std::int64_t query_int(Db& db, const std::string& sql) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st) << st.error().message;
  if (!st) return -1;
  auto r = st->step();
  EXPECT_TRUE(r && *r) << sql;
  return st->int64(0);
}

struct Stored {
  Ingested ingested;
  Provenance provenance;
  std::string raw;
};

Stored ingest(const std::string& bytes) {
  Ingestor ing;
  auto r = ing.ingest(bytes);
  EXPECT_TRUE(r) << r.error().text();
  Stored s{std::move(*r), {}, bytes};
  s.provenance.transport = Transport::import;
  s.provenance.source = "test";
  return s;
}

void store(Store& st, const Stored& s) {
  PendingReport p{&s.ingested, &s.provenance, s.raw};
  auto out = st.store_batch(std::span<const PendingReport>(&p, 1));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->front(), StoreOutcome::stored);
}

TEST(StoreMail, MailHeadersAreStoredAndShownByReports) {
  test::TempDir dir;
  auto st = Store::open((dir.path() / "db.sqlite").string());
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(query_int((*st)->db(), "PRAGMA user_version"), kSchemaVersion);
  EXPECT_GE(kSchemaVersion, 2);

  // tests/corpus: Mail.ru's shape, folded Subject and all.
  store(**st, ingest(test::read_file(test::quirk_dir() / "mailru-no-closing-boundary.eml")));
  Row want = {"example.com",
              "mail.ru",
              "<b28254de-0000-0000-0000-4c3b92da8b25@mail.ru>",
              "noreply-smtp-tls-reporting@corp.mail.ru",
              "Report Domain: example.com Submitter: mail.ru Report-ID: <b28254de-0000-0000-0000-4c3b92da8b25@mail.ru>",
              "Fri, 02 Feb 2024 03:00:18 +0300",
              "mail.ru!example.com!1706745600!1706832000!001.json.gz",
              "application/tlsrpt+gzip"};
  EXPECT_EQ(query_row((*st)->db(), "SELECT " + kMailColumns + " FROM reports WHERE organization_name = 'Mail.ru'", 8), want);

  // A bare report: every mail column is NULL. So is an absent header of a mail (a
  // Google mail whose TLS-Report-* headers were trimmed).
  store(**st, ingest(test::read_file(test::quirk_dir() / "rfc8460-failure-reason-code.json")));
  EXPECT_EQ(query_row((*st)->db(), "SELECT " + kMailColumns + " FROM reports WHERE id = 2", 8), Row(8, std::nullopt));
  store(**st, ingest(test::read_file(test::quirk_dir() / "google-headers-trimmed.eml")));
  Row r = query_row((*st)->db(), "SELECT tls_report_domain, tls_report_submitter, mail_message_id FROM reports WHERE id = 3", 3);
  EXPECT_EQ(r, (Row{std::nullopt, std::nullopt, "<000000000000b7c1e805d5f3a6c2@google.com>"}));
}

TEST(StoreMail, Migration2UpgradesAVersion1Database) {
  test::TempDir dir;
  const std::string path = (dir.path() / "db.sqlite").string();
  {
    auto st = Store::open(path);
    ASSERT_TRUE(st) << st.error().message;
    // tests/corpus: Mail.ru's report as a bare JSON file, one sts policy, one session.
    store(**st, ingest(test::read_file(test::quirk_dir() / "mailru-failure-sum-mismatch.json")));
    // Back to the version 1 shape: no mail columns (and no alert tables of
    // migration 3), user_version 1.
    Db& db = (*st)->db();
    ASSERT_TRUE(db.exec(test::kUndoMigration5));
    ASSERT_TRUE(db.exec("DROP VIEW alerts; DROP TABLE alert_throttle; DROP TABLE alert_notification; "
                        "DROP TABLE alert; DROP TABLE report_auth; DROP VIEW held_reports; DROP TABLE held_report"));
    ASSERT_TRUE(db.exec("DROP VIEW reports; CREATE VIEW reports AS SELECT id FROM report"));
    for (const char* c : {"tls_report_domain", "tls_report_submitter", "mail_message_id", "mail_from", "mail_subject",
                          "mail_date", "mail_filename", "mail_content_type"})
      ASSERT_TRUE(db.exec(("ALTER TABLE report DROP COLUMN " + std::string(c)).c_str())) << c;
    ASSERT_TRUE(db.exec("PRAGMA user_version=1"));
  }
  auto st = Store::open(path);
  ASSERT_TRUE(st) << st.error().message;
  Db& db = (*st)->db();
  EXPECT_EQ(query_int(db, "PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reports WHERE tls_report_domain IS NULL"), 1);  // kept, NULL
  EXPECT_EQ(query_int(db, "SELECT successful_sessions + failed_sessions FROM policy_daily"), 1);
  // A Microsoft mail (its 2024 shape: sts and tlsa policies) after the upgrade.
  store(**st, ingest(test::read_file(test::quirk_dir() / "microsoft-html-first-part.eml")));
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reports WHERE tls_report_submitter = 'microsoft.com'"), 1);
}

}  // namespace
}  // namespace tlsrpt::storage
