"""What strangers can do to the output side (issue 19, item 5 and the output and parser
parts of item 8; scenarios 36-38 of docs/guarantees.md#reliability-scenarios).

36 forged_alert_budget: a stranger signing with two signing names of its own domain,
   a.attacker.example and b.attacker.example (dnsmasq serves the keys, so the
   signatures are valid and aligned: the reports count as authenticated), mails
   failure reports about f0..f19.<served domain>, each subdomain with its own
   cooldown; then a genuine reporter's signed report makes a critical alert about the
   served domain. Asserted: the genuine alert is SENT (file sink), the stranger's two
   signers together got at most alerts.max_per_hour_per_reporter (5) sent (one
   organization, one share), and the alert names the signing domain ("(signed by
   a.attacker.example)") in the file sink's JSON and in the log line. Figures: alerts
   sent for the stranger, the genuine one.
37 output_neutralised: report text made to run in a spreadsheet (=, +, -, @ cells),
   to reorder a terminal line (U+202E, U+2066) or to break it (U+2028, ESC): `stats`
   as CSV has no cell a spreadsheet runs and no raw control or bidi character; nor do
   `stats` as table and JSON, `report show`, `report list`, the alert file sink and
   the log. Policy domains with CR/LF, '"' or <script> under the served domain are
   refused (400, nothing stored).
38 series_and_count_bounds: one report with 999 policy domains under the served
   domain: the served domain keeps its one series in tlsrptd_sessions_total (no
   overflow series, a genuine report's sessions counted under it); reports whose
   sessions add up past limits.max_sessions_per_report (two of 1000 policies x
   (2^53-1)) are refused, and the stored totals stay far from the 64-bit limit.
Everything asserted is structural (statuses, rows, alerts, bytes); nothing is timed.
"""
import csv
import datetime
import io
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import report_mail  # noqa: E402
from hostile_support import (SOURCE, TLSRPTD, Dnsmasq, SmtpClient, as_service_user, curl, dot_stuff,  # noqa: E402
                             free_port, hostile_scenario, post, run, wait_until)

DKIM_TOOL = os.path.join(SOURCE, "tests", "tools", "dkim_tool.py")
YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
SERVED = "served.example"
ATTACKER = "attacker.example"
GENUINE = "genuine.example"
PER_REPORTER = 5  # alerts.max_per_hour_per_reporter's default
MAX_COUNT = (1 << 53) - 1
# Raw bytes no output may carry: ESC, CR inside a line, C1 CSI, the bidi controls, U+2028/9.
RAW_BAD = [b"\x1b", b"\xc2\x9b", b"\xe2\x80\xae", b"\xe2\x80\xab", b"\xe2\x81\xa6", b"\xe2\x81\xa9",
           b"\xe2\x80\x8f", b"\xd8\x9c", b"\xe2\x80\xa8", b"\xe2\x80\xa9"]


def policy(domain, ok, failed, result="certificate-expired", ptype="sts", mx=None):
    mx = mx or f"mx1.{SERVED}"
    return {"policy": {"policy-type": ptype, "policy-domain": domain,
                       "policy-string": ["version: STSv1", "mode: enforce", f"mx: {mx}", "max_age: 86400"]},
            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
            "failure-details": [{"result-type": result, "sending-mta-ip": "192.0.2.1",
                                 "receiving-mx-hostname": mx, "failed-session-count": failed}] if failed else []}


def report(rid, policies, org="Mail Provider Inc.", contact=f"tlsrpt@{ATTACKER}", day=YESTERDAY):
    return json.dumps({
        "organization-name": org, "contact-info": contact, "report-id": rid,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "policies": policies}).encode()


