"""End to end: `tlsrptd report import` of the shared corpus, twice, then `stats --format
json` and SQL on the documented views through the sqlite3 client. The expected totals
are computed here with Python's json module (no code shared with tlsrptd), applying
the documented dedupe rule: the first report with an (organization-name, report-id)
is counted; the same key with other content is kept as a conflict and not counted."""
import collections
import gzip
import json
import os

from support import CORPUS, TempDirTest, main, sql, tlsrptd

# Hand-written from the corpus files (SOURCES.md explains the relations).
EXPECTED = {
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


def report_files():
    return sorted(f for f in os.listdir(CORPUS) if f.endswith(".json") or f.endswith(".json.gz"))


def load(name):
    raw = open(os.path.join(CORPUS, name), "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def outcome_lines(stdout):
    out = {}
    for line in stdout.splitlines():
        path, sep, rest = line.partition(": ")
        if sep and os.path.isabs(path):
            out[os.path.basename(path)] = rest
    return out


class ImportCorpus(TempDirTest):
    def test_import_twice_then_query(self):
        files = report_files()
        self.assertEqual(set(files), set(EXPECTED), "corpus changed: update EXPECTED")
        db = self.path("var", "t.sqlite")
        paths = [os.path.join(CORPUS, f) for f in files]

        first = tlsrptd("report", "import", "--db", db, *paths)
        self.assertEqual(first.returncode, 65, first.stderr)  # one file is rejected
        got = outcome_lines(first.stdout)
        for name, want in EXPECTED.items():
            self.assertTrue(got[name].startswith(want), f"{name}: {got[name]!r}, want {want}")
        self.assertIn("is before start-datetime", got["unattributed-4.json"])
        self.assertTrue(first.stdout.rstrip().endswith(
            f"{len(files)} files: 28 stored, 1 duplicate, 4 conflict, 1 rejected"), first.stdout)

        # Independent oracle: first occurrence of each key counts.
        counted, totals = set(), collections.Counter()
        failures = collections.Counter()
        for name in files:
            if EXPECTED[name] != "stored":
                continue
            d = load(name)
            key = (d["organization-name"], d["report-id"])
            self.assertNotIn(key, counted)
            counted.add(key)
            for p in d["policies"]:
                pol, s = p["policy"], p.get("summary", {})
                k = (pol.get("policy-domain", ""), pol["policy-type"])
                totals[k + ("ok",)] += s.get("total-successful-session-count", 0)
                totals[k + ("fail",)] += s.get("total-failure-session-count", 0)
                for f in p.get("failure-details") or []:
                    failures[k] += f.get("failed-session-count", 0)

        rows = sql(db, "SELECT policy_domain, policy_type, sum(successful_sessions) AS ok, "
                       "sum(failed_sessions) AS fail FROM policy_daily GROUP BY 1, 2")
        self.assertEqual(len(rows), len({k[:2] for k in totals}))
        for r in rows:
            k = (r["policy_domain"], r["policy_type"])
            self.assertEqual(r["ok"], totals[k + ("ok",)], k)
            self.assertEqual(r["fail"], totals[k + ("fail",)], k)
        frows = sql(db, "SELECT policy_domain, policy_type, sum(failed_sessions) AS n FROM failure_daily GROUP BY 1, 2")
        self.assertEqual({(r["policy_domain"], r["policy_type"]): r["n"] for r in frows},
                         {k: v for k, v in failures.items() if v})

        reports = sql(db, "SELECT status, transport, count(*) AS n FROM reports GROUP BY 1, 2 ORDER BY 1")
        self.assertEqual(reports, [{"status": "conflict", "transport": "import", "n": 4},
                                   {"status": "stored", "transport": "import", "n": 28}])
        raw = sql(db, "SELECT count(*) AS n FROM report_raw")
        self.assertEqual(raw[0]["n"], 32)

        # Second import: nothing new, nothing counted twice.
        before = sql(db, "SELECT * FROM policy_daily ORDER BY 1, 2, 3, 4")
        second = tlsrptd("report", "import", "--db", db, *paths)
        self.assertEqual(second.returncode, 65)
        got2 = outcome_lines(second.stdout)
        for name, want in EXPECTED.items():
            self.assertTrue(got2[name].startswith("rejected" if want == "rejected" else "duplicate"), (name, got2[name]))
        self.assertEqual(sql(db, "SELECT * FROM policy_daily ORDER BY 1, 2, 3, 4"), before)

        # stats --format json agrees with the views.
        st = tlsrptd("stats", "--db", db, "--format", "json", check=True)
        stats = json.loads(st.stdout)
        by_key = {(s["policy_domain"], s["policy_type"]): s for s in stats}
        for (dom, typ, kind), n in totals.items():
            field = "successful_sessions" if kind == "ok" else "failed_sessions"
            self.assertEqual(by_key[(dom, typ)][field], n, (dom, typ, kind))
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

    def test_stats_filters_and_formats(self):
        db = self.path("s.sqlite")
        tlsrptd("report", "import", "--db", db, os.path.join(CORPUS, "parsedmarc-3.json"),
                os.path.join(CORPUS, "mail-auth-2.json"), check=True)
        js = json.loads(tlsrptd("stats", "--db", db, "--format", "json", "--domain", "EXAMPLE.com",
                                "--since", "2024-01-01", check=True).stdout)
        self.assertEqual(len(js), 1)
        self.assertEqual(js[0]["successful_sessions"], 0)
        self.assertEqual(js[0]["failed_sessions"], 3)
        csv = tlsrptd("stats", "--db", db, "--format", "csv", check=True).stdout.splitlines()
        self.assertEqual(csv[0].split(",")[:4], ["policy_domain", "policy_type", "successful_sessions", "failed_sessions"])
        self.assertEqual(csv[1].split(",")[:4], ["example.com", "sts", "23", "4"])
        table = tlsrptd("stats", "--db", db, check=True).stdout
        self.assertIn("example.com", table)
        self.assertIn("- validation-failure at example.com: 3", table)
        self.assertIn("- certificate-host-mismatch at demo.example.com: 1", table)
        bad = tlsrptd("stats", "--db", db, "--since", "2024-13-01")
        self.assertEqual(bad.returncode, 64)
        self.assertIn("--since", bad.stderr)

    def test_report_parse(self):
        ok = tlsrptd("report", "parse", os.path.join(CORPUS, "tls-rpt-monitor-1.json.gz"), check=True)
        env = json.loads(ok.stdout)
        self.assertEqual(env["report"]["report-id"], "133988091029006454+josh.scot")
        self.assertTrue(env["compressed"])
        self.assertEqual(env["day"], "2025-08-03")
        bad = tlsrptd("report", "parse", os.path.join(CORPUS, "unattributed-4.json"))
        self.assertEqual(bad.returncode, 65)
        self.assertIn("rejected: date-range: end-datetime", bad.stderr)
        missing = tlsrptd("report", "parse", self.path("nope.json"))
        self.assertEqual(missing.returncode, 66)

    def test_default_database_is_created_beside_the_working_directory(self):
        p = tlsrptd("report", "import", os.path.join(CORPUS, "mox-6.json"), cwd=self.tmp)
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
