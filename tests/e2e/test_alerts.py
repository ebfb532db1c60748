#!/usr/bin/python3
"""Drift alerts end to end (README.md#alerts): the real tlsrptd imports a week of
realistic reports day by day and must raise exactly one alert per event in its sinks;
the mail sink talks to a real SMTP server (aiosmtpd, STARTTLS + AUTH) on loopback, the
webhook sink to a real HTTPS server on loopback. Report fields carry header-injection
attempts (reliability scenario 25); webhook targets include private ones (scenario 28;
both in docs/guarantees.md#reliability-scenarios).
"""
import datetime
import email
import email.policy
import http.server
import importlib.util
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

# aiosmtpd 1.4 logs a warning about its own use of a deprecated attribute on AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)

TLSRPTD = os.environ.get("TLSRPTD", "")
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
DAYS = [(TODAY - datetime.timedelta(days=6 - i)).isoformat() for i in range(6)]  # D0 .. D5 = yesterday

TLSA_A = "3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D"
TLSA_B = "3 1 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234"
TLSA_C = "3 1 1 C0FFEE337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747DC0FFEE"


def report(org, rid, day, policies, contact="smtp-tls-reporting@reporter.example"):
    return {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": contact,
        "report-id": rid,
        "policies": policies,
    }


def details(failures):
    return [{"result-type": t, "sending-mta-ip": "192.0.2.10", "receiving-mx-hostname": mx,
             "receiving-ip": "198.51.100.25", "failed-session-count": n} for (t, mx, n) in failures]


