// storage/schema.cpp migration 2 and storage/store.cpp: the headers of a mailed
// report are stored beside it (NULL for other channels) and shown by `reports`.
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

  store(**st, ingest(test::read_file(test::corpus_dir() / "tlsrpt-rs-3.eml")));
  Row want = {"krvtz.net",
              "mail.ru",
              "<c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru>",
              "noreply-smtp-tls-reporting@corp.mail.ru",
              "Report Domain: krvtz.net Submitter: mail.ru Report-ID: <c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru>",
              "Thu, 26 Jan 2023 03:10:38 +0300",
              "mail.ru!krvtz.net!1674604800!1674691200!001.json.gz",
              "application/tlsrpt+gzip"};
  EXPECT_EQ(query_row((*st)->db(), "SELECT " + kMailColumns + " FROM reports WHERE organization_name = 'Mail.ru'", 8), want);

  // A bare report: every mail column is NULL. So is an absent header of a mail.
  store(**st, ingest(test::read_file(test::corpus_dir() / "tlsrpt-rs-6.json")));
  EXPECT_EQ(query_row((*st)->db(), "SELECT " + kMailColumns + " FROM reports WHERE id = 2", 8), Row(8, std::nullopt));
  store(**st, ingest(test::read_file(test::corpus_dir() / "internet-message-parser-1.eml")));
  Row r = query_row((*st)->db(), "SELECT tls_report_domain, tls_report_submitter, mail_message_id FROM reports WHERE id = 3", 3);
  EXPECT_EQ(r, (Row{std::nullopt, std::nullopt, "<000000000000447d9005d537639c@google.com>"}));
}

TEST(StoreMail, Migration2UpgradesAVersion1Database) {
  test::TempDir dir;
  const std::string path = (dir.path() / "db.sqlite").string();
  {
    auto st = Store::open(path);
    ASSERT_TRUE(st) << st.error().message;
    store(**st, ingest(test::read_file(test::corpus_dir() / "tlsrpt-rs-4.json")));
    // Back to the version 1 shape: no mail columns (and no alert tables of
    // migration 3), user_version 1.
    Db& db = (*st)->db();
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
  store(**st, ingest(test::read_file(test::corpus_dir() / "tlsrpt-rs-5.eml")));
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reports WHERE tls_report_submitter = 'microsoft.com'"), 1);
}

}  // namespace
}  // namespace tlsrpt::storage
