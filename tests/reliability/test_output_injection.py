#!/usr/bin/python3
"""Reliability scenarios 25-26 (docs/guarantees.md#reliability-scenarios): report fields
carrying CRLF, RFC 2047 encoded words, ANSI escapes (7-bit and C1), NUL-ish bytes,
5000-char text and SQL, POSTed over HTTPS to `tlsrptd serve` with alerts on: stored
byte-exact (compared with sqlite3's hex(); failure-detail strings up to
limits.max_stored_text_bytes, cut on a character), schema intact, one log line each (no raw CR,
LF, ESC or other controls in the daemon's stderr log), no header injection in the alert
mails (captured by aiosmtpd, parsed with email.policy.strict), valid webhook JSON (a
local HTTPS receiver), clean `tlsrptd alerts list` / `stats` output.
"""
import datetime
import email
import email.policy
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (TLSRPTD, HookServer, SmtpCapture, as_service_user, hostile_scenario, make_cert,  # noqa: E402
                             post, run, wait_until)

YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
TO = ["postmaster@example.com", "noc@example.org"]
TEMPLATE_HEADERS = sorted(["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type",
                           "Content-Transfer-Encoding", "Auto-Submitted"])

# One report per domain; each field carries an attack. (field values as Python str)
HOSTILE = {
    "a.example": {
        "org": "Evil Org\r\nBcc: evil@x.example\r\nX-Injected: 1",
        "rid": "crlf-1\r\nBcc: evil@x.example",
        "mx": "mx1.a.example\r\nBcc: evil@x.example",
        "helo": "helo\r\n.\r\nQUIT\r\n",
        "reason": "=?UTF-8?Q?=0A?=Bcc: evil@x.example",
        "info": "https://a.example/\r\n\r\n<script>alert(1)</script>",
        "policy": "mode: enforce\r\nBcc: evil@x.example",
    },
    "b.example": {
        "org": "=?UTF-8?Q?=0D=0A?=Bcc: evil@x.example =?UTF-8?B?DQpCY2M6IGV2aWxAeC5leGFtcGxl?=",
        "rid": "=?UTF-8?B?DQpCY2M6IGV2aWxAeC5leGFtcGxl?=",
        "mx": "=?utf-8?q?=0a?=bcc: evil@x.example",
        "helo": "=?UTF-8?Q?=0A?=X-Injected: 1",
        "reason": "=?ISO-8859-1?Q?=0D=0ABcc=3A_evil@x.example?=",
        "info": "=?UTF-8?B?DQpCY2M6IGV2aWxAeC5leGFtcGxl?=",
        "policy": "=?UTF-8?Q?=0A?=mx: evil.example",
    },
    "c.example": {
        "org": "\x1b[2J\x1b[31mANSI\x1b]0;pwned\x07 \u009b31mC1\u009b0m \u202eRTL",
        "rid": "ansi-\x1b[1;1H\x1b[2K-\u009bJ",
        "mx": "mx\x1b[2j.c.example",
        "helo": "helo\x01\x02\x7f\x08\x08\x08\x0b\x0c",
        "reason": "nul\u0000inside\u0000text",
        "info": "line\u2028separator\u2029paragraph\u0085nel",
        "policy": "version: STSv1\x1b[8m hidden",
    },
    "d.example": {
        "org": "'); DROP TABLE reports;--" + "L" * 999,  # 1024 bytes, the identifier cap
        "rid": "'; DELETE FROM policy; SELECT '",
        "mx": "mx.d.example'); drop table failure;--",
        "helo": "\"; ATTACH DATABASE '/tmp/x.db' AS x; --",
        "reason": "R\u00fcckweg " * 555,  # 5000 characters, non-ASCII
        "info": "I" * 5000,
        "policy": "x" * 5000,
    },
}


