"""End to end: one intake for every channel. The same probes go through HTTPS (curl),
SMTP and LMTP (Python smtplib), a Maildir drop and `tlsrptd report import`, into one
real `tlsrptd serve` with DKIM keys served by dnsmasq, and each outcome must be the
cell of README.md's "what every channel checks" table (read from the README, so the
table and the binary cannot drift apart). Then the metrics of every daemon channel
must agree with what was committed, and domainless policies must have been counted
for the domain the report was sent for.

Extra run (InteropDomainless, `--interop`, ctest e2e.test_channels.interop): the
external interop corpus's reports with policies that name no policy-domain (the
Postfix reporter's no-policy-found), by mail with their TLS-Report-Domain and over
HTTPS to a per-domain path, each counted under that domain; skipped, saying so, where
the corpus is absent."""
import gzip
import json
import os
import re
import smtplib
import time
import urllib.request

from support import (CORPUS, SOURCE, TLSRPTD, Daemon, DkimKey, TempDirTest, as_service_user, curl, free_port, main, run,
                     sql)

CHANNELS = ("HTTPS", "SMTP", "LMTP", "Maildir", "import")
DAY = "2026-11-27"


def channel_table():
    """{probe: {channel: expected outcome}} from README.md's channel table."""
    with open(os.path.join(SOURCE, "README.md"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"<!-- channel-table:begin -->\n(.*?)<!-- channel-table:end -->", text, re.S).group(1)
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()]
    header, table = rows[0], {}
    assert header[2:] == list(CHANNELS), header
    for cells in rows[2:]:
        probe = cells[1].strip("`")
        table[probe] = dict(zip(CHANNELS, cells[2:]))
    return table


def report(probe, channel):
    """The probe's report for one channel (report-ids differ per channel, so channels
    do not deduplicate each other's probes)."""
    org, day = "Reporter Org", DAY
    rid = f"{probe}-{channel}"
    policies = [("sts", "example.com", 10, 1)]
    if probe in ("again", "other-content"):
        rid = f"valid-{channel}"
    if probe == "other-content":
        policies = [("sts", "example.com", 11, 1)]
    elif probe == "over-limits":
        policies = [("sts", "example.com", 10, 6)]  # [limits] max_failure_details = 5
    elif probe == "not-served":
        policies = [("sts", "other.org", 10, 1)]
    elif probe == "partly-served":
        policies = [("sts", "other.org", 7, 0), ("sts", "example.com", 10, 1)]
    elif probe == "future":
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    elif probe == "domainless":
        policies = [("no-policy-found", None, 3, 0)]
    elif probe == "impersonation":
        org = "Google Inc."
    out = []
    for ptype, domain, ok, failed in policies:
        pol = {"policy-type": ptype}
        if domain:
            pol["policy-domain"] = domain
        entry = {"policy": pol, "summary": {"total-successful-session-count": ok,
                                             "total-failure-session-count": failed}}
        if failed:
            entry["failure-details"] = [{"result-type": "validation-failure", "receiving-mx-hostname": f"mx{i}.{domain}",
                                         "failed-session-count": 1} for i in range(failed)]
        out.append(entry)
    return json.dumps({"organization-name": org, "contact-info": "tlsrpt@reporter.example", "report-id": rid,
                       "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
                       "policies": out}).encode()


def report_mail(body, report_domain="example.com", sender="reporter.example"):
    """RFC 8460 §5.3: multipart/report with the gzipped report, as the Postfix reporter sends it."""
    import base64
    b64 = base64.encodebytes(gzip.compress(body, mtime=0)).replace(b"\n", b"\r\n")
    head = (f"From: reports@{sender}\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: {report_domain}\r\n"
            f"Date: Sat, 28 Nov 2026 01:00:00 +0000\r\nMessage-ID: <{time.time_ns()}@{sender}>\r\n"
            f"MIME-Version: 1.0\r\nTLS-Report-Domain: {report_domain}\r\nTLS-Report-Submitter: {sender}\r\n"
            'Content-Type: multipart/report; report-type="tlsrpt"; boundary="b"\r\n\r\n')
    parts = ("--b\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report.\r\n\r\n"
             "--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
             'Content-Disposition: attachment; filename="r.json.gz"\r\nContent-Transfer-Encoding: base64\r\n\r\n')
    return head.encode() + parts.encode() + b64 + b"\r\n--b--\r\n"


def smtp_outcome(code, text):
    if code != 250:
        return "refused" if code >= 500 else f"deferred {code}"
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    if "already stored" in text:
        return "duplicate"
    if "conflicts" in text:
        return "conflict"
    if "kept but not counted" in text:
        return "held"
    return "stored" if "report stored" in text else f"? {text}"


