"""End to end: `tlsrptd report import` of a folder of reports and report mails,
twice, then `stats --format json` and SQL on the documented views through the sqlite3
client. The expected totals are computed here with Python's json, gzip and email
modules (no code shared with tlsrptd), applying the documented dedupe rule: the first
report with an (organization-name, report-id) is counted; the same content again is a
duplicate; the same key with other content is kept as a conflict and not counted.

Regular (ImportQuirkCorpus): a folder holding tests/corpus's reports and mails, this
repository's own files. Extra run (InteropImport, `--interop`, ctest
e2e.test_import.interop): every report of the external interop corpus
(TLSRPT_CORPUS_DIR, not part of this repository); skipped, saying so, where it is
not set or absent."""
import collections
import email
import gzip
import json
import os
import shutil

from support import CORPUS, QUIRKS, TempDirTest, main, sql, tlsrptd

# tests/corpus, by name: the outcome of its first import into an empty database, in
# the importer's order (paths sorted). Written by hand from the files: each mail
# named in a comment carries that JSON file's report (mail_corpus_test.cpp).
QUIRK_EXPECTED = {
    "generic-start-after-end.json": "rejected",             # the range ends before it starts
    "generic-utf8-bom-and-normalisation.json": "stored",
    "google-gateway-banner-quoted-printable.eml": "stored",
    "google-headers-trimmed.eml": "stored",
    "google-multipart-gzip-base64.eml": "stored",
    "google-policy-string-trailing-cr.json": "duplicate",   # = google-headers-trimmed.eml's report
    "mail-auth-bare-tlsrpt-plain-json.eml": "stored",
    "mail-auth-seven-day-range.json": "duplicate",          # = mail-auth-bare-tlsrpt-plain-json.eml's
    "mail-auth-summary-count-missing.json": "stored",
    "mailru-failure-sum-mismatch.json": "stored",
    "mailru-no-closing-boundary.eml": "duplicate",          # carries mailru-failure-sum-mismatch.json
    "microsoft-datetime-without-zone.json": "stored",
    "microsoft-filename-only-in-disposition.eml": "duplicate",  # carries microsoft-datetime-without-zone.json
    "microsoft-gzip-file.json.gz": "stored",
    "microsoft-html-first-part.eml": "stored",
    "microsoft-sts-fetch-error-without-ips.json": "stored",
    "microsoft-tlsa-packed-in-string.json": "duplicate",    # = microsoft-html-first-part.eml's report
    "parsedmarc-empty-failure-fields.json": "stored",
    "rfc8460-abnf-name-additional-info-uri.json": "stored",
    "rfc8460-draft-failure-error-code.json": "stored",
    "rfc8460-example-mail.eml": "stored",
    "rfc8460-failure-reason-code.json": "duplicate",        # the draft-era file with the RFC's member name
    "rfc8460-json-attachment-base64.eml": "stored",
    "rfc8460-mx-host-string.json": "stored",
    "rfc8460-tlsa-semicolon-list.json": "stored",
    "socketlabs-receiving-mx-host-name.json": "stored",
    "stalwart-contact-info-null.json": "stored",
    "stalwart-mx-host-with-mx-prefix.json": "stored",
    "tls-rpt-monitor-edited-copy.json": "conflict",         # microsoft-gzip-file.json.gz's key, edited
    "tls-rpt-monitor-unknown-result-type.json": "stored",
    "tlsrpt-be-idn-policy-domain.json": "stored",
    "tlsrpt-reporter-policy-domain-missing.json": "stored",
    "tlsrpt-reporter-unsigned-mail.eml": "duplicate",       # carries tlsrpt-reporter-policy-domain-missing.json
}