def hostile_report(domain, f):
    return {
        "organization-name": f["org"],
        "date-range": {"start-datetime": YESTERDAY + "T00:00:00Z", "end-datetime": YESTERDAY + "T23:59:59Z"},
        "contact-info": "reports@sender.example",
        "report-id": f["rid"],
        "policies": [{
            "policy": {"policy-type": "no-policy-found", "policy-domain": domain, "policy-string": [f["policy"]]},
            "summary": {"total-successful-session-count": 95, "total-failure-session-count": 5},
            "failure-details": [{"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.10",
                                 "receiving-mx-hostname": f["mx"], "receiving-mx-helo": f["helo"],
                                 "receiving-ip": "198.51.100.25", "failed-session-count": 5,
                                 "additional-information": f["info"], "failure-reason-code": f["reason"]}],
        }],
    }


def hexs(s):
    return s.encode("utf-8").hex().upper()


STORED_TEXT = 256  # limits.max_stored_text_bytes: a failure-detail string is stored cut there
ROW_TEXT = 2 * STORED_TEXT  # parser/footprint.hpp kRowTextStrings: the text one failure row keeps


def utf8_prefix(s, limit):
    """The longest prefix of at most `limit` bytes that does not split a character."""
    return s.encode("utf-8")[:limit].decode("utf-8", "ignore")


def stored_row(fields):
    """What the failure row keeps of its strings, given in the footprint's order
    (sending-mta-ip, receiving-mx-hostname, receiving-mx-helo, receiving-ip,
    additional-information, failure-reason-code): each cut to STORED_TEXT bytes, all
    of them together to ROW_TEXT, a string past that left out (None). The raw
    submission keeps the whole."""
    kept, used = [], 0
    for value in fields:
        if used >= ROW_TEXT and value:
            kept.append(None)
            continue
        value = utf8_prefix(value, min(STORED_TEXT, ROW_TEXT - used))
        used += len(value.encode("utf-8"))
        kept.append(value)
    return kept


def stored_exact(d):
    mismatches, checked = [], 0
    for domain, f in HOSTILE.items():
        rows = d.q("SELECT hex(r.organization_name) AS org, hex(r.report_id) AS rid, hex(x.receiving_mx_helo) AS helo, "
                   "hex(x.additional_information) AS info, hex(x.failure_reason_code) AS reason, "
                   "hex(x.receiving_mx_hostname) AS mx, p.policy_strings AS policy "
                   "FROM report r JOIN policy p ON p.report = r.id JOIN failure x ON x.report = r.id "
                   f"WHERE p.policy_domain = '{domain}'")
        if len(rows) != 1:
            mismatches.append(f"{domain}: {len(rows)} rows")
            continue
        row = rows[0]
        _, mx, helo, _, info, reason = stored_row(["192.0.2.10", f["mx"].strip().lower(), f["helo"],
                                                   "198.51.100.25", f["info"], f["reason"]])
        want = {"org": hexs(f["org"]), "rid": hexs(f["rid"]), "helo": hexs(helo or ""),
                "info": hexs(info or ""), "reason": hexs(reason or ""), "mx": hexs(mx or "")}
        for k, v in want.items():
            checked += 1
            if row[k] != v:
                mismatches.append(f"{domain}.{k}: stored {bytes.fromhex(row[k] or '')[:60]!r} "
                                  f"sent {bytes.fromhex(v)[:60]!r}")
        checked += 1
        if json.loads(row["policy"]) != [f["policy"]]:
            mismatches.append(f"{domain}.policy: {row['policy'][:80]!r}")
    return mismatches, checked


BAD_LOG = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def log_clean(d, before):
    log = d.log_bytes()[before:]
    bad = [m.group(0) for m in BAD_LOG.finditer(log)]
    lines = log.split(b"\n")
    # Every record starts with its syslog priority "<N>"; a line that does not is a
    # continuation smuggled in by a field.
    orphans = [ln[:60] for ln in lines if ln and not re.match(rb"<[0-7]>", ln)]
    return bad, orphans, lines