class Channels(TempDirTest):
    """The README's channel table, cell by cell, against the real binary."""

    def setUp(self):
        super().setUp()
        self.dkim = DkimKey(self.path("keys"), ["reporter.example", "other-signer.example"])
        self.dns = self.dkim.dns
        self.smtp_port, self.lmtp_port = free_port(), free_port()
        self.maildir = self.path("Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        if os.geteuid() == 0:
            run(["chown", "-R", "tlsrptd", self.maildir], check=True)
        self.d = Daemon(self.tmp, top_config='domains = ["example.com"]\n', extra_config='path = "/v1/"\n', sections=(
            f'[limits]\nmax_failure_details = 5\n'
            f'[smtp]\nlisten = ["127.0.0.1:{self.smtp_port}"]\nlmtp_listen = ["127.0.0.1:{self.lmtp_port}"]\n'
            f'dkim = "require"\n'
            f'[maildir]\npaths = ["{self.maildir}"]\nrescan_interval = "1s"\n'
            f'[dns]\nservers = ["{self.dns.server}"]\ntimeout = "2s"\n')).start()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.read_log())
        finally:
            self.dns.stop()
            super().tearDown()

    def sign(self, message, domain):
        return self.dkim.sign(message, domain)

    def mail_for(self, probe, channel):
        m = report_mail(report(probe, channel))
        if probe == "unsigned":
            return m
        return self.sign(m, "other-signer.example" if probe == "unaligned" else "reporter.example")

    # One submission per channel; each returns the outcome word of the table.

    def via_https(self, probe):
        path = "/v1/example.com" if probe == "domainless" else "/v1/"
        status, _, body = curl(self.d.url(path), data=report(probe, "HTTPS"), content_type="application/tlsrpt+json")
        if status != 200:
            return "refused" if 400 <= status < 500 else f"status {status}"
        return json.loads(body)["status"]

    def via_smtp(self, probe, lmtp=False):
        channel = "LMTP" if lmtp else "SMTP"
        client = smtplib.LMTP("127.0.0.1", self.lmtp_port) if lmtp else smtplib.SMTP("127.0.0.1", self.smtp_port)
        with client as s:
            s.ehlo("sender.test")
            s.mail("bounces@reporter.example")
            s.rcpt("tlsrpt@example.com")
            try:
                code, text = s.data(self.mail_for(probe, channel))
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
        return smtp_outcome(code, text)

    def via_maildir(self, probe):
        name = f"{time.time_ns()}.{probe}.test"
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(self.mail_for(probe, "Maildir"))
        new = os.path.join(self.maildir, "new", name)
        os.rename(tmp, new)  # how an MDA delivers: tmp/ then new/
        deadline = time.time() + 60
        while os.path.exists(new) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(new), f"{probe}: still in new/: {self.d.read_log()}")
        if not any(f.startswith(name) for f in os.listdir(os.path.join(self.maildir, "cur"))):
            return "refused"
        held = sql(self.d.db, f"SELECT count(*) AS n FROM held_reports WHERE source = '{new}'", service=True)
        if held[0]["n"]:
            return "held"
        rows = sql(self.d.db, f"SELECT status FROM reports WHERE source = '{new}'", service=True)
        return rows[0]["status"] if rows else "duplicate"

    def via_import(self, probe):
        path = self.path(f"import-{probe}.eml")
        with open(path, "wb") as f:
            f.write(self.mail_for(probe, "import"))
        p = run(as_service_user([TLSRPTD, "report", "import", "--no-progress", "--config", self.d.config, path]))
        line = next(line for line in p.stdout.splitlines() if line.startswith(path + ": "))
        word = line[len(path) + 2:].split()[0].rstrip(",:")
        return "refused" if word == "rejected" else word

    def test_every_channel_checks_the_same(self):
        table = channel_table()
        self.assertGreaterEqual(len(table), 10)
        submit = {"HTTPS": self.via_https, "SMTP": self.via_smtp, "LMTP": lambda p: self.via_smtp(p, lmtp=True),
                  "Maildir": self.via_maildir, "import": self.via_import}
        got = {}
        for probe, cells in table.items():
            for channel in CHANNELS:
                got[(probe, channel)] = submit[channel](probe)
        wrong = {k: (got[k], table[k[0]][k[1]]) for k in got if got[k] != table[k[0]][k[1]]}
        self.assertEqual(wrong, {}, "(probe, channel): (got, README says)")

        self.check_counted_domains()
        self.check_metrics(table)

    def check_counted_domains(self):
        """Domainless policies counted for example.com on every channel; the other.org
        policy of partly-served left out of the counts everywhere."""
        rows = sql(self.d.db, "SELECT r.report_id, p.policy_domain FROM reports r JOIN policy p ON p.report = r.id "
                              "WHERE r.report_id LIKE 'domainless-%' OR r.report_id LIKE 'partly-served-%' "
                              "ORDER BY 1, 2", service=True)
        self.assertEqual({(r["report_id"], r["policy_domain"]) for r in rows},
                         {(f"{p}-{c}", "example.com") for p in ("domainless", "partly-served") for c in CHANNELS})

    def check_metrics(self, table):
        """tlsrptd_reports_total per daemon channel matches the table's cells, and
        tlsrptd_sessions_total what the commits counted (import runs in its own
        process: its metrics are not the daemon's)."""
        text = urllib.request.urlopen(self.d.admin("/metrics"), timeout=10).read().decode()

        def metric(name, **labels):
            total = 0.0
            for line in text.splitlines():
                head, _, value = line.rpartition(" ")
                if head.startswith(name + "{") and all(f'{k}="{v}"' in head for k, v in labels.items()):
                    total += float(value)
            return total

        token = {"HTTPS": "https", "SMTP": "smtp", "LMTP": "lmtp", "Maildir": "maildir"}
        for channel, label in token.items():
            for outcome, metric_outcome in (("stored", "stored"), ("duplicate", "duplicate"),
                                            ("conflict", "conflict"), ("held", "held"), ("refused", "rejected")):
                want = sum(1 for cells in table.values() if cells[channel] == outcome)
                self.assertEqual(metric("tlsrptd_reports_total", channel=label, outcome=metric_outcome), want,
                                 (channel, outcome))
        counted = sql(self.d.db, "SELECT CAST(TOTAL(p.successful_sessions) AS INTEGER) AS n FROM reports r "
                                 "JOIN policy p ON p.report = r.id WHERE r.status = 'stored' "
                                 "AND r.transport <> 'import' AND p.policy_domain = 'example.com'", service=True)
        self.assertEqual(metric("tlsrptd_sessions_total", policy_domain="example.com", result="successful"),
                         counted[0]["n"])


