#!/usr/bin/python3
"""End to end: SIGHUP (README.md#deployment-with-systemd). The real daemon runs with a
configuration file; the test rewrites the file, sends SIGHUP, waits for the reload's
log line, and checks that the new settings act on what starts afterwards: SMTP
recipients (a session opened before keeps its own), limits and domains over HTTPS,
the alert sinks, the inspection page. Settings that need a new socket or the database
keep running as they were and are named in one warning; a file with errors changes
nothing. Every wait polls with a deadline; nothing is timed."""
import datetime
import json
import os
import signal
import smtplib
import time

from support import Daemon, TempDirTest, curl, free_port, main, sql

YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()


def report(report_id, domain="example.com", failures=0, failure_type="certificate-expired"):
    """A one-policy STS report of yesterday; `failures` failure-details, 10 sessions each."""
    policy = {"policy": {"policy-type": "sts", "policy-domain": domain,
                         "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.{domain}", "max_age: 86400"]},
              "summary": {"total-successful-session-count": 100, "total-failure-session-count": 10 * failures}}
    if failures:
        policy["failure-details"] = [
            {"result-type": failure_type, "sending-mta-ip": f"192.0.2.{i + 1}",
             "receiving-mx-hostname": f"mx.{domain}", "failed-session-count": 10} for i in range(failures)]
    return json.dumps({
        "organization-name": "Sender Inc.", "contact-info": "tlsrpt@sender.example", "report-id": report_id,
        "date-range": {"start-datetime": YESTERDAY + "T00:00:00Z", "end-datetime": YESTERDAY + "T23:59:59Z"},
        "policies": [policy]}).encode()