# The external interop corpus (TLSRPT_CORPUS_DIR), by name. Hand-written from its files
# (its own SOURCES.md explains the relations).
INTEROP_EXPECTED = {
    "dmarc-report-viewer-1.json": "stored", "dmarc-report-viewer-2.json": "stored",
    "dmarc-report-viewer-3.json": "stored", "dmarc-report-viewer-4.json": "stored",
    "dmarc-report-viewer-5.json": "stored", "dmarc-report-viewer-6.json": "stored",
    "dmarc-report-viewer-7.json": "stored", "dmarc-report-viewer-8.json": "stored",
    "mail-auth-1.json": "stored", "mail-auth-2.json": "stored", "mail-auth-3.json": "stored",
    "mail-tls-rpt-2.json": "stored",
    "mox-3.json": "stored", "mox-4.json": "stored",
    "mox-5.json": "conflict",           # same org + report-id as mox-4, other content
    "mox-6.json": "stored",
    "parsedmarc-2.json": "stored", "parsedmarc-3.json": "stored",
    "parsedmarc-4.json": "conflict",    # the RFC example again, URI repaired differently
    "parsedmarc-5.json": "stored", "parsedmarc-6.json": "stored",
    "sebastka-tlsrpt-1.json": "stored", "sebastka-tlsrpt-2.json": "stored",
    "tls-rpt-monitor-1.json.gz": "stored",
    "tls-rpt-monitor-2.json": "conflict",  # hand-edited copy of -1
    "tlsrpt-be-1.json": "stored",
    "tlsrpt-reporter-1.json.gz": "stored", "tlsrpt-reporter-2.json.gz": "stored",
    "tlsrpt-rs-4.json": "stored",
    "tlsrpt-rs-6.json": "conflict",
    "tlsrpt_processor-1.json": "duplicate",  # = parsedmarc-4 with the draft-era member name
    "unattributed-2.json": "stored", "unattributed-3.json": "stored",
    "unattributed-4.json": "rejected",  # start after end (publisher's edit)
}


def is_report(name):
    return name.endswith(".json") or name.endswith(".json.gz")


def is_report_or_mail(name):
    return is_report(name) or name.endswith(".eml")


