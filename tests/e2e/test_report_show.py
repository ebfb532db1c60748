"""End to end: `report list` and `report show ID` over imported reports. They only
read: a missing database is exit 66 and nothing is created, as for `stats`. `show`
has the identity (reporter, signer, authentication), status, mail headers, notes and
every policy with its failure-details; `--raw` gives back the submitted bytes exactly;
sender text reaches the terminal escaped, and JSON without raw C0 or C1 controls."""
import json
import os
import subprocess

from support import QUIRKS, TLSRPTD, TempDirTest, main, sql, tlsrptd

GOOGLE_EML = os.path.join(QUIRKS, "google-multipart-gzip-base64.eml")
BOM_JSON = os.path.join(QUIRKS, "generic-utf8-bom-and-normalisation.json")
MS_GZIP = os.path.join(QUIRKS, "microsoft-gzip-file.json.gz")
NO_DOMAIN = os.path.join(QUIRKS, "tlsrpt-reporter-policy-domain-missing.json")


def report(org="Company-X", report_id="show-1", failed=3, day="2026-11-20"):
    return {
        "organization-name": org,
        "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": "tlsrpt@company-x.example",
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                       "policy-domain": "company-y.example", "mx-host": ["*.mail.company-y.example"]},
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": failed},
            "failure-details": [{"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
                                 "receiving-mx-hostname": "mx.mail.company-y.example",
                                 "failed-session-count": failed}],
        }],
    }


