"""End to end: mailed reports (RFC 8460 §5.3) into `tlsrptd serve` with real clients:
swaks over SMTP (plain and STARTTLS) and LMTP (TCP and a unix socket), Python smtplib
and raw sockets for pipelining and abuse, a Maildir drop, and DKIM with keys served
by dnsmasq. The counts are checked against `report import` of the same files, which
the import tests check against independently written expectations.

The mails are this repository's own (tests/corpus, support.QUIRKS). Extra run
(InteropMailChannels, `--interop`, ctest e2e.test_smtp.interop): every mail of the
external interop corpus (TLSRPT_CORPUS_DIR, not part of this repository) over SMTP
then LMTP; skipped, saying so, where it is not set or absent."""
import email
import gzip
import json
import os
import shutil
import smtplib
import socket
import subprocess
import time

from support import CORPUS, QUIRKS, Daemon, DkimKey, Dnsmasq, TempDirTest, curl, main, sql, tlsrptd



def emls(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".eml"))


def swaks(*args, data=None, timeout=60):
    cmd = ["swaks", "--hide-informational", *args]
    if data is not None:
        cmd += ["--data", "-"]
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def read(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


def quirk(name):
    """A file of tests/corpus (support.QUIRKS), this repository's own reports and mails."""
    return read(QUIRKS, name)


def report_key(data):
    """(organization-name, report-id) of a report file's bytes (.json or .json.gz) or of a
    report mail's application/tlsrpt* part: what dedupe goes by."""
    if data.lstrip()[:1] not in (b"{", b"\x1f"):
        parts = [p for p in email.message_from_bytes(data).walk()
                 if p.get_content_type().startswith("application/tlsrpt")]
        assert len(parts) == 1, len(parts)
        data = parts[0].get_payload(decode=True)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    d = json.loads(data.decode("utf-8-sig"))
    return d["organization-name"], d["report-id"]


def policy_daily(db, service=True):
    return sql(db, "SELECT day, policy_domain, policy_type, organization_name, successful_sessions, failed_sessions "
                   "FROM policy_daily ORDER BY 1, 2, 3, 4", service=service)


def recv_until(sock, needle, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while needle not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class MailChannelsTest(TempDirTest):
    """dkim = "off": the transport alone (DKIM has its own tests below)."""

    def setUp(self):
        super().setUp()
        self.smtp_port = Daemon.free_port() if hasattr(Daemon, "free_port") else None
        from support import free_port
        self.smtp_port, self.lmtp_port = free_port(), free_port()
        self.sock = os.path.join(self.tmp, "run", "lmtp.sock")
        self.maildir = os.path.join(self.tmp, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        if os.geteuid() == 0:
            for root, dirs, _ in os.walk(self.maildir):
                shutil.chown(root, "tlsrptd")
        self.d = Daemon(self.tmp, sections=(
            f'[smtp]\nlisten = ["127.0.0.1:{self.smtp_port}"]\n'
            f'lmtp_listen = ["127.0.0.1:{self.lmtp_port}", "unix:{self.sock}"]\n'
            'recipients = ["tlsrpt@example.com", "tls-reports@example.org"]\ndkim = "off"\n'
            'command_timeout = "2s"\nmax_message_bytes = "1MiB"\n'
            f'[maildir]\npaths = ["{self.maildir}"]\nrescan_interval = "1s"\n')).start()

    def tearDown(self):
        self.assertEqual(self.d.stop(), 0, self.d.read_log())
        super().tearDown()

    def expected_daily(self, files, folder=QUIRKS):
        db = self.path("oracle.sqlite")
        tlsrptd("report", "import", "--db", db, *[os.path.join(folder, f) for f in files])
        return policy_daily(db, service=False)

    def every_mail_over_smtp_then_lmtp_counted_once(self, folder):
        names = emls(folder)
        self.assertGreaterEqual(len(names), 5)
        for name in names:
            rc, out = swaks("--server", f"127.0.0.1:{self.smtp_port}", "--to", "tlsrpt@example.com",
                            "--from", "reports@sender.example", data=read(folder, name))
            self.assertEqual(rc, 0, (name, out))
            self.assertIn("250 2.0.0 report", out, name)
        daily = policy_daily(self.d.db)
        self.assertEqual(daily, self.expected_daily(names, folder))
        # The same mails again over LMTP (TCP): duplicates, one reply per recipient.
        for name in names[:5]:
            rc, out = swaks("--protocol", "LMTP", "--server", f"127.0.0.1:{self.lmtp_port}",
                            "--to", "tlsrpt@example.com,tls-reports@example.org", data=read(folder, name))
            self.assertEqual(rc, 0, out)
            self.assertIn("250 2.0.0 <tlsrpt@example.com> report already stored", out)
            self.assertIn("250 2.0.0 <tls-reports@example.org> report already stored", out)
        self.assertEqual(policy_daily(self.d.db), daily)
        rows = sql(self.d.db, "SELECT transport, count(*) AS n FROM reports GROUP BY 1", service=True)
        self.assertEqual(rows, [{"transport": "smtp", "n": sql(self.d.db, "SELECT count(*) AS n FROM reports",
                                                                  service=True)[0]["n"]}])


class MailChannels(MailChannelsTest):
    def test_every_quirk_mail_over_smtp_then_lmtp_counted_once(self):
        self.every_mail_over_smtp_then_lmtp_counted_once(QUIRKS)

    def test_starttls_and_lmtp_unix_socket(self):
        # Two mails from Microsoft (TLS-Report-Submitter: microsoft.com), two reports.
        rc, out = swaks("--server", f"127.0.0.1:{self.smtp_port}", "--tls", "--to", "tlsrpt@example.com",
                        data=quirk("microsoft-html-first-part.eml"))
        self.assertEqual(rc, 0, out)
        rc, out = swaks("--protocol", "LMTP", "--socket", self.sock, "--to", "tlsrpt@example.com",
                        data=quirk("microsoft-filename-only-in-disposition.eml"))
        self.assertEqual(rc, 0, out)
        self.assertIn("250 2.0.0 <tlsrpt@example.com> report stored", out)
        rows = sql(self.d.db, "SELECT transport, tls_report_submitter FROM reports ORDER BY id", service=True)
        self.assertEqual(rows, [{"transport": "smtp", "tls_report_submitter": "microsoft.com"},
                                {"transport": "lmtp", "tls_report_submitter": "microsoft.com"}])

    def test_smtplib_and_pipelining(self):
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=20) as s:
            code, caps = s.ehlo("client.example")
            self.assertEqual(code, 250)
            self.assertIn(b"PIPELINING", caps)
            self.assertIn(b"STARTTLS", caps)
            google = quirk("google-multipart-gzip-base64.eml")  # a report mail from Google
            refused = s.sendmail("reports@google.com", ["tlsrpt@example.com"], google)
            self.assertEqual(refused, {})
            # Not one of our recipients: never relayed.
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("a@b.example", ["someone@elsewhere.example"], google)
        # RFC 2920: MAIL, RCPT and DATA in one write; the body after the 354.
        with socket.create_connection(("127.0.0.1", self.smtp_port)) as c:
            recv_until(c, b"220 ")
            c.sendall(b"EHLO pipeliner.example\r\n")
            recv_until(c, b"250 ")
            c.sendall(b"MAIL FROM:<r@sender.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n")
            got = recv_until(c, b"354 ")
            self.assertIn(b"250 2.1.0", got)
            self.assertIn(b"250 2.1.5", got)
            # Another report (Google's, bare LF line ends in the file: sent as CRLF).
            body = quirk("mail-auth-bare-tlsrpt-plain-json.eml").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            c.sendall(body.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\nQUIT\r\n")
            got = recv_until(c, b"221 ")
            self.assertIn(b"250 2.0.0 report stored", got)
        n = sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"]
        self.assertEqual(n, 2)

    def test_outcome_replies(self):
        # A mail without a report: 554 5.6.0, nothing stored.
        rc, out = swaks("--server", f"127.0.0.1:{self.smtp_port}", "--to", "tlsrpt@example.com",
                        "--body", "just a note, no report")
        self.assertIn("554 5.6.0", out)
        # Too big: 552 5.3.4 (max_message_bytes = 1MiB here).
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100
        rc, out = swaks("--server", f"127.0.0.1:{self.smtp_port}", "--to", "tlsrpt@example.com", data=big)
        self.assertIn("552 5.3.4", out)
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 0)

    def test_dedupe_across_https_smtp_lmtp_and_maildir(self):
        # google-headers-trimmed.eml carries google-policy-string-trailing-cr.json's report;
        # mailru-no-closing-boundary.eml carries mailru-failure-sum-mismatch.json's.
        self.assertEqual(report_key(quirk("google-headers-trimmed.eml")),
                         report_key(quirk("google-policy-string-trailing-cr.json")))
        self.assertEqual(report_key(quirk("mailru-no-closing-boundary.eml")),
                         report_key(quirk("mailru-failure-sum-mismatch.json")))
        status, _, body = curl(self.d.url(), quirk("google-policy-string-trailing-cr.json"), "application/tlsrpt+json")
        self.assertEqual(status, 200)
        rc, out = swaks("--server", f"127.0.0.1:{self.smtp_port}", "--to", "tlsrpt@example.com",
                        data=quirk("google-headers-trimmed.eml"))
        self.assertIn("250 2.0.0 report already stored", out)
        rc, out = swaks("--protocol", "LMTP", "--socket", self.sock, "--to", "tlsrpt@example.com",
                        data=quirk("mailru-no-closing-boundary.eml"))
        self.assertIn("report stored", out)
        self.drop("mailru-no-closing-boundary.eml")
        self.wait_moved(1)
        status, _, body = curl(self.d.url(), quirk("mailru-failure-sum-mismatch.json"), "application/tlsrpt+json")
        self.assertEqual((status, b"duplicate" in body), (200, True))
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 2)

    def drop(self, name, data=None):
        """Delivers like an MTA: write in tmp/, then rename into new/."""
        tmp = os.path.join(self.maildir, "tmp", f"{time.time_ns()}.{name}")
        with open(tmp, "wb") as f:
            f.write(quirk(name) if data is None else data)
        if os.geteuid() == 0:
            shutil.chown(tmp, "tlsrptd")
        os.rename(tmp, os.path.join(self.maildir, "new", os.path.basename(tmp)))

    def wait_moved(self, n, folder="cur", timeout=15):
        path = os.path.join(self.maildir, folder) if folder == "cur" else os.path.join(self.maildir, ".rejected", "cur")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(os.listdir(path)) >= n and not os.listdir(os.path.join(self.maildir, "new")):
                return
            time.sleep(0.05)
        self.fail(f"maildir: {os.listdir(os.path.join(self.maildir, 'new'))} still in new/: {self.d.read_log()}")

    def test_maildir_drop(self):
        first = emls(QUIRKS)[:6]
        self.assertEqual(len(first), 6)
        for name in first:
            self.drop(name)
        self.drop("plain", data=b"From: a@b.example\r\nSubject: hello\r\n\r\nno report here\r\n")
        self.wait_moved(6)
        self.wait_moved(1, folder="rejected")
        cur = sorted(os.listdir(os.path.join(self.maildir, "cur")))
        self.assertEqual(len(cur), 6)
        self.assertTrue(all(n.endswith(":2,S") for n in cur))
        self.assertEqual(policy_daily(self.d.db), self.expected_daily(first))
        self.assertIn("maildir", self.d.read_log())

    def test_abuse(self):
        def dialogue(send, until=b"", timeout=10):
            with socket.create_connection(("127.0.0.1", self.smtp_port)) as c:
                recv_until(c, b"220 ")
                c.sendall(send)
                c.settimeout(timeout)
                data = b""
                try:
                    while True:
                        chunk = c.recv(4096)
                        if not chunk:
                            return data, True
                        data += chunk
                        if until and until in data:
                            return data, False
                except socket.timeout:
                    return data, False

        # HTTP on the SMTP port: closed at once.
        data, closed = dialogue(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(closed)
        # Bare LF in a command: refused and closed (SMTP smuggling class).
        data, closed = dialogue(b"EHLO x\nMAIL FROM:<a@b>\n")
        self.assertIn(b"550 5.5.2", data)
        self.assertTrue(closed)
        # Smuggling: <LF>.<LF> does not end DATA; nothing is stored from it.
        data, closed = dialogue(b"EHLO x\r\n", until=b"250 ")
        with socket.create_connection(("127.0.0.1", self.smtp_port)) as c:
            recv_until(c, b"220 ")
            c.sendall(b"EHLO x\r\n")
            recv_until(c, b"250 ")
            c.sendall(b"MAIL FROM:<a@b.example>\r\n")
            recv_until(c, b"250 ")
            c.sendall(b"RCPT TO:<tlsrpt@example.com>\r\n")
            recv_until(c, b"250 ")
            c.sendall(b"DATA\r\n")
            recv_until(c, b"354 ")
            c.sendall(b"Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@x>\r\n.\r\n")
            got = recv_until(c, b"\r\n", timeout=5)
            self.assertTrue(got.startswith(b"550 5.5.2"), got)
        # STARTTLS with a pipelined RSET: the RSET is discarded, never answered.
        p = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "smtp", "-connect",
                            f"127.0.0.1:{self.smtp_port}"], input=b"NOOP\r\nQUIT\r\n", capture_output=True, timeout=20)
        self.assertIn(b"250 2.0.0", p.stdout)  # NOOP after TLS works
        with socket.create_connection(("127.0.0.1", self.smtp_port)) as c:
            recv_until(c, b"220 ")
            c.sendall(b"EHLO x\r\n")
            recv_until(c, b"250 ")
            c.sendall(b"STARTTLS\r\nRSET\r\n")
            got = recv_until(c, b"220 ", timeout=5)
            self.assertIn(b"220 2.0.0", got)
            import ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with ctx.wrap_socket(c) as t:
                t.settimeout(1.5)
                try:
                    leaked = t.recv(100)
                except (socket.timeout, ssl.SSLError):
                    leaked = b""
                self.assertEqual(leaked, b"", "a reply to the injected RSET")
        # A too-long command line, twice: 500 then closed.
        data, closed = dialogue(b"EHLO " + b"x" * 600 + b"\r\n" + b"NOOP " + b"y" * 600 + b"\r\n")
        self.assertIn(b"500 5.5.2", data)
        self.assertTrue(closed)
        # Idle after connect: 421 4.4.2 at the command timeout (2 s here).
        with socket.create_connection(("127.0.0.1", self.smtp_port)) as c:
            recv_until(c, b"220 ")
            t0 = time.monotonic()
            got = recv_until(c, b"421", timeout=10)
            self.assertIn(b"421 4.4.2", got)
            self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 0)
        self.assertEqual(curl(self.d.admin("/healthz"))[0], 200)