def load(path):
    """The report in a .json, .json.gz or report mail (its application/tlsrpt* part)."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".eml"):
        parts = [p for p in email.message_from_bytes(raw).walk() if p.get_content_type().startswith("application/tlsrpt")]
        assert len(parts) == 1, path
        raw = parts[0].get_payload(decode=True)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def domain_key(domain):
    """A policy-domain as stored: lower case, no trailing dot, A-labels."""
    return domain.rstrip(".").lower().encode("idna").decode() if domain else ""


def report_domain(path):
    """A mail's TLS-Report-Domain (RFC 8460 §5.3), "" for a report file: what a
    policy without a policy-domain is counted for (docs/receiver-rules.md#domains)."""
    if not path.endswith(".eml"):
        return ""
    with open(path, "rb") as f:
        return domain_key(email.message_from_bytes(f.read()).get("TLS-Report-Domain", "").strip())


def oracle(paths, expected):
    """Session totals per (policy_domain, policy_type) and failure totals, from the
    files whose expected outcome is "stored" (each key counted once). Policies without
    a policy-domain count for the mail's TLS-Report-Domain, or stay unattributed ("");
    a mailed copy arriving later attributes what the stored copy left unattributed."""
    counted, totals, failures = {}, collections.Counter(), collections.Counter()

    def add(k, s, fails, sign=1):
        totals[k + ("ok",)] += sign * s.get("total-successful-session-count", 0)
        totals[k + ("fail",)] += sign * s.get("total-failure-session-count", 0)
        failures[k] += sign * fails

    for path in paths:
        outcome = expected[os.path.basename(path)]
        d = load(path)
        key = (d["organization-name"], d["report-id"])
        if outcome == "duplicate" and key in counted and report_domain(path):
            for i, k in enumerate(counted[key]):
                if k[0] == "":
                    p = d["policies"][i]
                    fails = sum(f.get("failed-session-count", 0) for f in p.get("failure-details") or [])
                    add(k, p.get("summary", {}), fails, -1)
                    counted[key][i] = (report_domain(path), k[1])
                    add(counted[key][i], p.get("summary", {}), fails)
        if outcome != "stored":
            continue
        assert key not in counted, key
        counted[key] = []
        for p in d["policies"]:
            pol = p["policy"]
            k = (domain_key(pol.get("policy-domain", "")) or report_domain(path), pol["policy-type"])
            counted[key].append(k)
            add(k, p.get("summary", {}), sum(f.get("failed-session-count", 0) for f in p.get("failure-details") or []))
    return totals, failures


def outcome_lines(stdout):
    out = {}
    for line in stdout.splitlines():
        path, sep, rest = line.partition(": ")
        if sep and os.path.isabs(path):
            out[os.path.basename(path)] = rest
    return out


class ImportTwice(TempDirTest):
    """The import-twice scenario; subclasses give the files and what to expect."""

    def import_twice_then_query(self, args, paths, expected, summary, statuses, raw_reports):
        db = self.path("var", "t.sqlite")
        first = tlsrptd("report", "import", "--db", db, *args)
        self.assertEqual(first.returncode, 65, first.stderr)  # one file is rejected
        got = outcome_lines(first.stdout)
        self.assertEqual(set(got), set(expected), first.stdout)
        for name, want in expected.items():
            self.assertTrue(got[name].startswith(want), f"{name}: {got[name]!r}, want {want}")
        self.assertTrue(first.stdout.rstrip().endswith(summary), first.stdout)

        totals, failures = oracle(paths, expected)
        rows = sql(db, "SELECT policy_domain, policy_type, sum(successful_sessions) AS ok, "
                       "sum(failed_sessions) AS fail FROM policy_daily GROUP BY 1, 2")
        # The views count for domains only: unattributed policies are left out of them.
        self.assertEqual(len(rows), len({k[:2] for k in totals if k[0]}))
        for r in rows:
            k = (r["policy_domain"], r["policy_type"])
            self.assertEqual(r["ok"], totals[k + ("ok",)], k)
            self.assertEqual(r["fail"], totals[k + ("fail",)], k)
        frows = sql(db, "SELECT policy_domain, policy_type, sum(failed_sessions) AS n FROM failure_daily GROUP BY 1, 2")
        self.assertEqual({(r["policy_domain"], r["policy_type"]): r["n"] for r in frows},
                         {k: v for k, v in failures.items() if v and k[0]})

        reports = sql(db, "SELECT status, transport, count(*) AS n FROM reports GROUP BY 1, 2 ORDER BY 1")
        self.assertEqual(reports, [{"status": s, "transport": "import", "n": n} for s, n in statuses])
        self.assertEqual(sql(db, "SELECT count(*) AS n FROM report_raw")[0]["n"], raw_reports)

        # Second import: nothing new, nothing counted twice.
        before = sql(db, "SELECT * FROM policy_daily ORDER BY 1, 2, 3, 4")
        second = tlsrptd("report", "import", "--db", db, *args)
        self.assertEqual(second.returncode, 65)
        got2 = outcome_lines(second.stdout)
        for name, want in expected.items():
            self.assertTrue(got2[name].startswith("rejected" if want == "rejected" else "duplicate"), (name, got2[name]))
        self.assertEqual(sql(db, "SELECT * FROM policy_daily ORDER BY 1, 2, 3, 4"), before)

        # stats --format json agrees with the views.
        st = tlsrptd("stats", "--db", db, "--format", "json", check=True)
        stats = json.loads(st.stdout)
        by_key = {(s["policy_domain"], s["policy_type"]): s for s in stats}
        for (dom, typ, kind), n in totals.items():
            if not n and (dom, typ) not in by_key:
                continue  # unattributed once, attributed by a later copy
            field = "successful_sessions" if kind == "ok" else "failed_sessions"
            self.assertEqual(by_key[(dom, typ)][field], n, (dom, typ, kind))
        return got, by_key


class ImportQuirkCorpus(ImportTwice):
    def test_import_folder_twice_then_query(self):
        folder = self.path("reports")
        os.makedirs(folder)
        names = sorted(f for f in os.listdir(QUIRKS) if is_report_or_mail(f))
        self.assertEqual(set(names), set(QUIRK_EXPECTED), "tests/corpus changed: update QUIRK_EXPECTED")
        for f in names:
            shutil.copy(os.path.join(QUIRKS, f), folder)
        got, by_key = self.import_twice_then_query(
            [folder], [os.path.join(folder, f) for f in names], QUIRK_EXPECTED,
            "33 files: 24 stored, 7 duplicate, 1 conflict, 1 rejected", [("conflict", 1), ("stored", 24)], 25)
        self.assertIn("is before start-datetime", got["generic-start-after-end.json"])

        # Hand-added from the files: the RFC example's structure (rfc8460-example-mail.eml,
        # 5326/303) beside two smaller reports for the same policy (-mx-host-string 5326/0,
        # -draft-failure-error-code 10/3, whose RFC-named copy is not counted again).
        rfc = by_key[("company-y.example", "sts")]
        self.assertEqual((rfc["successful_sessions"], rfc["failed_sessions"]), (10662, 306))
        self.assertAlmostEqual(rfc["success_rate"], 10662 / 10968, places=9)
        self.assertEqual(
            sorted((f["result_type"], f["receiving_mx_hostname"], f["failed_sessions"]) for f in rfc["failures"]),
            [("certificate-expired", "mx1.mail.company-y.example", 100),
             ("starttls-not-supported", "mx2.mail.company-y.example", 200),
             ("validation-failure", "mx-backup.mail.company-y.example", 6)])
        # Microsoft's fetch error names no MX host (microsoft-sts-fetch-error-without-ips.json).
        self.assertIn({"result_type": "sts-policy-fetch-error", "receiving_mx_hostname": None, "failed_sessions": 3},
                      by_key[("example.org", "sts")]["failures"])
        # Normalised on the way in: generic-utf8-bom-and-normalisation.json's "Example.COM."
        # (4/1) is example.com, with the other ten sts reports for it: google-headers-trimmed
        # 3/0, mail-auth-bare 23/0, mailru-failure-sum-mismatch 0/1, microsoft-datetime 7/0,
        # microsoft-gzip-file 2/0, parsedmarc-empty 0/1, rfc8460-abnf-name 2/2,
        # rfc8460-json-attachment 9/1, tls-rpt-monitor-unknown 2/3, stalwart-mx-host 1/0.
        com = by_key[("example.com", "sts")]
        self.assertEqual((com["successful_sessions"], com["failed_sessions"]), (53, 9))
        # An IDN policy domain is stored as its A-label.
        self.assertEqual(by_key[("xn--gpher-jua.test", "no-policy-found")]["failed_sessions"], 102)


class InteropImport(ImportTwice):
    interop = True

    def test_import_twice_then_query(self):
        files = sorted(f for f in os.listdir(CORPUS) if is_report(f))
        self.assertEqual(set(files), set(INTEROP_EXPECTED), "corpus changed: update INTEROP_EXPECTED")
        paths = [os.path.join(CORPUS, f) for f in files]
        got, by_key = self.import_twice_then_query(
            paths, paths, INTEROP_EXPECTED, f"{len(files)} files: 28 stored, 1 duplicate, 4 conflict, 1 rejected",
            [("conflict", 4), ("stored", 28)], 32)
        self.assertIn("is before start-datetime", got["unattributed-4.json"])
        rfc = by_key[("company-y.example", "sts")]
        self.assertEqual((rfc["successful_sessions"], rfc["failed_sessions"]), (5326, 303))
        self.assertAlmostEqual(rfc["success_rate"], 5326 / 5629, places=9)
        self.assertEqual(
            sorted((f["result_type"], f["receiving_mx_hostname"], f["failed_sessions"]) for f in rfc["failures"]),
            [("certificate-expired", "mx1.mail.company-y.example", 100),
             ("starttls-not-supported", "mx2.mail.company-y.example", 200),
             ("validation-failure", "mx-backup.mail.company-y.example", 3)])
        fetch = by_key[("xxxxxxxx.xx", "sts")]["failures"]
        self.assertEqual(fetch, [{"result_type": "sts-policy-fetch-error", "receiving_mx_hostname": None,
                                  "failed_sessions": 6}])


class ImportCommands(TempDirTest):

    def test_stats_filters_and_formats(self):
        # Two reports for example.com's sts policy: 2020-01-01 (23 successful) and
        # 2024-03-02 (4 successful, 1 starttls-not-supported at MX.Example.com.).
        db = self.path("s.sqlite")
        tlsrptd("report", "import", "--db", db, os.path.join(QUIRKS, "mail-auth-seven-day-range.json"),
                os.path.join(QUIRKS, "generic-utf8-bom-and-normalisation.json"), check=True)
        js = json.loads(tlsrptd("stats", "--db", db, "--format", "json", "--domain", "EXAMPLE.com",
                                "--since", "2024-01-01", check=True).stdout)
        self.assertEqual(len(js), 1)
        self.assertEqual(js[0]["successful_sessions"], 4)
        self.assertEqual(js[0]["failed_sessions"], 1)
        csv = tlsrptd("stats", "--db", db, "--format", "csv", check=True).stdout.splitlines()
        self.assertEqual(csv[0].split(",")[:4], ["policy_domain", "policy_type", "successful_sessions", "failed_sessions"])
        self.assertEqual(csv[1].split(",")[:4], ["example.com", "sts", "27", "1"])
        table = tlsrptd("stats", "--db", db, check=True).stdout
        self.assertIn("example.com", table)
        self.assertIn("- starttls-not-supported at mx.example.com: 1", table)
        bad = tlsrptd("stats", "--db", db, "--since", "2024-13-01")
        self.assertEqual(bad.returncode, 64)
        self.assertIn("--since", bad.stderr)

    def test_report_parse(self):
        ok = tlsrptd("report", "parse", os.path.join(QUIRKS, "microsoft-gzip-file.json.gz"), check=True)
        env = json.loads(ok.stdout)
        self.assertEqual(env["report"]["report-id"], "133986528004215873+example.com")
        self.assertTrue(env["compressed"])
        self.assertEqual(env["day"], "2025-08-03")
        bad = tlsrptd("report", "parse", os.path.join(QUIRKS, "generic-start-after-end.json"))
        self.assertEqual(bad.returncode, 65)
        self.assertIn("rejected: date-range: end-datetime", bad.stderr)
        missing = tlsrptd("report", "parse", self.path("nope.json"))
        self.assertEqual(missing.returncode, 66)

    def test_default_database_is_created_beside_the_working_directory(self):
        p = tlsrptd("report", "import", os.path.join(QUIRKS, "stalwart-contact-info-null.json"), cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(self.path("var", "tlsrptd.sqlite")))

    def test_nothing_partial_from_broken_input(self):
        db = self.path("b.sqlite")
        bad = self.path("bad.json")
        with open(bad, "w") as f:
            f.write('{"organization-name":"O","date-range":{"start-datetime":"2024-01-01T00:00:00Z",'
                    '"end-datetime":"2024-01-02T00:00:00Z"},"report-id":"x","policies":[{"policy":'
                    '{"policy-type":"sts","policy-domain":"e.example"},"summary":{"total-successful-session-count":1,'
                    '"total-failure-session-count":0}},{"policy":{"policy-type":"sts"},"summary":'
                    '{"total-successful-session-count":-1}}]}')
        p = tlsrptd("report", "import", "--db", db, bad)
        self.assertEqual(p.returncode, 65)
        self.assertIn("policies[1].summary.total-successful-session-count: a session count must not be negative",
                      p.stdout)
        self.assertEqual(sql(db, "SELECT count(*) AS n FROM report")[0]["n"], 0)
        self.assertEqual(sql(db, "SELECT count(*) AS n FROM policy")[0]["n"], 0)


if __name__ == "__main__":
    main()