def sts(domain, mx, ok, failed=0, failures=(), mode="enforce", style="google"):
    if style == "google":
        strings = ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx] + ["max_age: 604800"]
    else:  # another reporter: other order, upper case, trailing dots, CRLF, mx-host
        strings = ["max_age: 604800\r\n", "mode: " + mode + "\r\n", "version: STSv1\r\n"] + \
                  ["mx: " + m.upper() + ".\r\n" for m in reversed(mx)]
    pol = {"policy-type": "sts", "policy-string": strings, "policy-domain": domain}
    if style != "google":
        pol["mx-host"] = list(mx)
    p = {"policy": pol, "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failures:
        p["failure-details"] = details(failures)
    return p


def tlsa(domain, records, ok, failed=0, failures=(), packed=True):
    # quirk(microsoft): the whole RRset packed into one JSON-encoded string.
    strings = [json.dumps(records)] if packed else [r.lower() for r in records]
    p = {"policy": {"policy-type": "tlsa", "policy-string": strings, "policy-domain": domain},
         "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failures:
        p["failure-details"] = details(failures)
    return p


def npf(domain, ok, failed=0, failures=()):
    p = {"policy": {"policy-type": "no-policy-found", "policy-domain": domain},
         "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failures:
        p["failure-details"] = details(failures)
    return p


def week_of_reports():
    """{day index: [(file name, report)]}: six days, seven domains, five events plus
    an MX moved without a policy update and a failure-rate rise."""
    out = {i: [] for i in range(6)}

    def add(i, name, org, policies):
        out[i].append((name, report(org, f"{name}-{DAYS[i]}", DAYS[i], policies)))

    calm_mx = ["mx1.calm.example", "mx2.calm.example"]
    for i in range(6):
        # A calm domain: two reporters, the same policy written differently, a DANE
        # record set packed by one reporter. No alert, ever.
        add(i, "google-calm", "Google LLC", [sts("calm.example", calm_mx, 1000)])
        add(i, "microsoft-calm", "Microsoft Corporation",
            [sts("calm.example", calm_mx, 400, style="microsoft"), tlsa("mx1.calm.example", [TLSA_A, TLSA_B], 400)])

        # The MX moves on D4 and the policy follows; one reporter still has the old
        # policy cached that day.
        new = i >= 4
        add(i, "google-mxmove", "Google LLC",
            [sts("mxmove.example", ["mx1.mxmove.example", "mx3.mxmove.example" if new else "mx2.mxmove.example"], 800)])
        add(i, "microsoft-mxmove", "Microsoft Corporation",
            [sts("mxmove.example", ["mx1.mxmove.example", "mx3.mxmove.example" if i >= 5 else "mx2.mxmove.example"],
                 300, style="microsoft")])

        # The MX moves on D4 but the MTA-STS policy is not updated: sessions fail there.
        fails = [("certificate-host-mismatch", "mx3.stale.example", 120)] if i >= 4 else []
        add(i, "google-stale", "Google LLC",
            [sts("stale.example", ["mx1.stale.example", "mx2.stale.example"], 1000 - (120 if fails else 0),
                 120 if fails else 0, fails)])

        # A planned DANE rollover on D3 (current + next published), seen by two reporters.
        records = [TLSA_A, TLSA_B] if i < 3 else [TLSA_B, TLSA_C]
        add(i, "microsoft-dane", "Microsoft Corporation", [tlsa("mx.dane.example", records, 500)])
        add(i, "comcast-dane", "Comcast", [tlsa("mx.dane.example", records, 100, packed=False)])

        # Certificates start failing on D4 (an expired certificate under DANE).
        cert_fail = [("certificate-expired", "mx.certs.example", 300)] if i >= 4 else []
        add(i, "microsoft-certs", "Microsoft Corporation",
            [tlsa("mx.certs.example", [TLSA_A], 200 if cert_fail else 500, 300 if cert_fail else 0, cert_fail)])

        # STARTTLS disappears on D4 and is back on D5.
        st = i == 4
        add(i, "google-starttls", "Google LLC",
            [sts("starttls.example", ["mx1.starttls.example"], 800 if st else 1000, 200 if st else 0,
                 [("starttls-not-supported", "mx1.starttls.example", 200)] if st else [])])
        add(i, "microsoft-starttls", "Microsoft Corporation",
            [sts("starttls.example", ["mx1.starttls.example"], 450 if st else 500, 50 if st else 0,
                 [("starttls-not-supported", "mx1.starttls.example", 50)] if st else [], style="microsoft")])

        # The MTA-STS policy stops being served on D3: a fresh reporter finds none, a
        # reporter with the policy cached cannot refetch it.
        if i < 3:
            add(i, "google-gone", "Google LLC", [sts("gone.example", ["mx.gone.example"], 600)])
            add(i, "microsoft-gone", "Microsoft Corporation",
                [sts("gone.example", ["mx.gone.example"], 400, style="microsoft")])
        else:
            add(i, "google-gone", "Google LLC", [npf("gone.example", 600)])
            if i == 3:
                add(i, "microsoft-gone", "Microsoft Corporation",
                    [sts("gone.example", ["mx.gone.example"], 380, 20, [("sts-policy-fetch-error", "mx.gone.example", 20)],
                         style="microsoft")])
            else:
                add(i, "microsoft-gone", "Microsoft Corporation", [npf("gone.example", 400)])

        # Failures without details (a reporter that omits them) jump on D4.
        ok, failed = (700, 300) if i == 4 else (1000, 0) if i == 5 else (998, 2)
        add(i, "mailru-rate", "Mail.Ru", [sts("rate.example", ["mx.rate.example"], ok, failed)])
    return out


# (kind, policy_domain, severity, policy_type, day index, summary) per event, by hand.
EXPECTED = [
    ("certificate-change", "mx.dane.example", "info", "tlsa", 3,
     "Certificate change \u2014 the DANE TLSA records for mx.dane.example changed (1 record added, 1 record removed)"),
    ("policy-failure", "gone.example", "warning", "sts", 3,
     "Policy failure \u2014 gone.example is reported as having no MTA-STS policy (it had one)"),
    ("certificate-change", "mx.certs.example", "critical", "tlsa", 4,
     "Certificate change \u2014 300 sessions failed certificate checks (certificate-expired) at mx.certs.example"),
    ("failure-rate", "rate.example", "warning", "sts", 4,
     "Failure rate \u2014 30% of 1000 sessions failed (usually 0.20%)"),
    ("mx-change", "mxmove.example", "warning", "sts", 4,
     "MX change \u2014 the MX hosts in your MTA-STS policy changed: added mx3.mxmove.example; removed mx2.mxmove.example"),
    ("mx-change", "stale.example", "critical", "sts", 4,
     "MX change \u2014 mx3.stale.example is not in your MTA-STS policy"),
    ("starttls-failure", "starttls.example", "critical", "sts", 4,
     "STARTTLS failure \u2014 mx1.starttls.example did not offer STARTTLS (250 failed sessions)"),
]

# After D5: which alerts the following days resolved, and on which day.
FINAL_STATUS = {
    "certificate-change:mx.dane.example": ("resolved", 4),
    "policy-failure:gone.example": ("open", None),
    "certificate-change:mx.certs.example": ("open", None),
    "failure-rate:rate.example": ("resolved", 5),
    "mx-change:mxmove.example": ("resolved", 5),
    "mx-change:stale.example": ("open", None),
    "starttls-failure:starttls.example": ("resolved", 5),
}


def run(*args, check=True):
    p = subprocess.run([TLSRPTD, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"tlsrptd {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def write_reports(root, reports):
    os.makedirs(root, exist_ok=True)
    for name, rep in reports:
        with open(os.path.join(root, name + ".json"), "w") as f:
            json.dump(rep, f)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import free_port  # noqa: E402  (ports outside the ephemeral range, locked per test)


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class WeekOfReports(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        t = self.tmp.name
        self.jsonl = os.path.join(t, "alerts.jsonl")
        self.config = os.path.join(t, "tlsrptd.toml")
        with open(self.config, "w") as f:
            f.write(f'database = "{t}/db.sqlite"\n\n[alerts]\n'
                    # All days of the test are recent, but make sure none is held back
                    # as stale: an unexpected alert on an early day must show up too.
                    'stale_after = "30d"\n\n'
                    f'[[alerts.sink]]\ntype = "file"\npath = "{self.jsonl}"\n\n'
                    '[[alerts.sink]]\ntype = "log"\n')
        self.days = []
        for i, reports in week_of_reports().items():
            d = os.path.join(t, f"day{i}")
            write_reports(d, reports)
            self.days.append(d)

    def tearDown(self):
        self.tmp.cleanup()

    def test_one_alert_per_event_and_none_on_reimport(self):
        log_lines = []
        after_day = {}
        for i, d in enumerate(self.days):
            p = run("--config", self.config, "report", "import", "--no-progress", d)
            self.assertIn(" stored, 0 duplicate, 0 conflict, 0 rejected", p.stdout)
            log_lines += [line for line in p.stderr.splitlines() if line.startswith("tlsrptd: alert ")]
            after_day[i] = len(read_jsonl(self.jsonl))
        alerts = read_jsonl(self.jsonl)
        got = sorted((a["kind"], a["policy_domain"], a["severity"], a["policy_type"], DAYS.index(a["day"]),
                      a["summary"]) for a in alerts)
        self.assertEqual(got, sorted(EXPECTED))
        # Nothing before the first event, and each day added exactly its events.
        self.assertEqual([after_day[i] for i in range(6)], [0, 0, 0, 2, 7, 7])
        self.assertTrue(all(a["notification"] == "new" for a in alerts))
        self.assertFalse([a for a in alerts if "calm.example" in a["policy_domain"]])

        by_key = {a["kind"] + ":" + a["policy_domain"]: a for a in alerts}
        mx = by_key["mx-change:mxmove.example"]
        self.assertEqual(mx["evidence"]["added"], ["mx3.mxmove.example"])
        self.assertEqual(mx["evidence"]["removed"], ["mx2.mxmove.example"])
        self.assertEqual(mx["evidence"]["reporters"], ["Google LLC"])
        self.assertEqual(mx["evidence"]["old_policy"], ["version: STSv1", "mode: enforce", "mx: mx1.mxmove.example",
                                                        "mx: mx2.mxmove.example", "max_age: 604800"])
        stale = by_key["mx-change:stale.example"]
        self.assertEqual(stale["evidence"]["mx_hosts"], [{"mx_host": "mx3.stale.example", "sessions": 120}])
        self.assertIn('add an "mx: mx3.stale.example" line', stale["explanation"])
        dane = by_key["certificate-change:mx.dane.example"]
        self.assertEqual(dane["evidence"]["added"], [TLSA_C])
        self.assertEqual(dane["evidence"]["removed"], [TLSA_A])
        self.assertEqual(dane["evidence"]["reporters"], ["Comcast", "Microsoft Corporation"])
        gone = by_key["policy-failure:gone.example"]
        self.assertEqual(gone["evidence"]["reporters"], ["Google LLC", "Microsoft Corporation"])
        self.assertEqual(gone["evidence"]["result_types"], [{"result_type": "sts-policy-fetch-error", "sessions": 20}])
        self.assertEqual(gone["evidence"]["new_policy"], ["no-policy-found"])
        rate = by_key["failure-rate:rate.example"]
        self.assertEqual(rate["evidence"]["failure_ratio"], 0.3)
        self.assertEqual(rate["evidence"]["baseline_failure_ratio"], 0.002)
        for a in alerts:
            self.assertEqual(a["evidence"]["sources"], "authenticated")
            self.assertGreater(len(a["explanation"]), 200)
            self.assertNotIn("\n", a["summary"])

        # The log sink got the same seven, one line each.
        self.assertEqual(len(log_lines), 7)
        self.assertIn("tlsrptd: alert critical mx-change stale.example sts day=" + DAYS[4] + " (new) id=",
                      "\n".join(log_lines))

        # The lifecycle after D5, through the CLI and the `alerts` view.
        listed = json.loads(run("--config", self.config, "alerts", "list", "--format", "json").stdout)
        self.assertEqual(len(listed), 7)
        status = {a["key"]: (a["status"], DAYS.index(a["resolved_day"]) if a["resolved_day"] else None)
                  for a in listed}
        self.assertEqual(status, FINAL_STATUS)
        self.assertEqual(sorted(a["id"] for a in listed), sorted(a["id"] for a in alerts))
        open_table = run("--config", self.config, "alerts", "list", "--open").stdout.splitlines()
        self.assertEqual(len(open_table), 1 + 3)
        # Still failing on D5, seen again, but not sent again inside the cooldown.
        certs = next(a for a in listed if a["key"] == "certificate-change:mx.certs.example")
        self.assertEqual((certs["count"], certs["notifications"], certs["last_day"]), (2, 1, DAYS[5]))
        db = os.path.join(self.tmp.name, "db.sqlite")
        rows = subprocess.run(["sqlite3", db, "SELECT key, status FROM alerts ORDER BY key"],
                              capture_output=True, text=True, check=True).stdout.split()
        self.assertEqual(rows, sorted(f"{k}|{v[0]}" for k, v in FINAL_STATUS.items()))

        # Re-delivering the whole week changes nothing.
        with open(self.jsonl, encoding="utf-8") as f:
            before = f.read()
        p = run("--config", self.config, "report", "import", "--no-progress", *self.days)
        self.assertIn(" 0 stored, ", p.stdout)
        with open(self.jsonl, encoding="utf-8") as f:
            self.assertEqual(f.read(), before)
        self.assertNotIn("tlsrptd: alert ", p.stderr)

    def test_all_days_in_one_import_give_the_same_alerts(self):
        run("--config", self.config, "report", "import", "--no-progress", *self.days)
        got = sorted((a["kind"], a["policy_domain"], a["severity"], a["policy_type"], DAYS.index(a["day"]),
                      a["summary"]) for a in read_jsonl(self.jsonl))
        self.assertEqual(got, sorted(EXPECTED))


class SmtpCapture:
    """aiosmtpd on loopback with STARTTLS required and AUTH after TLS."""

    def __init__(self, cert, key, user, password):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
        self.messages = []
        self.logins = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos),
                                       "data": envelope.original_content or envelope.content,
                                       "tls": session.ssl is not None, "auth": session.authenticated})
                return "250 2.0.0 queued"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and \
                auth_data.password == password.encode()
            outer.logins.append((mechanism, ok))
            return AuthResult(success=ok)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=ctx,
                                     require_starttls=True, authenticator=authenticator, auth_require_tls=True,
                                     server_hostname="smtp.test")
        self.controller.start()

    def stop(self):
        self.controller.stop()


@unittest.skipUnless(importlib.util.find_spec("aiosmtpd"), "python3-aiosmtpd is not installed (scripts/deps.sh test)")
class EmailSink(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        t = self.tmp.name
        self.cert, self.key = make_cert(t)
        self.smtp = SmtpCapture(self.cert, self.key, "alerts", "s3cret pass")
        with open(os.path.join(t, "pw"), "w") as f:
            f.write("s3cret pass\n")
        self.config = os.path.join(t, "tlsrptd.toml")
        with open(self.config, "w") as f:
            f.write(f'database = "{t}/db.sqlite"\n\n[[alerts.sink]]\ntype = "email"\n'
                    f'smarthost = "smtp://127.0.0.1:{self.smtp.port}"\nstarttls = "required"\n'
                    f'ca_file = "{self.cert}"\nfrom = "tlsrptd@example.com"\n'
                    'to = ["postmaster@example.com", "noc@example.org"]\n'
                    f'username = "alerts"\npassword_file = "{t}/pw"\ntimeout = "20s"\n')

    def tearDown(self):
        self.smtp.stop()
        self.tmp.cleanup()

    def test_headers_and_body_resist_injection(self):
        day = DAYS[5]
        d = os.path.join(self.tmp.name, "in")
        write_reports(d, [
            ("a", report("Evil Org =?UTF-8?Q?=0A?=Bcc: evil@x\r\nX-Injected: 1", "inj-a", day,
                         [npf("a.example", 95, 5, [("starttls-not-supported", "mx1.a.example\r\nBcc: evil@x", 5)])])),
            ("b", report("M\u00fcller Mail " + "L" * 1000, "inj-b", day,
                         [npf("b.example", 96, 4, [("starttls-not-supported", "=?UTF-8?Q?=0A?=Bcc: evil@x", 4)])])),
        ])
        p = run("--config", self.config, "report", "import", "--no-progress", d)
        self.assertEqual(p.stderr, "")
        self.assertEqual(len(self.smtp.messages), 2, p.stderr)
        self.assertTrue(all(ok for _, ok in self.smtp.logins) and self.smtp.logins)
        subjects = {}
        for m in self.smtp.messages:
            self.assertTrue(m["tls"], "sent without STARTTLS")
            self.assertTrue(m["auth"], "sent without AUTH")
            self.assertEqual(m["from"], "tlsrptd@example.com")
            self.assertEqual(m["rcpt"], ["postmaster@example.com", "noc@example.org"])
            raw = m["data"]
            for line in raw.split(b"\r\n"):
                self.assertLessEqual(len(line), 998)
                self.assertTrue(all(32 <= c < 127 or c == 9 for c in line), line)
            msg = email.message_from_bytes(raw, policy=email.policy.strict)
            self.assertEqual(sorted(msg.keys()),
                             sorted(["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type",
                                     "Content-Transfer-Encoding", "Auto-Submitted"]))
            self.assertIsNone(msg["Bcc"])
            self.assertIsNone(msg["X-Injected"])
            self.assertEqual(msg["From"], "tlsrptd <tlsrptd@example.com>")
            self.assertEqual(msg["To"], "postmaster@example.com, noc@example.org")
            self.assertIn(b"\r\nTo: postmaster@example.com, noc@example.org\r\n", raw)
            self.assertEqual(msg.get_content_type(), "text/plain")
            subject = str(msg["Subject"])
            self.assertNotIn("\n", subject)
            self.assertNotIn("\r", subject)
            body = msg.get_content().replace("\r\n", "\n")
            subjects[subject] = body
            self.assertIn("What this means and what to do", body)
            self.assertNotIn("\nBcc:", body)
            self.assertNotIn("\nX-Injected:", body)

        a = subjects["[tlsrptd] a.example: STARTTLS failure \u2014 mx1.a.example\\r\\nbcc: evil@x did not offer "
                     "STARTTLS (5 failed sessions)"]
        self.assertIn("Domain:       a.example\n", a)
        self.assertIn("Evil Org =?UTF-8?Q?=0A?=Bcc: evil@x\\r\\nX-Injected: 1", a)
        self.assertIn("mx1.a.example\\r\\nbcc: evil@x: 5", a)
        # The encoded word in the report arrives as literal text, never decoded into
        # a line break (CPython #121650's attack).
        b = subjects["[tlsrptd] b.example: STARTTLS failure \u2014 =?utf-8?q?=0a?=bcc: evil@x did not offer "
                     "STARTTLS (4 failed sessions)"]
        self.assertIn("M\u00fcller Mail " + "L" * 243 + "\u2026", b)  # names cut at 256 bytes


class HookServer:
    """An HTTPS server on loopback recording POSTs; /redirect answers 302, /flaky
    answers 503 once."""

    def __init__(self, cert, key):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append((self.path, self.headers.get("Content-Type"), body))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/hook")
                elif self.path == "/flaky" and sum(1 for r in outer.requests if r[0] == "/flaky") == 1:
                    self.send_response(503)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookSink(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cert, self.key = make_cert(self.tmp.name)
        self.hook = HookServer(self.cert, self.key)
        self.reports = os.path.join(self.tmp.name, "in")
        write_reports(self.reports, [
            ("r", report("Google LLC <!channel> @here", "wh-1", DAYS[5],
                         [sts("hook.example", ["mx1.hook.example"], 900, 100,
                              [("starttls-not-supported", "mx1.hook.example", 100)])]))])

    def tearDown(self):
        self.hook.stop()
        self.tmp.cleanup()

    def config(self, name, sinks):
        t = self.tmp.name
        path = os.path.join(t, name + ".toml")
        with open(path, "w") as f:
            f.write(f'database = "{t}/{name}.sqlite"\n')
            for s in sinks:
                f.write("\n[[alerts.sink]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in s.items()))
        return path

    def url(self, path):
        return f"https://127.0.0.1:{self.hook.port}{path}"

    def test_posts_the_alert_json_and_slack_text(self):
        jsonl = os.path.join(self.tmp.name, "a.jsonl")
        cfg = self.config("ok", [
            {"type": "file", "path": jsonl},
            {"type": "webhook", "url": self.url("/hook"), "allow_private": True, "ca_file": self.cert},
            {"type": "webhook", "url": self.url("/slack"), "format": "slack", "allow_private": True,
             "ca_file": self.cert},
            {"type": "webhook", "url": self.url("/flaky"), "allow_private": True, "ca_file": self.cert},
        ])
        p = run("--config", cfg, "report", "import", "--no-progress", self.reports)
        by_path = {}
        for path, ctype, body in self.hook.requests:
            by_path.setdefault(path, []).append((ctype, body))
        line = read_jsonl(jsonl)
        self.assertEqual(len(line), 1)
        self.assertEqual(len(by_path["/hook"]), 1)
        ctype, body = by_path["/hook"][0]
        self.assertEqual(ctype, "application/json")
        self.assertEqual(json.loads(body), line[0])  # the same alert JSON as the file sink's line
        self.assertEqual(line[0]["kind"], "starttls-failure")
        self.assertEqual(line[0]["evidence"]["reporters"], ["Google LLC <!channel> @here"])
        slack = json.loads(by_path["/slack"][0][1])
        self.assertEqual(list(slack), ["text"])
        self.assertTrue(slack["text"].startswith("[tlsrptd] critical: hook.example: STARTTLS failure"))
        self.assertNotIn("<!channel>", slack["text"])
        self.assertIn("Google LLC &lt;!channel&gt; @\u200bhere", slack["text"])
        self.assertEqual(len(by_path["/flaky"]), 2)  # 503, retried, 200
        self.assertIn("webhook https://127.0.0.1:%d/\u2026: delivering the starttls-failure alert for hook.example "
                      "failed (attempt 1 of 4): answered HTTP 503; will retry" % self.hook.port, p.stderr)

    def test_private_targets_are_refused_and_redirects_not_followed(self):
        cfg = self.config("refuse", [
            {"type": "webhook", "url": self.url("/hook"), "ca_file": self.cert},  # allow_private defaults to false
            {"type": "webhook", "url": f"https://localhost:{self.hook.port}/hook", "ca_file": self.cert},
            {"type": "webhook", "url": "https://[::1]:9/hook"},
            {"type": "webhook", "url": "https://[::ffff:127.0.0.1]:9/hook"},
            {"type": "webhook", "url": "https://169.254.169.254/latest/meta-data/"},
            {"type": "webhook", "url": "https://10.0.0.1/hook"},
            {"type": "webhook", "url": self.url("/redirect"), "allow_private": True, "ca_file": self.cert},
        ])
        p = run("--config", cfg, "report", "import", "--no-progress", self.reports)
        self.assertEqual([r[0] for r in self.hook.requests], ["/redirect"])  # nothing else reached the server
        for why in ("127.0.0.1 is a loopback address", "::1 is the loopback address",
                    "::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address",
                    "169.254.169.254 is a link-local address", "10.0.0.1 is a private address"):
            self.assertIn("refused to connect: " + why, p.stderr)
        self.assertEqual(p.stderr.count("refused to connect"), 6)
        self.assertIn("answered HTTP 302; redirects are not followed; giving up", p.stderr)

    def test_config_refuses_plain_http_and_unknown_keys(self):
        cfg = self.config("bad", [{"type": "webhook", "url": "http://example.com/hook"},
                                  {"type": "file", "url": "https://example.com/"},
                                  {"type": "email", "smarthost": "smtp://127.0.0.1:25", "to": ["a@b.example"],
                                   "username": "u", "password_file": "/nonexistent", "starttls": "try"}])
        p = run("--config", cfg, "config", "check", check=False)
        self.assertEqual(p.returncode, 78)
        self.assertIn("alerts.sink.url: must be an https:// URL", p.stderr)
        self.assertIn('alerts.sink: "url" does not apply to a file sink (only webhook)', p.stderr)
        self.assertIn('alerts.sink: AUTH needs starttls = "required" or an smtps:// smarthost', p.stderr)


if __name__ == "__main__":
    if not TLSRPTD:
        sys.exit("TLSRPTD must point at the built tlsrptd binary")
    unittest.main(verbosity=2)
