"""End-to-end: `tlsrptd report import` on mailed reports.

The real binary imports every .eml of a corpus, an mbox and a Maildir built here, and
the counts are read back with the sqlite3 command-line tool from the documented
`policy_daily` view. The expected rows were written by hand from the decoded
attachments (see tests/unit/parser/mail_corpus_test.cpp for the per-file tables).
Regular (MailImport): the mails of tests/corpus, this repository's own files. Extra run
(InteropMailImport, `--interop`, ctest e2e.test_mail_import.interop): the mails of the
external interop corpus (TLSRPT_CORPUS_DIR, not part of this repository); skipped,
saying so, where it is not set or absent.
"""
import mailbox
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from support import CORPUS, QUIRKS, TLSRPTD, main

EX_OK, EX_DATAERR = 0, 65

# (day, policy_domain, policy_type, organization_name, successful, failed, reports)
QUIRK_POLICY_DAILY = {
    ("2016-04-01", "company-y.example", "sts", "Company-X", 5326, 303, 1),              # rfc8460-example-mail
    ("2020-01-01", "example.com", "sts", "Google Inc.", 23, 0, 1),                      # mail-auth-bare-tlsrpt-plain-json
    ("2022-01-19", "example.com", "sts", "Google Inc.", 3, 0, 1),                       # google-headers-trimmed
    ("2023-01-10", "example.com", "sts", "Microsoft Corporation", 7, 0, 1),             # microsoft-filename-only-in-disposition
    ("2024-02-01", "example.com", "sts", "Mail.ru", 0, 1, 1),                           # mailru-no-closing-boundary
    ("2024-09-03", "health.example", "no-policy-found", "Google Inc.", 48, 0, 1),      # google-gateway-banner-quoted-printable
    ("2024-09-10", "example.net", "sts", "Microsoft Corporation", 12, 0, 1),            # microsoft-html-first-part
    ("2024-09-10", "mx.example.net", "tlsa", "Microsoft Corporation", 12, 0, 1),        # microsoft-html-first-part
    ("2024-09-15", "example.org", "sts", "Google Inc.", 7, 1, 1),                       # google-multipart-gzip-base64
    ("2025-03-04", "example.com", "sts", "Mailer Example", 9, 1, 1),                    # rfc8460-json-attachment-base64
    # No policy-domain in the report: counted for the mail's TLS-Report-Domain (RFC 8460 §5.3).
    ("2026-11-28", "example.test", "no-policy-found", "Sender Example Org", 0, 1, 1),   # tlsrpt-reporter-unsigned-mail
}

# The external interop corpus.
INTEROP_POLICY_DAILY = {
    ("2016-04-01", "company-y.example", "sts", "Company-X", 5326, 303, 1),                # mail-auth-4
    ("2020-01-01", "example.com", "sts", "Google Inc.", 23, 1, 1),                        # mail-auth-5
    ("2020-03-02", "fastmaildmarc.com", "no-policy-found", "Google Inc.", 343, 0, 1),    # mail-tls-rpt-1
    ("2022-01-09", "digilicious.com", "sts", "Google Inc.", 5, 0, 1),                     # internet-message-parser-1
    ("2022-09-15", "test.xmox.nl", "sts", "Google Inc.", 3, 0, 1),                        # mox-1
    ("2023-01-10", "test.xmox.nl", "sts", "Microsoft Corporation", 2, 0, 1),              # mox-2
    ("2023-01-25", "krvtz.net", "sts", "Mail.ru", 0, 1, 1),                               # tlsrpt-rs-3
    ("2023-02-02", "blogreen.org", "sts", "Google Inc.", 1, 0, 1),                        # unattributed-1
    ("2024-01-20", "nine.testrun.org", "sts", "Google Inc.", 7, 0, 1),                    # deltachat-1
    ("2024-09-03", "cardinalhealth.ca", "no-policy-found", "Google Inc.", 48, 0, 1),     # parsedmarc-1
    ("2024-09-13", "krvtz.net", "sts", "Microsoft Corporation", 2, 0, 1),                 # tlsrpt-rs-5
    ("2024-09-13", "krvtz.net", "tlsa", "Microsoft Corporation", 2, 0, 1),                # tlsrpt-rs-5
    ("2024-09-15", "krvtz.net", "sts", "Google Inc.", 1, 0, 1),                           # tlsrpt-rs-1
    ("2024-09-18", "krvtz.net", "sts", "Google Inc.", 2, 0, 1),                           # tlsrpt-rs-2
    ("2026-02-08", "example.com", "sts", "Google Inc.", 4523, 2, 1),                      # tlsrpt-digest-4
    ("2026-05-11", "example.com", "sts", "Google Inc.", 1, 0, 1),                         # tlsrpt-digest-1
    ("2026-05-12", "example.com", "sts", "Google Inc.", 4, 0, 1),                         # tlsrpt-digest-2
    ("2026-05-13", "example.com", "sts", "Microsoft Corporation", 2, 0, 1),               # tlsrpt-digest-3
    ("2026-11-28", "mail-only.test", "sts", "Sender Example Org", 4, 0, 1),               # tlsrpt-reporter-3
    ("2026-11-28", "mail-only.test", "no-policy-found", "Sender Example Org", 0, 2, 1),   # tlsrpt-reporter-3
}

