#!/usr/bin/python3
"""Reliability scenario 23 (docs/guarantees.md#reliability-scenarios): the DKIM policy
for mailed reports, end to end over SMTP into `tlsrptd serve` with smtp.dkim = "require"
(the default), keys served by dnsmasq on loopback and signatures made here with dkimpy
(tests/tools/dkim_tool.py). Five failure reports, each for its own policy domain:
unsigned, a signature broken by tampering, a valid signature with l=, a valid signature
by an unrelated domain, and a valid signature by the reporting domain whose key record
says s=tlsrpt. Only the last may be counted (authenticated, dkim pass) and raise an
alert; the others are held, never counted, and raise no alert, though each reports 90 %
failed sessions.
"""
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import SOURCE, SmtpClient, Dnsmasq, dot_stuff, free_port, hostile_scenario, wait_until  # noqa: E402
from common import report_mail  # noqa: E402

DKIM_TOOL = os.path.join(SOURCE, "tests", "tools", "dkim_tool.py")
YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
SUBMITTER = "sender.example"


def failing_report(rid, domain):
    return json.dumps({
        "organization-name": "Sender Inc.", "contact-info": f"tlsrpt@{SUBMITTER}", "report-id": rid,
        "date-range": {"start-datetime": YESTERDAY + "T00:00:00Z", "end-datetime": YESTERDAY + "T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain,
                                 "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx1.{domain}",
                                                   "max_age: 86400"]},
                      "summary": {"total-successful-session-count": 10, "total-failure-session-count": 90},
                      "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                                           "receiving-mx-hostname": f"mx1.{domain}", "failed-session-count": 90}]}],
    }).encode()


def send(port, msg):
    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        c.cmd(b"MAIL FROM:<tlsrpt-noreply@" + SUBMITTER.encode() + b">")
        c.cmd(b"RCPT TO:<tlsrpt@example.com>")
        r = c.cmd(b"DATA")
        if r[0] != 354:
            return r[0], r[1]
        c.send(dot_stuff(msg) + b"\r\n.\r\n")
        code, text, _ = c.reply(30)
        return code, text


def read_jsonl(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


@hostile_scenario(deadline=90)
def dkim_policy(s):
    """Scenario 23: only a valid DKIM signature by the reporting domain counts."""
    os.chmod(s.tmp, 0o777)  # the file sink writes as the service user
    keys = s.path("keys")
    os.makedirs(keys)
    txt = subprocess.run([sys.executable, DKIM_TOOL, "keygen", keys, "1024"], capture_output=True,
                         check=True, timeout=60).stdout.decode().strip()
    txt = txt.replace("k=rsa;", "k=rsa; s=tlsrpt;")  # RFC 8460 §3: the key record SHOULD say s=tlsrpt
    key = os.path.join(keys, "key.pem")
    dns = Dnsmasq([(f"sel._domainkey.{SUBMITTER}", txt), ("sel._domainkey.unrelated.example", txt)])
    s.ctx.on_cleanup(dns.stop)
    jsonl = s.path("alerts.jsonl")
    port = free_port()
    d = s.daemon("dkim", sections=(f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\n'
                                   f'[dns]\nservers = ["{dns.server}"]\ntimeout = "2s"\n'
                                   f'[alerts]\n[[alerts.sink]]\ntype = "file"\npath = "{jsonl}"\n'))

    def sign(msg, domain, *extra):
        return subprocess.run([sys.executable, DKIM_TOOL, "sign", key, "sel", domain, *extra], input=msg,
                              capture_output=True, check=True, timeout=60).stdout

    def mail(name):
        return report_mail(failing_report(f"dkim-{name}", f"{name}.example"), f"dkim-{name}", submitter=SUBMITTER)

    signed = sign(mail("tampered"), SUBMITTER)
    tampered = signed.replace(b"This is an aggregate TLS report", b"This is an aggregate TLS rep0rt")
    cases = [
        ("23.1", "unsigned", mail("unsigned")),
        ("23.2", "signature broken by tampering after signing", tampered),
        ("23.3", "valid signature with l= (RFC 8460 §3: MUST NOT)", sign(mail("length"), SUBMITTER, "--length")),
        ("23.4", "valid signature by an unrelated domain", sign(mail("unrelated"), "unrelated.example")),
    ]
    s.require(tampered != signed, "the tampering changed nothing")
    for sid, what, msg in cases:
        code, text = send(port, msg)
        held = "kept but not counted" in text
        s.result(sid, f"{what} -> held, not counted", code == 250 and held, f"reply={code} {text.strip()!r}")
    code, text = send(port, sign(mail("valid"), SUBMITTER))
    s.result("23.5", "valid signature by the reporting domain (key with s=tlsrpt) -> stored and counted",
             code == 250 and "report stored" in text, f"reply={code} {text.strip()!r}")

    rows = d.q("SELECT r.report_id, a.authenticated, a.method FROM reports r LEFT JOIN report_auth a "
               "ON a.report = r.id ORDER BY r.report_id")
    held = d.q("SELECT reason FROM held_reports ORDER BY id")
    s.result("23.6", "exactly one report counted, authenticated by dkim pass d=sender.example; four held",
             len(rows) == 1 and rows[0]["report_id"] == "dkim-valid" and rows[0]["authenticated"] == 1
             and str(rows[0]["method"]).startswith(f"dkim pass d={SUBMITTER}") and len(held) == 4,
             f"counted={rows} held={[h['reason'][:60] for h in held]}")

    wait_until(lambda: any(a.get("policy_domain") == "valid.example" for a in read_jsonl(jsonl)), 15, step=0.2)
    time.sleep(1)  # any alert from a held report would have come with it
    alerts = read_jsonl(jsonl)
    domains = sorted({a.get("policy_domain") for a in alerts})
    s.result("23.7", "alerts: one for the authenticated report's domain, none from the held ones",
             domains == ["valid.example"], f"alerts={len(alerts)} domains={domains}")
    s.result("23", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")