def check_mail(cap):
    problems = []
    for m in cap.messages:
        raw = m["data"]
        if m["rcpt"] != TO:
            problems.append(f"rcpt {m['rcpt']}")
        for line in raw.split(b"\r\n"):
            if len(line) > 998:
                problems.append(f"line of {len(line)} bytes")
            if any(not (32 <= c < 127 or c == 9) for c in line):
                problems.append(f"non-printable byte in {line[:60]!r}")
        if re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
            problems.append("bare CR or LF")
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.strict)
        except Exception as e:
            problems.append(f"strict parse failed: {e}")
            continue
        if sorted(msg.keys()) != TEMPLATE_HEADERS:
            problems.append(f"headers {sorted(msg.keys())}")
        for h in ("Bcc", "Cc", "X-Injected", "Reply-To"):
            if msg[h] is not None:
                problems.append(f"{h}: {msg[h]}")
        if msg["To"] != ", ".join(TO):
            problems.append(f"To: {msg['To']}")
        if "\n" in str(msg["Subject"]) or "\r" in str(msg["Subject"]):
            problems.append("subject with a line break")
        body = msg.get_content().replace("\r\n", "\n")
        m = BAD_LOG.search(body.encode("utf-8"))
        if m:
            problems.append(f"control character {m.group(0)!r} in the body")
        if re.search(r"^(Bcc|X-Injected):", body, re.M):
            problems.append("injected header line in the body")
    return problems


def check_hooks(hook):
    problems, reporters = [], []
    for path, headers, body in hook.requests:
        if headers.get("Content-Type") != "application/json":
            problems.append(f"content type {headers.get('Content-Type')}")
        if re.search(rb"[\x00-\x1f\x7f]", body):
            problems.append("raw control byte in the JSON text")
        try:
            doc = json.loads(body.decode("utf-8"))  # strict: raw control characters are errors
        except ValueError as e:
            problems.append(f"invalid JSON: {e}")
            continue
        if path == "/hook":
            reporters += doc.get("evidence", {}).get("reporters", [])
        elif path == "/slack":
            if set(doc) != {"text"} or "<!" in doc["text"]:
                problems.append(f"slack text {doc}")
    return problems, reporters


@hostile_scenario(deadline=120)
def output_injection(s):
    """Scenarios 25-26: hostile report fields through the log, the database, alert mails and webhooks."""
    smtp = SmtpCapture()
    cert, key = make_cert(s.tmp)
    hook = HookServer(cert, key)
    try:
        run_checks(s, smtp, hook, cert)
    finally:
        smtp.stop()
        hook.stop()