class Dkim(TempDirTest):
    """smtp.dkim = "require" (the default) with keys served by dnsmasq."""

    def setUp(self):
        super().setUp()
        from support import free_port
        # The Mail.ru report mail of tests/corpus, re-signed here by corp.mail.ru and by an unrelated domain.
        self.dkim = DkimKey(self.path("keys"), ["corp.mail.ru", "mail.ru", "unrelated.example"],
                            local=("test", "example", "ru", "org"))
        self.dns = self.dkim.dns
        self.port = free_port()
        self.d = Daemon(self.tmp, sections=(
            f'[smtp]\nlisten = ["127.0.0.1:{self.port}"]\n'
            f'[dns]\nservers = ["{self.dns.server}"]\ntimeout = "2s"\n')).start()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.read_log())
        finally:
            self.dns.stop()
            super().tearDown()

    def sign(self, message, domain, *extra):
        return self.dkim.sign(message, domain, *extra)

    def send(self, data):
        rc, out = swaks("--server", f"127.0.0.1:{self.port}", "--to", "tlsrpt@example.com", data=data)
        return out

    def test_only_a_valid_signature_by_the_reporting_domain_counts(self):
        msg = quirk("mailru-no-closing-boundary.eml")  # Mail.ru, contact-info tls_support@corp.mail.ru
        # Its original signature's key is not in our DNS: held.
        out = self.send(msg)
        self.assertIn("250 2.0.0 report kept but not counted", out)
        # Not signed at all (the Postfix reporter does not sign by itself): held.
        self.assertIn("kept but not counted", self.send(quirk("tlsrpt-reporter-unsigned-mail.eml")))
        # Signed with l=: held (RFC 8460 §3).
        self.assertIn("kept but not counted", self.send(self.sign(msg, "corp.mail.ru", "--length")))
        # Signed by an unrelated domain (not From's, nor its organizational domain): held.
        self.assertIn("kept but not counted", self.send(self.sign(msg, "unrelated.example")))
        # Tampered after signing: held.
        signed = self.sign(msg, "corp.mail.ru")
        tampered = signed.replace(b"aggregate TLS report from mail.ru", b"aggregate TLS report from mail.rv")
        self.assertNotEqual(tampered, signed)
        self.assertIn("kept but not counted", self.send(tampered))
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 0)
        held = [r["reason"] for r in sql(self.d.db, "SELECT reason FROM held_reports ORDER BY id", service=True)]
        # The same report held again is one held row (a sender retrying its mail).
        self.assertEqual(len(held), 2, held)
        self.assertTrue(held[0].startswith("dkim fail"), held)
        self.assertIn("not DKIM-signed", held[1])
        log = self.d.read_log()
        self.assertIn("l=", log)
        self.assertIn("unrelated.example is neither the From domain nor its organizational domain", log)
        # Valid, by the reporting domain: counted, authenticated.
        self.assertIn("250 2.0.0 report stored", self.send(signed))
        rows = sql(self.d.db, "SELECT r.report_id, a.authenticated, a.method FROM reports r "
                              "JOIN report_auth a ON a.report = r.id", service=True)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["authenticated"], 1)
        self.assertTrue(rows[0]["method"].startswith("dkim pass d=corp.mail.ru"), rows[0])
        # The held list and a forced release through the CLI.
        listing = tlsrptd("report", "held", "--format", "json", "--config", self.d.config, check=True)
        self.assertIn("not DKIM-signed", listing.stdout)
        held_ids = [h["id"] for h in json.loads(listing.stdout)]
        # The Mail.ru report has been counted since (its valid copy): releasing it adds nothing.
        rel = tlsrptd("report", "release", str(held_ids[0]), "--force", "--config", self.d.config)
        self.assertEqual((rel.returncode, rel.stdout), (0, f"held report {held_ids[0]}: duplicate\n"), rel.stderr)
        # The unsigned one still fails the check; --force counts it on the admin's word.
        self.assertEqual(tlsrptd("report", "release", str(held_ids[1]), "--config", self.d.config).returncode, 65)
        rel = tlsrptd("report", "release", str(held_ids[1]), "--force", "--config", self.d.config)
        self.assertEqual((rel.returncode, rel.stdout), (0, f"held report {held_ids[1]}: stored\n"), rel.stderr)
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 2)
        self.assertEqual(tlsrptd("report", "held", "--config", self.d.config).stdout, "no held reports\n")

    def test_dns_failure_is_a_temporary_reply(self):
        self.dns.stop()
        signed = self.sign(quirk("mailru-no-closing-boundary.eml"), "corp.mail.ru")
        out = self.send(signed)
        self.assertIn("451 4.3.0", out)
        self.dns = Dnsmasq([])  # for tearDown


class InteropMailChannels(MailChannelsTest):
    interop = True

    def test_every_corpus_mail_over_smtp_then_lmtp_counted_once(self):
        self.every_mail_over_smtp_then_lmtp_counted_once(CORPUS)


if __name__ == "__main__":
    main()