PLAIN_MAIL = (b"From: alice@example.org\nTo: tlsrpt@example.net\nSubject: lunch?\n\n"
              b"From the kitchen: noon?\n>From a quoted line\n")


class MailImportTests:
    """The tests; a subclass names the corpus folder and what to expect of it:
    CORPUS_DIR, MAILS (how many .eml), POLICY_DAILY, HEADERS (one mail's report-id,
    file and the mail columns stored for it), JSON_COPIES (JSON file -> the mail that
    carries the same report), FROM_LINE (a mail and a line of its text part)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tlsrpt-e2e-mail-")
        self.db = os.path.join(self.dir, "db.sqlite")
        self.mails = sorted(os.path.join(self.CORPUS_DIR, f) for f in os.listdir(self.CORPUS_DIR) if f.endswith(".eml"))
        self.assertEqual(len(self.mails), self.MAILS, "the corpus changed: update its expected policy_daily rows")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def tlsrptd_import(self, *paths, db=None):
        p = subprocess.run([TLSRPTD, "--db", db or self.db, "report", "import", "--no-progress", *paths],
                           capture_output=True, text=True, timeout=300)
        lines = p.stdout.splitlines()
        return p.returncode, lines[:-1], lines[-1] if lines else "", p.stderr

    def sql(self, query, db=None):
        out = subprocess.run(["sqlite3", "-batch", "-noheader", "-separator", "|", db or self.db, query],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return [line.split("|") for line in out.splitlines()]

    def policy_daily(self, db=None):
        rows = self.sql("SELECT day, policy_domain, policy_type, organization_name, successful_sessions, "
                        "failed_sessions, reports FROM policy_daily", db)
        return {(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6])) for r in rows}

    def assert_counted_once(self, db=None):
        self.assertEqual(self.policy_daily(db), self.POLICY_DAILY)
        total = self.sql("SELECT sum(successful_sessions), sum(failed_sessions) FROM policy_daily", db)
        self.assertEqual(total, [[str(sum(r[4] for r in self.POLICY_DAILY)), str(sum(r[5] for r in self.POLICY_DAILY))]])

    def json_copies(self):
        return [os.path.join(self.CORPUS_DIR, j) for j in sorted(self.JSON_COPIES)]

    def test_eml_files_and_reimport(self):
        rc, lines, summary, err = self.tlsrptd_import(*self.mails)
        self.assertEqual(rc, EX_OK, err + "\n".join(lines))
        self.assertEqual(lines, [f"{m}: stored" for m in self.mails])
        n = len(self.mails)
        self.assertEqual(summary, f"{n} files: {n} stored, 0 duplicate, 0 conflict, 0 rejected")
        self.assert_counted_once()

        # The mail headers are kept beside the report (schema migration 2).
        report_id, mail, columns = self.HEADERS
        row = self.sql("SELECT transport, tls_report_domain, tls_report_submitter, mail_message_id, mail_filename, "
                       f"mail_content_type FROM reports WHERE report_id = '{report_id}'")
        self.assertEqual(row, [["import", *columns]])
        # The raw bytes stored are the whole mail, for re-processing.
        raw = self.sql("SELECT r.media_type, length(r.bytes) FROM report_raw r JOIN report p ON p.id = r.report "
                       f"WHERE p.report_id = '{report_id}'")
        self.assertEqual(raw, [["message/rfc822", str(os.path.getsize(os.path.join(self.CORPUS_DIR, mail)))]])

        # Again: every mail is a duplicate, nothing is counted twice.
        rc, lines, summary, err = self.tlsrptd_import(*self.mails)
        self.assertEqual(rc, EX_OK, err)
        self.assertEqual(lines, [f"{m}: duplicate" for m in self.mails])
        self.assert_counted_once()

        # The same reports as bare JSON (the mails carry them): duplicates too.
        jsons = self.json_copies()
        rc, lines, summary, err = self.tlsrptd_import(*jsons)
        self.assertEqual(rc, EX_OK, err)
        self.assertEqual(lines, [f"{j}: duplicate" for j in jsons])
        self.assert_counted_once()
        self.assertEqual(self.sql("SELECT count(*) FROM report"), [[str(n)]])

    def test_json_first_then_mail(self):
        # Dedupe holds in the other order too: the .json arrives first (HTTPS), the mail later.
        jsons = self.json_copies()
        rc, lines, _, err = self.tlsrptd_import(*jsons)
        self.assertEqual(rc, EX_OK, err)
        self.assertEqual(lines, [f"{j}: stored" for j in jsons])
        rc, lines, _, err = self.tlsrptd_import(*self.mails)
        self.assertEqual(rc, EX_OK, err)
        dup = {os.path.join(self.CORPUS_DIR, m) for m in self.JSON_COPIES.values()}
        self.assertEqual(lines, [f"{m}: {'duplicate' if m in dup else 'stored'}" for m in self.mails])
        self.assert_counted_once()

    def build_mbox(self, path):
        # Python's mailbox writes mboxo: "From " body lines are escaped as ">From ".
        box = mailbox.mbox(path, create=True)
        for m in self.mails:
            with open(m, "rb") as f:
                box.add(f.read())
        box.add(PLAIN_MAIL)
        box.flush()
        box.close()

    def test_mbox(self):
        mbox = os.path.join(self.dir, "reports.mbox")  # the name does not matter: content does
        self.build_mbox(mbox)
        with open(mbox, "rb") as f:
            self.assertIn(b"\n>From the kitchen", f.read())

        rc, lines, summary, err = self.tlsrptd_import(mbox)
        self.assertEqual(rc, EX_DATAERR, err)  # the plain mail is rejected
        n = len(self.mails)
        self.assertEqual(lines[:n], [f"{mbox}#{i}: stored" for i in range(1, n + 1)])
        self.assertEqual(len(lines), n + 1)
        self.assertRegex(lines[n], re.escape(f"{mbox}#{n + 1}: rejected: ") + "no TLS report in this mail")
        self.assertEqual(summary, f"{n + 1} files: {n} stored, 0 duplicate, 0 conflict, 1 rejected")
        self.assert_counted_once()
        sources = self.sql("SELECT source FROM reports ORDER BY id")
        self.assertEqual([s[0] for s in sources], [f"{os.path.abspath(mbox)}#{i}" for i in range(1, n + 1)])

        # Again, and beside the .eml files: nothing counts twice.
        rc, lines, _, err = self.tlsrptd_import(mbox, *self.mails)
        self.assertEqual(rc, EX_DATAERR, err)
        self.assertEqual(lines[:n], [f"{mbox}#{i}: duplicate" for i in range(1, n + 1)])
        self.assertEqual(lines[n + 1:], [f"{m}: duplicate" for m in self.mails])
        self.assert_counted_once()

    def test_mbox_without_trailing_blank_line_and_with_crlf(self):
        # Two messages, CRLF, and the last one not followed by the customary blank line.
        with open(self.mails[0], "rb") as f:
            a = f.read()
        with open(self.mails[1], "rb") as f:
            b = f.read()
        crlf = lambda m: m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        mbox = os.path.join(self.dir, "two")
        with open(mbox, "wb") as f:
            f.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\r\n" + crlf(a) + b"\r\n")
            f.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\r\n" + crlf(b).rstrip(b"\r\n") + b"\r\n")
        rc, lines, _, err = self.tlsrptd_import(mbox)
        self.assertEqual(rc, EX_OK, err + "\n".join(lines))
        self.assertEqual(lines, [f"{mbox}#1: stored", f"{mbox}#2: stored"])

    def test_mbox_from_lines_are_unescaped(self):
        # mboxo/mboxrd: a body line "From ..." is written as ">From ..." and read back as it was.
        name, line = self.FROM_LINE
        with open(os.path.join(self.CORPUS_DIR, name), "rb") as f:
            mail = f.read()
        self.assertIn(line, mail)
        mail = mail.replace(line, line + b"From here on, all is fine.\r\n")
        mbox = os.path.join(self.dir, "one.mbox")
        box = mailbox.mbox(mbox, create=True)
        box.add(mail)
        box.close()
        with open(mbox, "rb") as f:
            self.assertIn(b"\n>From here on", f.read())
        rc, lines, _, err = self.tlsrptd_import(mbox)
        self.assertEqual(rc, EX_OK, err)
        self.assertEqual(lines, [f"{mbox}#1: stored"])
        raw = self.sql("SELECT instr(CAST(bytes AS TEXT), char(10) || 'From here on'), "
                       "instr(CAST(bytes AS TEXT), '>From here on'), instr(CAST(bytes AS TEXT), 'From MAILER-DAEMON') "
                       "FROM report_raw")
        self.assertEqual(len(raw), 1)
        self.assertGreater(int(raw[0][0]), 0)   # unescaped
        self.assertEqual(raw[0][1:], ["0", "0"])  # no escape left, no mbox separator stored

    def build_maildir(self, root):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(root, sub))
        for i, m in enumerate(self.mails):
            name = f"1700000000.M{i}P1.host" + ("" if i % 2 == 0 else ":2,S")
            shutil.copy(m, os.path.join(root, "new" if i % 2 == 0 else "cur", name))
        # Not messages: a delivery in progress, index files.
        with open(os.path.join(root, "tmp", "1700000000.M99P1.host"), "wb") as f:
            f.write(b"From: half-written")
        with open(os.path.join(root, "dovecot-uidlist"), "w") as f:
            f.write("3 V1 N1\n")
        # A Maildir++ subfolder holds messages too.
        sub = os.path.join(root, ".Archive")
        for s in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(sub, s))
        with open(os.path.join(sub, "cur", "1700000001.M1P1.host:2,S"), "wb") as f:
            f.write(PLAIN_MAIL)

    def snapshot(self, root):
        out = {}
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                st = os.stat(p)
                out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
        return out

    def test_maildir(self):
        root = os.path.join(self.dir, "Maildir")
        self.build_maildir(root)
        before = self.snapshot(root)

        rc, lines, summary, err = self.tlsrptd_import(root)
        self.assertEqual(rc, EX_DATAERR, err)  # the plain mail in .Archive
        stored = [line for line in lines if line.endswith(": stored")]
        self.assertEqual(len(stored), len(self.mails), "\n".join(lines))
        rejected = [line for line in lines if ": rejected: " in line]
        self.assertEqual(len(rejected), 1, "\n".join(lines))
        self.assertIn("/.Archive/cur/", rejected[0])
        self.assertTrue(all(line.startswith(root + "/") for line in lines), "\n".join(lines))
        self.assertFalse(any("/tmp/" in line[len(root):] or "dovecot" in line for line in lines), "\n".join(lines))
        self.assertEqual(summary, f"{len(self.mails) + 1} files: {len(self.mails)} stored, 0 duplicate, 0 conflict, 1 rejected")
        self.assert_counted_once()
        # Import never moves, renames or touches a message.
        self.assertEqual(self.snapshot(root), before)

        rc, lines, _, err = self.tlsrptd_import(root)
        self.assertEqual(len([line for line in lines if line.endswith(": duplicate")]), len(self.mails))
        self.assert_counted_once()
        self.assertEqual(self.snapshot(root), before)

    def test_every_channel_into_one_database(self):
        mbox = os.path.join(self.dir, "box")
        self.build_mbox(mbox)
        root = os.path.join(self.dir, "Maildir")
        self.build_maildir(root)
        self.tlsrptd_import(*self.mails)
        self.tlsrptd_import(mbox)
        self.tlsrptd_import(root)
        rc, lines, _, err = self.tlsrptd_import(self.CORPUS_DIR)  # the whole folder: JSON, .json.gz and .eml
        self.assertNotIn("failed", "\n".join(lines), err)
        # Each corpus mail's report is stored once, whichever way it came in ...
        self.assertEqual(self.sql("SELECT count(*) FROM report_raw WHERE media_type = 'message/rfc822'"),
                         [[str(len(self.mails))]])
        # ... and no report is counted twice.
        self.assertEqual(self.sql("SELECT organization_name, report_id FROM report WHERE status = 'counted' "
                                  "GROUP BY organization_name, report_id HAVING count(*) > 1"), [])


class MailImport(MailImportTests, unittest.TestCase):
    CORPUS_DIR = QUIRKS
    MAILS = 10
    POLICY_DAILY = QUIRK_POLICY_DAILY
    HEADERS = ("b28254de-0000-0000-0000-4c3b92da8b25@mail.ru", "mailru-no-closing-boundary.eml",
               ["example.com", "mail.ru", "<b28254de-0000-0000-0000-4c3b92da8b25@mail.ru>",
                "mail.ru!example.com!1706745600!1706832000!001.json.gz", "application/tlsrpt+gzip"])
    JSON_COPIES = {
        "google-policy-string-trailing-cr.json": "google-headers-trimmed.eml",
        "mail-auth-seven-day-range.json": "mail-auth-bare-tlsrpt-plain-json.eml",
        "mailru-failure-sum-mismatch.json": "mailru-no-closing-boundary.eml",
        "microsoft-datetime-without-zone.json": "microsoft-filename-only-in-disposition.eml",
        "microsoft-tlsa-packed-in-string.json": "microsoft-html-first-part.eml",
        "tlsrpt-reporter-policy-domain-missing.json": "tlsrpt-reporter-unsigned-mail.eml",
    }
    FROM_LINE = ("tlsrpt-reporter-unsigned-mail.eml", b"This is an aggregate TLS report from Sender Example Org\r\n")


class InteropMailImport(MailImportTests, unittest.TestCase):
    interop = True
    CORPUS_DIR = CORPUS
    MAILS = 18
    POLICY_DAILY = INTEROP_POLICY_DAILY
    HEADERS = ("c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru", "tlsrpt-rs-3.eml",
               ["krvtz.net", "mail.ru", "<c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru>",
                "mail.ru!krvtz.net!1674604800!1674691200!001.json.gz", "application/tlsrpt+gzip"])
    # The interop corpus's SOURCES.md: mail-tls-rpt-2.json is mail-tls-rpt-1.eml's
    # payload, tlsrpt-rs-4.json tlsrpt-rs-3.eml's report pretty-printed.
    JSON_COPIES = {"mail-tls-rpt-2.json": "mail-tls-rpt-1.eml", "tlsrpt-rs-4.json": "tlsrpt-rs-3.eml"}
    FROM_LINE = ("tlsrpt-reporter-3.eml", b"This is an aggregate TLS report from Sender Example Org\r\n")


if __name__ == "__main__":
    main()