def wait_for(what, check, timeout=20):
    """Polls `check` until it returns something true; fails naming `what` after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Reload(TempDirTest):
    def setUp(self):
        super().setUp()
        self.smtp_port = free_port()
        self.alerts_file = self.path("alerts.jsonl")
        self.d = Daemon(self.tmp, top_config='domains = ["example.com"]\n', sections=(
            '[limits]\nmax_failure_details = 1\n'
            f'[smtp]\nlisten = ["127.0.0.1:{self.smtp_port}"]\ndkim = "off"\n'
            'recipients = ["tlsrpt@example.com"]\n'
            '[inspect]\nenabled = false\n'
            '[alerts]\ntrust_unauthenticated = true\n'
            '[[alerts.sink]]\ntype = "log"\n')).start()
        self.reloads = 0

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.read_log())
        finally:
            super().tearDown()

    def reload(self, *replacements, done="reload: applied"):
        """Rewrites the configuration file (each (old, new) replaced once), sends
        SIGHUP, and waits for the reload's last log line."""
        with open(self.d.config) as f:
            text = f.read()
        for old, new in replacements:
            self.assertIn(old, text)
            text = text.replace(old, new, 1)
        with open(self.d.config, "w") as f:
            f.write(text)
        before = self.d.read_log().count(done)
        self.d.proc.send_signal(signal.SIGHUP)
        wait_for(f"'{done}' in the log", lambda: self.d.read_log().count(done) > before)
        self.reloads += 1

    def post(self, body):
        return curl(self.d.url(), body, "application/tlsrpt+json")

    def stored(self, report_id, db=None):
        return sql(db or self.d.db, f"SELECT count(*) AS n FROM reports WHERE report_id = '{report_id}'",
                   service=True)[0]["n"]

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30)
        s.ehlo("sender.example")
        s.mail("reporter@sender.example")
        return s

    def test_smtp_recipients_apply_to_new_sessions(self):
        before = self.smtp()
        self.assertEqual(before.rcpt("tlsrpt@example.com")[0], 250)
        self.assertEqual(before.rcpt("reports@example.com")[0], 550)
        self.reload(('recipients = ["tlsrpt@example.com"]',
                     'recipients = ["tlsrpt@example.com", "reports@example.com"]'))
        after = self.smtp()
        self.assertEqual(after.rcpt("reports@example.com")[0], 250)
        after.quit()
        # A session that began before the reload keeps the settings it began with.
        self.assertEqual(before.rcpt("reports@example.com")[0], 550)
        before.quit()

    def test_limits_and_domains_apply_to_https(self):
        status, _, body = self.post(report("two-details", failures=2))
        self.assertEqual(status, 400, body)
        self.assertIn(b"failure-details", body)
        status, _, body = self.post(report("other-domain", domain="example.org"))
        self.assertEqual(status, 422, body)
        self.reload(("max_failure_details = 1", "max_failure_details = 5"),
                    ('domains = ["example.com"]', 'domains = ["example.com", "example.org"]'))
        for report_id, body in [("two-details", report("two-details", failures=2)),
                                ("other-domain", report("other-domain", domain="example.org"))]:
            status, _, answer = self.post(body)
            self.assertEqual(status, 200, answer)
            self.assertEqual(self.stored(report_id), 1)

    def test_alert_sinks_are_replaced(self):
        status, _, body = self.post(report("before", domain="example.com", failures=1,
                                           failure_type="starttls-not-supported"))
        self.assertEqual(status, 200, body)
        wait_for("the log sink's alert", lambda: "starttls-failure example.com" in self.d.read_log())
        self.reload(('[[alerts.sink]]\ntype = "log"\n', f'[[alerts.sink]]\ntype = "file"\npath = "{self.alerts_file}"\n'),
                    ('domains = ["example.com"]', 'domains = ["example.com", "example.net"]'))
        status, _, body = self.post(report("after", domain="example.net", failures=1,
                                           failure_type="starttls-not-supported"))
        self.assertEqual(status, 200, body)

        def file_alerts():
            if not os.path.exists(self.alerts_file):
                return None
            with open(self.alerts_file) as f:
                return [json.loads(line) for line in f if line.strip()]
        alerts = wait_for("the file sink's alert", file_alerts)
        self.assertEqual([(a["kind"], a["policy_domain"]) for a in alerts], [("starttls-failure", "example.net")])
        # The log sink is gone: the new alert went to the file only.
        self.assertNotIn("starttls-failure example.net", self.d.read_log())

    def test_inspection_page_is_turned_on(self):
        self.assertEqual(curl(self.d.url("/generate"))[0], 404)
        self.reload(("[inspect]\nenabled = false", "[inspect]\nenabled = true"))
        status, hdrs, body = curl(self.d.url("/generate"))
        self.assertEqual(status, 200, body)
        self.assertIn("text/html", hdrs["content-type"])
        self.reload(("[inspect]\nenabled = true", "[inspect]\nenabled = false"))
        self.assertEqual(curl(self.d.url("/generate"))[0], 404)

    def test_settings_that_need_a_restart_are_named_and_keep_running(self):
        new_port, new_db = free_port(), self.path("var", "other.sqlite")
        self.reload((f'listen = ["127.0.0.1:{self.d.port}"]', f'listen = ["127.0.0.1:{new_port}"]'),
                    (f'database = "{self.d.db}"', f'database = "{new_db}"'),
                    ('recipients = ["tlsrpt@example.com"]', 'recipients = ["tlsrpt@example.com", "x@example.com"]'))
        warnings = [line for line in self.d.read_log().splitlines() if "only a restart applies" in line]
        self.assertEqual(len(warnings), 1, self.d.read_log())
        named = warnings[0].split(": ")[-1].split(", ")
        self.assertEqual(sorted(named), ["database", "https.listen"])
        # The old address and the old database go on serving; nothing listens on the new one.
        status, _, body = self.post(report("still-here"))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.stored("still-here"), 1)
        self.assertFalse(os.path.exists(new_db))
        self.assertIsNone(curl(f"https://127.0.0.1:{new_port}/", timeout=5)[0])
        # What could be applied was: the new recipient is accepted.
        s = self.smtp()
        self.assertEqual(s.rcpt("x@example.com")[0], 250)
        s.quit()
        # The running state is what the next reload compares against: the same file
        # names the same settings again.
        self.reload()
        warnings = [line for line in self.d.read_log().splitlines() if "only a restart applies" in line]
        self.assertEqual(len(warnings), 2)
        self.assertEqual(sorted(warnings[1].split(": ")[-1].split(", ")), ["database", "https.listen"])

    def test_a_file_with_errors_changes_nothing(self):
        self.reload(('recipients = ["tlsrpt@example.com"]', 'recipients = ["reports@example.com"]\nbogus_key = 1'),
                    done="nothing was changed")
        self.assertIn("bogus_key", self.d.read_log())
        s = self.smtp()
        self.assertEqual(s.rcpt("tlsrpt@example.com")[0], 250)
        self.assertEqual(s.rcpt("reports@example.com")[0], 550)
        s.quit()
        self.assertEqual(self.post(report("after-bad-file"))[0], 200)


if __name__ == "__main__":
    main()
