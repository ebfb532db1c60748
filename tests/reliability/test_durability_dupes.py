"""Duplicates and report-id squatting (scenarios 4 and 5,
docs/guarantees.md#reliability-scenarios). The same report 50x over HTTPS and 50x over
SMTP at once: all succeed, it is counted once, 99 duplicates. A forged HTTPS report that
reuses a real report-id with other content, before or after the DKIM-signed mail: it is
another reporter's (docs/receiver-rules.md#report-identity), so it never replaces or
suppresses the authenticated report, which counts whatever came first; a mail signed by
the forger's own domain under a well-known reporter's name is held."""
import os
import subprocess
import threading
import urllib.request

from common import SOURCE, Skip, db_rows, free_port, https_post, report_json, report_mail, scenario, smtp_send
from durability import stored_state
from support import Dnsmasq

DKIM_TOOL = os.path.join(SOURCE, "tests", "tools", "dkim_tool.py")


def metric_sum(d, name, **labels):
    text = urllib.request.urlopen(d.admin("/metrics"), timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@scenario(deadline=120)
def duplicates_concurrent(ctx):
    d = ctx.daemon(smtp=True, extra_config="max_connections_per_client = 128\n",
                   smtp_extra="max_connections_per_client = 128\nmax_connections = 256\n")
    rid = "dup-concurrent-1"
    body = report_json(rid, ok=7, failed=3)
    mail = report_mail(body, rid)
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(100)

    def one(channel):
        barrier.wait()
        r = https_post(d.port, body, timeout=60) if channel == "https" else smtp_send(d.smtp_port, mail, timeout=60)
        with lock:
            results.append((channel, r.status, r.body))

    threads = [threading.Thread(target=one, args=("https" if i < 50 else "smtp",)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(1 for ch, s, _ in results if s == (200 if ch == "https" else 250))
    stored_ch = [ch for ch, s, b in results if b'"stored"' in b or b"report stored" in b]
    st = stored_state(d.db)
    daily = db_rows(d.db, "SELECT successful_sessions, failed_sessions, reports FROM policy_daily")
    dups = metric_sum(d, "tlsrptd_reports_total", outcome="duplicate")
    stored_metric = metric_sum(d, "tlsrptd_reports_total", outcome="stored")
    ctx.figure("successes", f"{ok}/100")
    ctx.figure("first_stored_by", stored_ch)
    ctx.figure("rows_counted", st["counted"][rid])
    ctx.figure("duplicates_metric", int(dups))
    ctx.figure("policy_daily", daily)
    ctx.check(ok == 100, f"only {ok}/100 succeeded: {sorted(set((c, s) for c, s, _ in results))}")
    ctx.check(len(stored_ch) == 1, f"{len(stored_ch)} replies said 'stored'")
    ctx.check(st["counted"][rid] == 1 and st["rows"] == 1, f"rows: {st}")
    ctx.check(daily == [{"successful_sessions": 7, "failed_sessions": 3, "reports": 1}], f"policy_daily {daily}")
    ctx.check(dups == 99 and stored_metric == 1, f"metrics: {dups} duplicates, {stored_metric} stored")
    ctx.check(st["integrity"] == "ok", st["integrity"])


class Dkim:
    """A DKIM key for sender.example served by dnsmasq on loopback."""

    def __init__(self, ctx):
        keys = os.path.join(ctx.tmp, "keys")
        os.makedirs(keys)
        txt = subprocess.run(["/usr/bin/python3", DKIM_TOOL, "keygen", keys, "1024"], capture_output=True,
                             check=True, timeout=60).stdout.decode().strip()
        self.key = os.path.join(keys, "key.pem")
        self.dns = Dnsmasq([("sel._domainkey.sender.example", txt)])
        ctx.on_cleanup(self.dns.stop)

    def sign(self, message):
        return subprocess.run(["/usr/bin/python3", DKIM_TOOL, "sign", self.key, "sel", "sender.example"],
                              input=message, capture_output=True, check=True, timeout=60).stdout


def rows_for(d, rid):
    return db_rows(d.db, "SELECT r.transport, r.status, a.authenticated, p.successful_sessions, p.failed_sessions "
                         "FROM report r JOIN report_auth a ON a.report = r.id JOIN policy p ON p.report = r.id "
                         f"WHERE r.report_id = '{rid}' ORDER BY r.id")


def authenticated_daily(d, domain):
    return db_rows(d.db, "SELECT CAST(TOTAL(p.successful_sessions) AS INTEGER) AS successful_sessions, "
                         "CAST(TOTAL(p.failed_sessions) AS INTEGER) AS failed_sessions FROM report r "
                         "JOIN report_auth a ON a.report = r.id JOIN policy p ON p.report = r.id "
                         f"WHERE r.status = 'counted' AND a.authenticated = 1 AND p.policy_domain = '{domain}'")


@scenario(deadline=120)
def report_id_squatting(ctx):
    if subprocess.run(["/usr/bin/python3", "-c", "import dkim"], capture_output=True).returncode != 0:
        raise Skip("python3-dkim is not installed (tests/tools/dkim_tool.py needs it)")
    keys = Dkim(ctx)
    port = free_port()
    d = ctx.daemon(sections=(f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\n'
                             f'dkim = "require"\n[dns]\nservers = ["{keys.dns.server}"]\ntimeout = "2s"\n'))
    verdicts = {}
    for case, forged_first in (("real-first", False), ("forged-first", True)):
        rid = f"squat-{case}"
        domain = f"{case}.example"
        real = report_json(rid, domain=domain, ok=100, failed=0)
        forged = report_json(rid, domain=domain, ok=0, failed=100000)
        mail = keys.sign(report_mail(real, rid))
        replies = []
        for step in (["forged", "real"] if forged_first else ["real", "forged"]):
            if step == "forged":
                r = https_post(d.port, forged)
                replies.append(("forged https", r.status, r.body.decode(errors="replace")))
            else:
                r = smtp_send(port, mail)
                replies.append(("real smtp", r.status, r.body.decode(errors="replace")))
        rows = rows_for(d, rid)
        daily = db_rows(d.db, f"SELECT successful_sessions, failed_sessions FROM policy_daily "
                              f"WHERE policy_domain = '{domain}'")
        ctx.figure(f"{case}.replies", replies)
        ctx.figure(f"{case}.rows", rows)
        ctx.figure(f"{case}.policy_daily", daily)
        signed = [r for r in rows if r["authenticated"] == 1]
        unsigned = [r for r in rows if r["authenticated"] == 0]
        ok = (ctx.check(all(s in (200, 250) for _, s, _ in replies), f"{case}: replies {replies}")
              & ctx.check(len(rows) == 2, f"{case}: both kept, rows {rows}")
              & ctx.check(len(signed) == 1 and signed[0]["status"] == "counted" and signed[0]["transport"] == "smtp"
                          and signed[0]["successful_sessions"] == 100,
                          f"{case}: the DKIM-signed report must count, with its own numbers: {rows}")
              & ctx.check(len(unsigned) == 1 and unsigned[0]["transport"] == "https",
                          f"{case}: the forged report is kept as its own, unauthenticated: {rows}")
              & ctx.check(authenticated_daily(d, domain) == [{"successful_sessions": 100, "failed_sessions": 0}],
                          f"{case}: authenticated counts are not the authentic ones"))
        verdicts[case] = "ok" if ok else "SUPPRESSED"
    # The forged copy identical to the real report is the same report: a duplicate.
    rid = "squat-identical"
    real = report_json(rid, domain="identical.example")
    r1 = smtp_send(port, keys.sign(report_mail(real, rid)))
    r2 = https_post(d.port, real)
    ctx.figure("identical.replies", [r1.status, r2.body.decode(errors="replace")])
    ctx.check(r1.status == 250 and b'"duplicate"' in r2.body, "an identical copy must be a duplicate")
    # The forger's own signature under a well-known reporter's name: held, not counted.
    rid = "squat-well-known"
    forged = report_json(rid, org="Google Inc.", domain="well-known.example", ok=0, failed=100000)
    r = smtp_send(port, keys.sign(report_mail(forged, rid)))
    held = db_rows(d.db, f"SELECT reason FROM held_reports WHERE report_id = '{rid}'")
    ctx.figure("well-known.reply", [r.status, r.body.decode(errors="replace").strip()])
    ctx.figure("well-known.held", held)
    ctx.check(r.status == 250 and len(held) == 1 and "Google" in held[0]["reason"] and not rows_for(d, rid),
              "a well-known name signed by another domain must be held, not counted")
    ctx.figure("verdicts", verdicts)
    ctx.check(stored_state(d.db)["integrity"] == "ok", "integrity")