def run_checks(s, smtp, hook, cert):
    jsonl = s.path("alerts.jsonl")
    sinks = (f'[alerts]\ntrust_unauthenticated = true\n'
             f'[[alerts.sink]]\ntype = "log"\n'
             f'[[alerts.sink]]\ntype = "file"\npath = "{jsonl}"\n'
             f'[[alerts.sink]]\ntype = "email"\nsmarthost = "smtp://127.0.0.1:{smtp.port}"\nstarttls = "try"\n'
             f'from = "tlsrptd@example.com"\nto = {json.dumps(TO)}\ntimeout = "10s"\n'
             f'[[alerts.sink]]\ntype = "webhook"\nurl = "{hook.url("/hook")}"\nallow_private = true\n'
             f'ca_file = "{cert}"\n'
             f'[[alerts.sink]]\ntype = "webhook"\nurl = "{hook.url("/slack")}"\nformat = "slack"\n'
             f'allow_private = true\nca_file = "{cert}"\n')
    os.chmod(s.tmp, 0o777)  # the file sink writes as the service user
    d = s.daemon("inject", top_config='log_level = "debug"', sections=sinks)
    schema0 = d.q("SELECT type, name FROM sqlite_master ORDER BY 1, 2")
    log0 = len(d.log_bytes())

    statuses = {}
    for domain, f in HOSTILE.items():
        status, resp = post(d, json.dumps(hostile_report(domain, f)).encode())
        statuses[domain] = status
    s.result("26.0", "the four hostile reports are accepted over HTTPS", all(v == 200 for v in statuses.values()),
             f"statuses={statuses}")

    mism, checked = stored_exact(d)
    s.result("26.1", "stored byte-exact up to the stored-text cap (hex() from sqlite3 vs what was sent)", not mism,
             f"{checked} fields checked, mismatches={mism[:4]}")
    schema1 = d.q("SELECT type, name FROM sqlite_master ORDER BY 1, 2")
    integrity = d.q("PRAGMA integrity_check")
    s.result("26.2", "SQL in fields: schema intact, integrity ok, nothing deleted",
             schema0 == schema1 and integrity == [{"integrity_check": "ok"}] and d.count() == 4
             and d.count("policy") == 4 and d.count("failure") == 4,
             f"tables unchanged={schema0 == schema1} integrity={integrity} reports={d.count()} "
             f"policies={d.count('policy')} failures={d.count('failure')}")

    got_all = wait_until(lambda: len(smtp.messages) >= 4 and
                         sum(1 for r in hook.requests if r[0] == "/hook") >= 4, 30, step=0.2)
    time.sleep(0.5)
    problems = check_mail(smtp)
    s.result("25.1", "alert mails: strict parse, exactly the template's headers, no Bcc, RCPT = configured list, "
             "lines <= 998, 7-bit printable", got_all and len(smtp.messages) == 4 and not problems,
             f"mails={len(smtp.messages)} problems={problems[:4]} subjects="
             f"{[email.message_from_bytes(m['data'], policy=email.policy.default)['Subject'][:70] for m in smtp.messages]}")
    hproblems, reporters = check_hooks(hook)
    orgs = [f["org"] for f in HOSTILE.values()]
    # JSON carries the reporters' names as sent (escaped in the JSON text, which has
    # no raw control byte), possibly cut.
    shown = sum(1 for r in reporters if any(o == r or o.startswith(r.rstrip("\u2026")) for o in orgs))
    s.result("25.2", "webhook bodies are valid JSON (json and slack formats), the raw strings escaped",
             got_all and not hproblems and len(reporters) == 4 and shown == 4,
             f"posts={len(hook.requests)} problems={hproblems[:3]} reporters={[r[:50] for r in reporters]}")
    with open(jsonl, encoding="utf-8") as f:
        lines = f.read().splitlines()
    valid = 0
    for line in lines:
        try:
            json.loads(line)
            valid += 1
        except ValueError:
            pass
    s.result("25.3", "file sink: one valid JSON line per alert", len(lines) == 4 and valid == 4,
             f"lines={len(lines)} valid={valid}")

    bad, orphans, lines = log_clean(d, log0)
    alert_lines = sum(1 for ln in lines if b" alert " in ln or ln.startswith(b"<") and b"alert " in ln[:20])
    s.result("26.3", "daemon log: no raw CR/LF/ESC/C0/C1 from report fields; every record one line",
             not bad and not orphans, f"log records={len([ln for ln in lines if ln])} raw_controls={bad[:6]} "
                                      f"orphan_lines={orphans[:3]} alert_log_lines={alert_lines}")

    bad_cli = []
    for args in (["alerts", "list"], ["stats"], ["stats", "--format", "json"]):
        p = run(as_service_user([TLSRPTD, *args, "--db", d.db]), timeout=60)
        out = (p.stdout + p.stderr).encode()
        if p.returncode != 0:
            bad_cli.append(f"{args}: exit {p.returncode} {p.stderr[:100]!r}")
        for m in BAD_LOG.finditer(out):
            bad_cli.append(f"{args}: raw {m.group(0)!r}")
    s.result("26.4", "CLI output (alerts list, stats) carries no raw control characters", not bad_cli,
             f"problems={bad_cli[:4]}")

    too_long = {"organization-name": "O" * 5000}
    r = dict(hostile_report("e.example", HOSTILE["d.example"]), **too_long, **{"report-id": "too-long-org"})
    status, resp = post(d, json.dumps(r).encode())
    s.result("26.5", "a 5000-character organization-name (identifier cap 1024) -> 400 with a reason, not stored",
             status == 400 and d.count("reports", "report_id = 'too-long-org'") == 0,
             f"status={status} reason={resp.get('error') if isinstance(resp, dict) else resp!r}")
    s.result("25-26", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")