class ReportShow(TempDirTest):
    def setUp(self):
        super().setUp()
        self.env = {k: v for k, v in os.environ.items() if k != "TLSRPTD_CONFIG"}
        self.db = self.path("db.sqlite")
        self.first = self.write("first.json", report())
        # The same reporter, organization-name and report-id with other content: a conflict.
        self.second = self.write("second.json", report(failed=4))
        p = self.cli("report", "import", "--no-progress", GOOGLE_EML, BOM_JSON, MS_GZIP, NO_DOMAIN, self.first,
                     self.second)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"{self.second}: conflict", p.stdout)
        rows = sql(self.db, "SELECT id, source FROM report")
        self.ids = {os.path.basename(r["source"]): r["id"] for r in rows}

    def write(self, name, obj):
        path = self.path(name)
        with open(path, "w") as f:
            json.dump(obj, f)
        return path

    def cli(self, *args):
        return tlsrptd("--system-config", self.path("no-system.toml"), "--db", self.db, *args, env=self.env)

    def show(self, name, *extra):
        p = self.cli("report", "show", str(self.ids[name]), *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_list_is_newest_day_first_with_status_and_sessions(self):
        p = self.cli("report", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "DAY", "ORGANIZATION", "REPORT-ID", "REPORTER", "STATUS",
                                            "TRANSPORT", "SUCCESSFUL", "FAILED"])
        self.assertEqual(len(lines), 7)
        days = [line.split()[1] for line in lines[1:]]
        self.assertEqual(days, sorted(days, reverse=True))
        conflict = next(line for line in lines if line.split()[0] == str(self.ids["second.json"]))
        self.assertEqual(conflict.split()[-4:], ["conflict", "import", "10", "4"])
        # Report-ids are cut in the list, whole in `show`.
        self.assertIn("2026-11-28T00:00:00Z_idx1_exampl…", p.stdout)

    def test_list_json_and_filters(self):
        rows = json.loads(self.cli("report", "list", "--format", "json").stdout)
        self.assertEqual(len(rows), 6)
        google = next(r for r in rows if r["id"] == self.ids["google-multipart-gzip-base64.eml"])
        self.assertEqual(google, {
            "id": google["id"], "day": "2024-09-15", "organization_name": "Google Inc.",
            "report_id": "2024-09-15T00:00:00Z_example.org",
            "reporter": "org:Google Inc. <smtp-tls-reporting@google.com>", "signing_domain": None,
            "status": "stored", "transport": "import", "received_at": google["received_at"], "policies": 1,
            "successful_sessions": 7, "failed_sessions": 1})

        def ids(*args):
            p = self.cli("report", "list", "--format", "json", *args)
            self.assertEqual(p.returncode, 0, p.stderr)
            return [r["id"] for r in json.loads(p.stdout)]

        self.assertEqual(ids("--status", "conflict"), [self.ids["second.json"]])
        self.assertEqual(ids("--domain", "Example.ORG"), [self.ids["google-multipart-gzip-base64.eml"]])
        self.assertEqual(ids("--since", "2025-01-01", "--until", "2025-12-31"), [self.ids["microsoft-gzip-file.json.gz"]])
        self.assertEqual(len(ids("--limit", "2")), 2)
        self.assertEqual(len(ids("--limit", "0")), 6)
        self.assertEqual(self.cli("report", "list", "--since", "2025-02-30").returncode, 64)
        self.assertEqual(self.cli("report", "list", "--status", "held").returncode, 64)
        p = self.cli("report", "list", "--until", "2000-01-01")
        self.assertEqual(p.stdout, "no reports stored for this selection\n")

    def test_show_a_mailed_report(self):
        out = self.show("google-multipart-gzip-base64.eml")
        for line in ("stored (counted)", "organization-name     Google Inc.",
                     "reporter              org:Google Inc. <smtp-tls-reporting@google.com>",
                     "signed by             not authenticated by DKIM", "authentication        authenticated (import)",
                     "date-range            2024-09-15T00:00:00Z .. 2024-09-15T23:59:59Z",
                     "TLS-Report-Domain     example.org", "Subject               Report Domain: example.org",
                     "data-quality notes: none", "policy 1 of 1: sts example.org", "mx-host               *.mx.example.org",
                     "sessions              7 successful, 1 failed",
                     "failure               certificate-host-mismatch: 1 session",
                     "receiving-mx-hostname mx1.mx.example.org"):
            self.assertIn(line, out)

    def test_show_notes_unattributed_policy_and_conflict(self):
        out = self.show("generic-utf8-bom-and-normalisation.json")
        self.assertIn("  - utf8-bom: byte order mark ignored\n", out)
        self.assertIn("  - ip-address-normalised at policies[0].failure-details[0].sending-mta-ip", out)
        self.assertNotIn("\nmail\n", out, "an imported JSON file has no mail headers")
        out = self.show("tlsrpt-reporter-policy-domain-missing.json")
        self.assertIn("policy 1 of 1: no-policy-found (no policy-domain)", out)
        # A sender's CR LF stays on one line.
        self.assertIn("receiving-mx-helo 250-mx.example.test\\r\\n250-PIPELINING", out)
        out = self.show("second.json")
        self.assertIn(f"report {self.ids['second.json']}: conflict (kept, not counted", out)

    def test_show_json(self):
        doc = json.loads(self.show("first.json", "--format", "json"))
        self.assertEqual(doc["status"], "stored")
        self.assertEqual(doc["reporter"], "org:Company-X <tlsrpt@company-x.example>")
        self.assertIsNone(doc["signing_domain"])
        self.assertIs(doc["authenticated"], True)
        self.assertIsNone(doc["mail"])
        self.assertEqual(doc["notes"], [])
        self.assertEqual(doc["raw"]["bytes"], os.path.getsize(self.first))
        self.assertEqual(doc["policies"], [{
            "policy_type": "sts", "policy_domain": "company-y.example",
            "policy_strings": ["version: STSv1", "mode: testing"], "mx_hosts": ["*.mail.company-y.example"],
            "successful_sessions": 10, "failed_sessions": 3,
            "failure_details": [{"result_type": "validation-failure", "failed_sessions": 3,
                                 "sending_mta_ip": "198.51.100.62", "receiving_mx_hostname": "mx.mail.company-y.example",
                                 "receiving_mx_helo": None, "receiving_ip": None, "additional_information": None,
                                 "failure_reason_code": None}]}])
        doc = json.loads(self.show("google-multipart-gzip-base64.eml", "--format", "json"))
        self.assertEqual(doc["mail"]["tls_report_submitter"], "google.com")
        self.assertEqual(doc["raw"]["media_type"], "message/rfc822")
        notes = json.loads(self.show("generic-utf8-bom-and-normalisation.json", "--format", "json"))["notes"]
        self.assertEqual(notes[0], {"code": "utf8-bom", "where": "", "detail": "byte order mark ignored"})

    def test_show_the_aligned_signer(self):
        # Imports are never DKIM-checked; the row a verified mail leaves is set here
        # directly (the store's DKIM path has its own tests: e2e.test_smtp, StoreTest.*).
        rid = self.ids["google-multipart-gzip-base64.eml"]
        sql(self.db, f"UPDATE report SET signing_domain = 'google.com', reporter = 'dkim:google.com' WHERE id = {rid}; "
                     f"UPDATE report_auth SET method = 'dkim pass d=google.com' WHERE report = {rid}")
        out = self.show("google-multipart-gzip-base64.eml")
        self.assertIn("signed by             google.com (aligned DKIM signature)", out)
        self.assertIn("reporter              dkim:google.com", out)
        doc = json.loads(self.show("google-multipart-gzip-base64.eml", "--format", "json"))
        self.assertEqual((doc["signing_domain"], doc["auth_method"]), ("google.com", "dkim pass d=google.com"))

    def test_raw_is_the_submitted_bytes(self):
        for name, path in (("google-multipart-gzip-base64.eml", GOOGLE_EML), ("microsoft-gzip-file.json.gz", MS_GZIP),
                           ("first.json", self.first)):
            with self.subTest(name=name), open(path, "rb") as f:
                p = self.cli_bytes("report", "show", str(self.ids[name]), "--raw")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, f.read())
        # The bytes parse again to the same report.
        raw = self.path("again.eml")
        with open(raw, "wb") as f:
            f.write(self.cli_bytes("report", "show", str(self.ids["google-multipart-gzip-base64.eml"]), "--raw").stdout)
        parsed = json.loads(tlsrptd("report", "parse", raw, env=self.env, check=True).stdout)
        self.assertEqual(parsed["report"]["report-id"], "2024-09-15T00:00:00Z_example.org")

    def cli_bytes(self, *args):
        """Like cli(), with stdout as bytes: what a terminal would be sent."""
        return subprocess.run([TLSRPTD, "--system-config", self.path("no-system.toml"), "--db", self.db, *args],
                              capture_output=True, timeout=60, env=self.env)

    def test_missing_id_is_exit_66(self):
        for extra in ([], ["--raw"], ["--format", "json"]):
            with self.subTest(extra=extra):
                p = self.cli("report", "show", "9999", *extra)
                self.assertEqual(p.returncode, 66, p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertIn("no report 9999", p.stderr)

    def test_sender_control_characters_are_escaped(self):
        nasty = self.write("nasty.json", report(org="Evil\u009b2J Org\u001b[31m red", report_id="nasty\u001b]0;x\u0007"))
        self.assertEqual(self.cli("report", "import", "--no-progress", nasty).returncode, 0)
        rid = sql(self.db, "SELECT max(id) AS id FROM report")[0]["id"]
        for args in (["report", "show", str(rid)], ["report", "list"], ["report", "show", str(rid), "--format", "json"],
                     ["report", "list", "--format", "json"]):
            with self.subTest(args=args):
                p = self.cli_bytes(*args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertNotIn(b"\x1b", p.stdout)
                self.assertNotIn(b"\x07", p.stdout)
                self.assertNotIn("\u009b".encode(), p.stdout, "a raw C1 CSI")
        out = self.cli("report", "show", str(rid)).stdout
        self.assertIn("organization-name     Evil\\xc2\\x9b2J Org\\x1b[31m red\n", out)
        self.assertIn("report-id             nasty\\x1b]0;x\\x07\n", out)
        doc = json.loads(self.cli("report", "show", str(rid), "--format", "json").stdout)
        self.assertEqual(doc["organization_name"], "Evil\u009b2J Org\u001b[31m red", "JSON escapes, not loses, them")


class ReadOnly(TempDirTest):
    def test_missing_database_is_exit_66_and_nothing_is_created(self):
        env = {k: v for k, v in os.environ.items() if k != "TLSRPTD_CONFIG"}
        parent = self.path("x")
        db = os.path.join(parent, "db.sqlite")
        for cmd in (["report", "show", "1"], ["report", "show", "1", "--raw"], ["report", "list"]):
            with self.subTest(cmd=cmd):
                p = tlsrptd("--system-config", self.path("no-system.toml"), *cmd, "--db", db, env=env)
                self.assertEqual(p.returncode, 66, p.stderr)
                self.assertIn(f"no database at {db} (given by --db)", p.stderr)
                self.assertFalse(os.path.exists(parent), "nothing is created")


if __name__ == "__main__":
    main()