def corpus_report(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".eml"):
        import email
        msg = email.message_from_bytes(data)
        part = next(p for p in msg.walk() if p.get_content_type().startswith("application/tlsrpt"))
        body = part.get_payload(decode=True)
        return data, body, (msg.get("TLS-Report-Domain") or "").strip().lower()
    return data, data, ""


def domainless(body):
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    try:
        d = json.loads(body.decode("utf-8-sig"))
    except ValueError:
        return None
    if not isinstance(d, dict) or not isinstance(d.get("policies"), list):
        return None
    n = sum(1 for p in d["policies"] if isinstance(p, dict) and not (p.get("policy") or {}).get("policy-domain"))
    return (d.get("organization-name"), d.get("report-id"), n) if n else None


class InteropDomainless(TempDirTest):
    """The interop corpus's domainless reports, by mail and over a per-domain path."""
    interop = True

    def setUp(self):
        super().setUp()
        self.smtp_port = free_port()
        self.d = Daemon(self.tmp, extra_config='path = "/v1/"\n', sections=(
            f'[smtp]\nlisten = ["127.0.0.1:{self.smtp_port}"]\ndkim = "off"\n')).start()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.read_log())
        finally:
            super().tearDown()

    def test_domainless_reports_count_for_the_domain_they_were_sent_for(self):
        found = []
        for name in sorted(os.listdir(CORPUS)):
            path = os.path.join(CORPUS, name)
            if not name.endswith((".eml", ".json", ".json.gz", ".gz")):
                continue
            raw, body, report_domain = corpus_report(path)
            key = domainless(body)
            if not key:
                continue
            if name.endswith(".eml"):
                with smtplib.SMTP("127.0.0.1", self.smtp_port) as s:
                    s.sendmail("reporter@example.org", ["tlsrpt@example.com"], raw)
                want = report_domain
            else:
                want = "per-domain.example"
                status, _, out = curl(self.d.url("/v1/" + want), data=raw, content_type="application/tlsrpt+gzip")
                self.assertEqual(status, 200, (name, out))
            found.append((name, key, want))
        self.assertTrue(any(n.endswith(".eml") for n, _, _ in found), found)
        self.assertTrue(any(not n.endswith(".eml") for n, _, _ in found), found)
        for name, (org, rid, n), want in found:
            rows = sql(self.d.db, "SELECT p.policy_domain, p.policy_type FROM reports r JOIN policy p "
                                  f"ON p.report = r.id WHERE r.report_id = '{rid}'", service=True)
            self.assertGreaterEqual(len(rows), n, name)
            self.assertIn(want, {r["policy_domain"] for r in rows}, (name, rows))
            self.assertNotIn("", {r["policy_domain"] for r in rows}, (name, rows))


if __name__ == "__main__":
    main()