def read_jsonl(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def smtp_send(port, msg, mail_from):
    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        c.cmd(b"MAIL FROM:<" + mail_from.encode() + b">")
        c.cmd(b"RCPT TO:<tlsrpt@example.com>")
        r = c.cmd(b"DATA")
        if r[0] != 354:
            return r[0], r[1]
        c.send(dot_stuff(msg) + b"\r\n.\r\n")
        code, text, _ = c.reply(30)
        return code, text


def cli(d, *args):
    """A read-only CLI command on the daemon's database: (exit code, stdout bytes)."""
    p = subprocess.run(as_service_user([TLSRPTD, "--config", d.config, *args]), capture_output=True, timeout=60)
    return p.returncode, p.stdout


def text_of(body):
    """post()'s body (parsed JSON or bytes) as bytes."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def raw_bad(data):
    return [b.decode("utf-8", "backslashreplace") for b in RAW_BAD if b in data]


# ------------------------------------------------------------------ 36

@hostile_scenario(deadline=150)
def forged_alert_budget(s):
    """Scenario 36: a stranger's own DKIM key cannot spend the alert budget a genuine reporter needs."""
    os.chmod(s.tmp, 0o777)  # the file sink writes as the service user
    keys = s.path("keys")
    os.makedirs(keys)
    txt = subprocess.run([sys.executable, DKIM_TOOL, "keygen", keys, "1024"], capture_output=True,
                         check=True, timeout=60).stdout.decode().strip()
    key = os.path.join(keys, "key.pem")
    signers = [f"a.{ATTACKER}", f"b.{ATTACKER}"]  # two signing names, one organization
    dns = Dnsmasq([(f"sel._domainkey.{n}", txt) for n in signers] + [(f"sel._domainkey.{GENUINE}", txt)])
    s.ctx.on_cleanup(dns.stop)
    jsonl = s.path("alerts.jsonl")
    port = free_port()
    # Only keys the binary before issue 19 also knows: the shares run on their defaults.
    d = s.daemon("budget", top_config=f'domains = ["{SERVED}"]\n',
                 sections=(f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\n'
                           f'[dns]\nservers = ["{dns.server}"]\ntimeout = "2s"\n'
                           f'[alerts]\n[[alerts.sink]]\ntype = "file"\npath = "{jsonl}"\n'
                           f'[[alerts.sink]]\ntype = "log"\n'))

    def signed(body, rid, domain):
        msg = report_mail(body, rid, submitter=domain, domain=SERVED)
        return subprocess.run([sys.executable, DKIM_TOOL, "sign", key, "sel", domain], input=msg,
                              capture_output=True, check=True, timeout=60).stdout

    codes = []
    for i in range(20):  # each subdomain its own (domain, kind) cooldown
        rid = f"forged-{i}"
        body = report(rid, [policy(f"f{i}.{SERVED}", 10, 90, mx=f"mx1.f{i}.{SERVED}")])
        signer = signers[i % 2]
        codes.append(smtp_send(port, signed(body, rid, signer), f"tlsrpt@{signer}")[0])
    signed_rows = d.q("SELECT count(*) AS n FROM report_auth WHERE authenticated = 1 "
                      f"AND method LIKE 'dkim pass d=_.{ATTACKER}%'")[0]["n"]
    s.result("36.1", "20 reports signed by the stranger's two signing names: stored and counted (authenticated)",
             codes == [250] * 20 and signed_rows == 20, f"replies={sorted(set(codes))} dkim_pass_rows={signed_rows}")
    wait_until(lambda: len(read_jsonl(jsonl)) >= PER_REPORTER, 20, step=0.2)
    time.sleep(2)  # the dispatcher has sent what the budget let through

    body = report("genuine-1", [policy(SERVED, 100, 900)], org="Genuine Reporter",
                  contact=f"tlsrpt@{GENUINE}")
    code, text = smtp_send(port, signed(body, "genuine-1", GENUINE), f"tlsrpt@{GENUINE}")
    s.result("36.2", "the genuine reporter's signed report: stored", code == 250, f"reply={code} {text.strip()!r}")
    wait_until(lambda: any(a.get("policy_domain") == SERVED for a in read_jsonl(jsonl)), 20, step=0.2)
    time.sleep(1)
    alerts = read_jsonl(jsonl)
    forged = [a for a in alerts if re.fullmatch(r"f\d+\.served\.example", a.get("policy_domain", ""))]
    genuine = [a for a in alerts if a.get("policy_domain") == SERVED]
    notices = [a for a in alerts if a.get("kind") == "alerts-suppressed"]
    s.ctx.figure("alerts_sent_for_the_stranger", len(forged))
    s.ctx.figure("genuine_alert_sent", len(genuine))
    s.ctx.figure("suppressed_notices", len(notices))
    s.result("36.3", "the genuine critical alert is SENT; the stranger's two signers got at most one share",
             len(genuine) >= 1 and any(a.get("severity") == "critical" for a in genuine)
             and len(forged) <= PER_REPORTER,
             f"stranger={len(forged)} genuine={[(a.get('kind'), a.get('severity')) for a in genuine]} "
             f"notices={len(notices)} all={len(alerts)}")
    reporters = [r for a in forged for r in a.get("evidence", {}).get("reporters", [])]
    signer_named = bool(reporters) and all(re.search(rf"\(signed by [ab]\.{re.escape(ATTACKER)}\)", r)
                                           for r in reporters)
    log = open(d.log, "rb").read()
    log_named = (re.search(rb"\(signed by [ab]\." + re.escape(ATTACKER.encode()) + rb"\)", log) is not None
                 and f"(signed by {GENUINE})".encode() in log)
    s.result("36.4", "the alert names the signing domain next to the organization-name (file sink, log)",
             signer_named and log_named, f"reporters={sorted(set(reporters))[:3]} in_log={log_named}")
    s.result("36", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")


# ------------------------------------------------------------------ 37

HOSTILE_TYPES = ["=HYPERLINK(\"http://x.example\",\"y\")", "+1+1", "-2+3", "@SUM(1,2)", "\tTAB", "\rCR"]
BIDI_ORG = "Evil\u202etxt.exe\u2066 \u2028next line\u2029\x1b[2J\u200f\u061c Org"


@hostile_scenario(deadline=120)
def output_neutralised(s):
    """Scenario 37: CSV cells, bidi and separators neutralised; non-LDH policy domains refused."""
    os.chmod(s.tmp, 0o777)
    jsonl = s.path("alerts.jsonl")
    d = s.daemon("out", top_config=f'domains = ["{SERVED}"]\n',
                 sections=(f'[alerts]\ntrust_unauthenticated = true\n[[alerts.sink]]\ntype = "file"\n'
                           f'path = "{jsonl}"\n[[alerts.sink]]\ntype = "log"\n'))
    statuses = []
    for i, t in enumerate(HOSTILE_TYPES):  # unknown policy-type and result-type tokens are kept as sent
        body = report(f"csv-{i}", [policy(f"p{i}.{SERVED}", 10, 90, result=t, ptype=t)], org=BIDI_ORG)
        statuses.append(post(d, body)[0])
    statuses.append(post(d, report("bidi-1", [policy(SERVED, 10, 90, result="bad\u202eresult\u2028x")],
                                   org=BIDI_ORG))[0])
    s.result("37.1", "hostile text reports stored", statuses == [200] * len(statuses), f"statuses={statuses}")

    rc, out = cli(d, "stats", "--format", "csv")
    cells = [c for row in csv.reader(io.StringIO(out.decode("utf-8", "replace"))) for c in row]
    runnable = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    s.result("37.2", "stats --format csv: no cell a spreadsheet runs, no raw control or bidi character",
             rc == 0 and len(cells) > 10 and not runnable and not raw_bad(out),
             f"rc={rc} cells={len(cells)} runnable={runnable[:3]} raw={raw_bad(out)} "
             f"neutralised={sum(c.startswith(chr(39)) for c in cells)}")
    outputs = {"stats": cli(d, "stats"), "stats json": cli(d, "stats", "--format", "json"),
               "report list": cli(d, "report", "list"), "report list json": cli(d, "report", "list", "--format", "json"),
               "alerts list": cli(d, "alerts", "list"), "alerts list json": cli(d, "alerts", "list", "--format", "json")}
    ids = d.q("SELECT id FROM reports WHERE report_id = 'bidi-1'")
    if ids:
        outputs["report show"] = cli(d, "report", "show", str(ids[0]["id"]))
        outputs["report show json"] = cli(d, "report", "show", str(ids[0]["id"]), "--format", "json")
    dirty = {k: raw_bad(v[1]) for k, v in outputs.items() if v[0] != 0 or raw_bad(v[1])}
    s.result("37.3", "stats (table, json), report list/show, alerts list: control and bidi characters escaped",
             len(outputs) == 8 and not dirty, f"outputs={len(outputs)} dirty={dirty}")
    for k in ("stats json", "report list json", "alerts list json"):
        try:
            json.loads(outputs[k][1])
        except ValueError as e:
            s.result("37.3", f"{k} is valid JSON", False, str(e))

    wait_until(lambda: len(read_jsonl(jsonl)) >= 2, 15, step=0.2)
    time.sleep(1)
    sink = open(jsonl, "rb").read() if os.path.exists(jsonl) else b""
    log = open(d.log, "rb").read()
    s.result("37.4", "alert file sink and log: U+202E, U+2028, ESC escaped",
             len(read_jsonl(jsonl)) >= 1 and not raw_bad(sink) and not raw_bad(log),
             f"alerts={len(read_jsonl(jsonl))} raw_in_sink={raw_bad(sink)} raw_in_log={raw_bad(log)}")

    before = d.count()
    refused = []
    for name in ["a\r\nb." + SERVED, "x\"q." + SERVED, "<script>alert(1)</script>." + SERVED, "a b." + SERVED,
                 "a_b." + SERVED, "-a." + SERVED]:
        st, body = post(d, report(f"ldh-{len(refused)}", [policy(name, 1, 0)]))
        refused.append((st, b"policy-domain" in text_of(body)))
    s.result("37.5", "policy domains that are not LDH host names -> 400 naming the field, nothing stored",
             all(r == (400, True) for r in refused) and d.count() == before,
             f"replies={refused} stored_before={before} after={d.count()}")
    st, _ = post(d, report("idn-1", [policy("b\u00fccher." + SERVED, 5, 0)]))
    stored = d.q("SELECT p.policy_domain FROM policy p JOIN report r ON r.id = p.report WHERE r.report_id = 'idn-1'")
    s.result("37.6", "a U-label policy domain is stored as its A-label", st == 200 and stored
             and stored[0]["policy_domain"] == "xn--bcher-kva." + SERVED, f"status={st} stored={stored}")
    s.result("37", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")


# ------------------------------------------------------------------ 38

def series(d):
    """The tlsrptd_sessions_total series: {labels: value}."""
    text = curl(d.admin("/metrics"))[2].decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        if line.startswith("tlsrptd_sessions_total{"):
            labels, _, value = line.rpartition(" ")
            out[labels[len("tlsrptd_sessions_total"):]] = float(value)
    return out


@hostile_scenario(deadline=120)
def series_and_count_bounds(s):
    """Scenario 38: per-domain series keyed by served domain; session sums bounded."""
    d = s.daemon("series", top_config=f'domains = ["{SERVED}"]\n')
    many = report("many-1", [policy(f"h{i}.{SERVED}", 1, 0) for i in range(999)] + [policy("foreign.example", 1, 0)])
    st1 = post(d, many)[0]
    st2 = post(d, report("genuine-1", [policy(SERVED, 7, 3)], org="Genuine Reporter"))[0]
    m = series(d)
    overflow = [k for k in m if 'overflow="true"' in k]
    own = m.get(f'{{policy_domain="{SERVED}",result="successful"}}')
    s.ctx.figure("sessions_series", len(m))
    s.ctx.figure("overflow_series", len(overflow))
    s.result("38.1", "999 policy domains under the served domain: one series for it, no overflow, its sessions counted",
             st1 == 200 and st2 == 200 and not overflow and own == 999 + 7 and len(m) <= 4
             and not any("foreign.example" in k for k in m),
             f"statuses={st1},{st2} series={len(m)} overflow={len(overflow)} served_successful={own}")

    big = [report(f"max-{k}", [policy(SERVED, MAX_COUNT, 0) for _ in range(1000)], day="2026-11-0" + str(k + 1))
           for k in range(2)]
    replies = [post(d, b) for b in big]
    statuses = [r[0] for r in replies]
    refused_by_limit = all(b"max_sessions_per_report" in text_of(r[1]) for r in replies)
    total = d.q(f"SELECT CAST(TOTAL(successful_sessions) AS TEXT) AS t FROM policy_daily WHERE policy_domain = '{SERVED}'")
    total_v = float(total[0]["t"]) if total and total[0]["t"] is not None else 0.0
    s.ctx.figure("max_count_reports_status", statuses)
    s.ctx.figure("served_domain_total_successful", f"{total_v:.0f}")
    s.result("38.2", "two reports of 1000 policies x (2^53-1): refused (limits.max_sessions_per_report)",
             statuses == [400, 400] and refused_by_limit and total_v < 2 ** 62,
             f"statuses={statuses} total={total_v:.0f}")
    at_limit = report("limit-1", [policy(SERVED, 500_000_000_000, 0), policy(SERVED, 500_000_000_000, 0)],
                      day="2026-11-05")
    over = report("limit-2", [policy(SERVED, 500_000_000_000, 0), policy(SERVED, 500_000_000_001, 0)],
                  day="2026-11-06")
    st_at, st_over = post(d, at_limit)[0], post(d, over)[0]
    s.result("38.3", "10^12 sessions in a report accepted, one more refused", (st_at, st_over) == (200, 400),
             f"statuses={st_at},{st_over}")
    rc, out = cli(d, "stats", "--format", "json")
    try:
        rows = json.loads(out)
    except ValueError:
        rows = []
    biggest = max((r.get("successful_sessions", 0) for r in rows), default=0)
    s.result("38.4", "stats sums stay exact (10^12 + 7), far below 2^63", rc == 0 and biggest == 10 ** 12 + 7,
             f"rc={rc} max_successful={biggest}")
    s.result("38", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")
