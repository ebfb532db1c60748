"""Strangers filling the disk (issue 19, item 2; scenarios 33-35 of
docs/guarantees.md#reliability-scenarios).

33 disk_fill_footprint: the attack report of the issue (10 000 failure-details, each
   with ~1.4 KB of additional-information, every one distinct; ~240 KB gzipped) POSTed
   N times from one address while an honest sender POSTs from another. Figures: the
   database's growth (main file + WAL), the bytes uploaded, their ratio, the honest
   POSTs' latency. Asserted: growth / upload < 10 (limits.max_stored_text_bytes,
   limits.max_stored_text_ratio, identical rows merged), every POST answered 200, the
   raw submission stored whole, the cut noted.
34 unauthenticated_budget: one address past a small
   limits.max_unauthenticated_bytes_per_client: HTTPS 429 with Retry-After (the
   seconds to 00:00 UTC), unsigned SMTP mail 451 4.7.0, nothing stored beyond the
   budget; another address is still served; a mail with a trusted DKIM pass from the
   same address is not budgeted.
35 min_free_disk: the database on a tmpfs filled to below limits.min_free_disk:
   HTTPS 503 + Retry-After, SMTP 452 4.3.1, nothing stored, logged once; after space
   is freed, accepted.
Latency is printed, asserted only in --soak mode; statuses, rows and bytes always."""
import base64
import datetime
import gzip
import json
import os
import shutil
import smtplib
import time

from common import report_mail
from hostile_support import (LegitClient, curl, free_port, hostile_scenario, http_request, read_all,
                             tls_connect)

ORG = "Attack Org"


def attack_report(rid, details=10_000, info_bytes=1400):
    """The issue's attack report: every failure-detail distinct from its first bytes on."""
    failures = [{"result-type": "certificate-expired",
                 "sending-mta-ip": f"10.{i // 250 % 250}.{i % 250}.{i // 62500 + 1}",
                 "receiving-mx-hostname": f"mx{i}.example.com",
                 "failed-session-count": 1,
                 "additional-information": f"{i:06d} " + "A" * info_bytes}
                for i in range(details)]
    return json.dumps({
        "organization-name": ORG, "report-id": rid, "contact-info": "x@attacker.example",
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com",
                                 "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.example.com",
                                                   "max_age: 86400"]},
                      "summary": {"total-successful-session-count": 0, "total-failure-session-count": details},
                      "failure-details": failures}]}).encode()


def small_report(rid, pad=0):
    return json.dumps({
        "organization-name": "Honest Org", "report-id": rid, "contact-info": "tlsrpt@sender.example",
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com",
                                 "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.example.com",
                                                   "max_age: 86400"]},
                      "summary": {"total-successful-session-count": 5, "total-failure-session-count": 0}}],
        "padding": base64.b64encode(os.urandom(pad * 3 // 4)).decode()}).encode()  # does not compress


def post_from(d, body, src, ctype="application/tlsrpt+gzip", timeout=60):
    """One POST over a fresh TLS connection from `src`: (status, headers dict, body, seconds)."""
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    status, resp, secs = http_request(d.port, head, body, src, timeout)
    return status, resp, secs


def post_with_headers(d, body, src, ctype="application/tlsrpt+json", timeout=30):
    """Like post_from, with the response headers (lower-case names)."""
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with tls_connect(d.port, src, timeout) as s:
        s.sendall(head + body)
        data, _, _ = read_all(s, timeout)
    top, _, payload = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, payload


def smtp_from(d, message, src, timeout=30):
    """One mail from `src`; the (code, text) of the reply to DATA (or the first refusal)."""
    try:
        with smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=timeout, source_address=(src, 0)) as s:
            s.ehlo("client.sender.example")
            for step in (lambda: s.mail("tlsrpt-noreply@sender.example"), lambda: s.rcpt("tlsrpt@example.com")):
                code, text = step()
                if code >= 400:
                    return code, text
            code, text = s.data(message)
            return code, text
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error
    except (OSError, smtplib.SMTPException) as e:
        return None, str(e).encode()


def db_bytes(d):
    """(main file + WAL, main file after a checkpoint): what is on disk now, and what
    stays once the WAL (reused, at most one transaction's pages) is folded in."""
    on_disk = sum(os.path.getsize(p) for p in (d.db, d.db + "-wal") if os.path.exists(p))
    d.q("PRAGMA wal_checkpoint(TRUNCATE)")
    return on_disk, os.path.getsize(d.db)


def seconds_to_utc_midnight():
    now = datetime.datetime.now(datetime.timezone.utc)
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


# ------------------------------------------------------------------ 33

@hostile_scenario(deadline=300, soak_deadline=900)
def disk_fill_footprint(s):
    n = 20 if s.full else 3
    d = s.daemon("footprint")
    # Warm the database up (schema, first pages) so the growth is the reports'.
    status, _, _ = post_from(d, small_report("warm-up"), "127.0.0.1", "application/tlsrpt+json")
    s.require(status == 200, f"warm-up POST answered {status}")
    legit = LegitClient(d.port, "127.0.0.3", "honest", interval=0.2).start()
    time.sleep(1.0)
    before_with_wal, before = db_bytes(d)
    uploaded, statuses, sizes, t0 = 0, [], [], time.monotonic()
    for i in range(n):
        body = gzip.compress(attack_report(f"attack-{i}"), 6, mtime=0)
        uploaded += len(body)
        sizes.append(len(body))
        status, _, _ = post_from(d, body, "127.0.0.2")
        statuses.append(status)
    attack_s = time.monotonic() - t0
    time.sleep(1.0)
    legit.stop()
    after_with_wal, after = db_bytes(d)
    growth, growth_with_wal = after - before, after_with_wal - before_with_wal
    ratio = growth / uploaded
    s.ctx.figure("33.attack_posts", f"{n} x {uploaded // n} bytes gzipped in {attack_s:.1f}s, statuses {statuses}")
    s.ctx.figure("33.db_growth_bytes", f"{growth} (with the WAL before the checkpoint: {growth_with_wal}, "
                                      f"{growth_with_wal / uploaded:.1f}x)")
    s.ctx.figure("33.upload_bytes", uploaded)
    s.ctx.figure("33.growth_per_upload_byte", f"{ratio:.1f}")
    s.ctx.figure("33.honest", legit.summary())
    rows = d.q("SELECT count(*) AS n, sum(failed_sessions) AS f FROM failure x JOIN report r ON r.id = x.report "
               f"WHERE r.organization_name = '{ORG}'")[0]
    raw = sorted(r["n"] for r in d.q("SELECT length(bytes) AS n FROM report_raw x JOIN report r "
                                     f"ON r.id = x.report WHERE r.organization_name = '{ORG}'"))
    notes = d.q(f"SELECT notes FROM report WHERE organization_name = '{ORG}' LIMIT 1")
    codes = {n["code"] for n in json.loads(notes[0]["notes"])} if notes else set()
    s.ctx.figure("33.failure_rows", f"{rows['n']} rows for {n * 10_000} failure-details, sessions {rows['f']}")
    s.ctx.figure("33.notes", sorted(codes))
    s.result("33.1", "every attack POST answered 200 (the report is valid)", statuses == [200] * n,
             f"statuses={statuses}")
    s.result("33.2", "database growth under 10x the uploaded bytes", ratio < 10,
             f"growth={growth} uploaded={uploaded} ratio={ratio:.1f}")
    s.result("33.3", "failed sessions all counted (merged rows keep their counts)", rows["f"] == n * 10_000,
             f"sum={rows['f']}")
    s.result("33.4", "the raw submission is kept whole; the cut is noted",
             raw == sorted(sizes) and {"stored-text-cut", "stored-text-budget"} <= codes,
             f"raw bytes {raw[:3]}... sent {sorted(sizes)[:3]}... notes={sorted(codes)}")
    s.result("33.5", "the honest sender is served throughout (p99 asserted in --soak)",
             legit.statuses and all(x == 200 for x in legit.statuses) and s.timed(legit.p99() < 1.0),
             legit.summary())


def compressible_report(rid, details=10_000, text_bytes=230):
    """Review finding 1's variant: six strings per failure-detail, each under
    max_stored_text_bytes (so nothing is cut) and distinct by a counter, but otherwise
    the same bytes: ~16 MB of JSON that gzips to ~240 KB."""
    fields = ("sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip",
              "additional-information", "failure-reason-code")
    failures = []
    for i in range(details):
        f = {"result-type": "certificate-expired", "failed-session-count": 1}
        for k, name in enumerate(fields):
            head = f"{k}-{i:06d}-"
            f[name] = head + "x" * (text_bytes - len(head))
        failures.append(f)
    return json.dumps({
        "organization-name": ORG, "report-id": rid, "contact-info": "x@attacker.example",
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
                      "summary": {"total-successful-session-count": 0, "total-failure-session-count": details},
                      "failure-details": failures}]}).encode()


@hostile_scenario(deadline=240, soak_deadline=900)
def disk_fill_compressible(s):
    """33.6-33.8: the footprint budget is sized on the bytes as received (gzipped), not
    on the JSON they inflate to; strings under max_stored_text_bytes are never cut."""
    n = 10 if s.full else 3
    d = s.daemon("compressible")
    status, _, _ = post_from(d, small_report("warm-up"), "127.0.0.1", "application/tlsrpt+json")
    s.require(status == 200, f"warm-up POST answered {status}")
    _, before = db_bytes(d)
    uploaded, statuses, sizes, json_bytes, t0 = 0, [], [], 0, time.monotonic()
    for i in range(n):
        raw = compressible_report(f"compressible-{i}")
        body = gzip.compress(raw, 6, mtime=0)
        json_bytes += len(raw)
        uploaded += len(body)
        sizes.append(len(body))
        statuses.append(post_from(d, body, "127.0.0.2")[0])
    attack_s = time.monotonic() - t0
    _, after = db_bytes(d)
    growth = after - before
    ratio = growth / uploaded
    s.ctx.figure("33.6.attack_posts", f"{n} x {uploaded // n} bytes gzipped ({json_bytes // n} bytes of JSON each) "
                                      f"in {attack_s:.1f}s, statuses {statuses}")
    s.ctx.figure("33.6.db_growth_bytes", growth)
    s.ctx.figure("33.6.growth_per_upload_byte", f"{ratio:.1f}")
    rows = d.q("SELECT count(*) AS n, sum(failed_sessions) AS f FROM failure x JOIN report r ON r.id = x.report "
               f"WHERE r.organization_name = '{ORG}'")[0]
    raw_sizes = sorted(r["n"] for r in d.q("SELECT length(bytes) AS n FROM report_raw x JOIN report r "
                                           f"ON r.id = x.report WHERE r.organization_name = '{ORG}'"))
    s.ctx.figure("33.6.failure_rows", f"{rows['n']} rows for {n * 10_000} failure-details, sessions {rows['f']}")
    s.result("33.6", "every compressible attack POST answered 200 (the report is valid)", statuses == [200] * n,
             f"statuses={statuses}")
    s.result("33.7", "database growth under 10x the uploaded (gzipped) bytes", ratio < 10,
             f"growth={growth} uploaded={uploaded} ratio={ratio:.1f}")
    s.result("33.8", "every session counted; the raw submission kept whole",
             rows["f"] == n * 10_000 and raw_sizes == sorted(sizes), f"sum={rows['f']} raw={raw_sizes} sent={sorted(sizes)}")


# ------------------------------------------------------------------ 34

BUDGET = 64 * 1024

SMTP_SECTION = """[smtp]
listen = ["127.0.0.1:{port}"]
recipients = ["tlsrpt@example.com"]
dkim = "record"
trusted_authserv_ids = ["mx.receiver.test"]
"""


def signed_mail(report, rid):
    """A report mail whose DKIM pass is vouched for by a trusted Authentication-Results
    header (smtp.trusted_authserv_ids), with the DKIM-Signature it names."""
    mail = report_mail(report, rid)
    extra = (b"Authentication-Results: mx.receiver.test; dkim=pass header.d=sender.example header.s=sel "
             b"header.b=AAAAAAAA\r\n"
             b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example; s=sel; h=from:to:subject; "
             b"bh=AAAA; b=AAAAAAAAAAAAAAAA\r\n")
    return extra + mail


@hostile_scenario(deadline=180, soak_deadline=300)
def unauthenticated_budget(s):
    smtp_port = free_port()
    d = s.daemon("budget", sections=f'[limits]\nmax_unauthenticated_bytes_per_client = "{BUDGET}"\n'
                                    + SMTP_SECTION.format(port=smtp_port))
    d.smtp_port = smtp_port
    # HTTPS from 127.0.0.2 until refused: 10 KB reports against a 64 KiB budget (a
    # smaller submission that still fits would be taken).
    accepted, refusal, sent = [], None, 0
    for i in range(20):
        body = small_report(f"budget-{i}", pad=10_000)
        status, headers, payload = post_with_headers(d, body, "127.0.0.2")
        if status == 200:
            accepted.append(f"budget-{i}")
            sent += len(body)
            continue
        refusal = (f"budget-{i}", status, headers, payload)
        break
    want_wait = seconds_to_utc_midnight()
    s.ctx.figure("34.accepted_before_refusal", f"{len(accepted)} reports, {sent} bytes (budget {BUDGET})")
    s.require(refusal is not None, "never refused")
    rid, status, headers, payload = refusal
    retry = headers.get("retry-after", "")
    s.ctx.figure("34.refusal", f"{status} Retry-After={retry!r} (to 00:00 UTC: {want_wait:.0f}s) body={payload[:160]!r}")
    s.result("34.1", "past the budget: 429 with Retry-After = the seconds to 00:00 UTC",
             status == 429 and retry.isdigit() and abs(int(retry) - want_wait) <= 120,
             f"status={status} retry_after={retry!r} want~{want_wait:.0f}")
    again, _, _ = post_with_headers(d, small_report("budget-again", pad=10_000), "127.0.0.2")
    code, text = smtp_from(d, report_mail(small_report("budget-mail", pad=10_000), "budget-mail"), "127.0.0.2")
    s.ctx.figure("34.after", f"small HTTPS again={again} unsigned SMTP={code} {text[:80]!r}")
    s.result("34.2", "the same address stays refused for what does not fit: HTTPS 429, unsigned SMTP 451 4.7.0",
             again == 429 and code == 451 and b"4.7.0" in (text or b""), f"https={again} smtp={code} {text[:60]!r}")
    stored = {r["report_id"] for r in d.q("SELECT report_id FROM report")}
    beyond = sorted(x for x in stored if x in (rid, "budget-again", "budget-mail"))
    s.result("34.3", "nothing stored beyond the budget; what was accepted is stored",
             not beyond and set(accepted) <= stored, f"stored beyond={beyond} accepted={len(accepted)}")
    other, _, _ = post_with_headers(d, small_report("other-address"), "127.0.0.4")
    code2, text2 = smtp_from(d, report_mail(small_report("other-mail"), "other-mail"), "127.0.0.4")
    s.result("34.4", "another address is still served (HTTPS 200, SMTP 250)", other == 200 and code2 == 250,
             f"https={other} smtp={code2} {text2[:60]!r}")
    code3, text3 = smtp_from(d, signed_mail(small_report("signed-mail"), "signed-mail"), "127.0.0.2")
    auth = d.q("SELECT a.authenticated AS a, a.method AS m FROM report r JOIN report_auth a ON a.report = r.id "
               "WHERE r.report_id = 'signed-mail'")
    s.result("34.5", "a DKIM-authenticated mail from the refused address is not budgeted (250, authenticated)",
             code3 == 250 and auth and auth[0]["a"] == 1, f"smtp={code3} {text3[:60]!r} auth={auth}")
    s.ctx.figure("34.log_lines_over_budget", sum(1 for ln in d.read_log().splitlines() if "over-budget" in ln))


# ------------------------------------------------------------------ 35

LOW_BUDGET = 8 * 1024  # scenario 35's daily budget: a handful of small reports
RETRIES = 16


@hostile_scenario(deadline=180, soak_deadline=300)
def min_free_disk(s):
    workdir = s.workdir("disk")
    var = os.path.join(workdir, "var")
    s.ctx.mount_tmpfs(var, "64m")
    if os.geteuid() == 0:
        shutil.chown(var, "tlsrptd")
    smtp_port = free_port()
    # A small daily budget: the retries below, refused for the low disk, add up to more
    # than it, and must not spend it (review finding 5).
    d = s.daemon("disk", sections=f'[limits]\nmin_free_disk = "8MiB"\nmax_unauthenticated_bytes_per_client = '
                                  f'"{LOW_BUDGET}"\n[smtp]\nlisten = ["127.0.0.1:{smtp_port}"]\n'
                                  'recipients = ["tlsrpt@example.com"]\ndkim = "off"\n')
    d.smtp_port = smtp_port
    status, _, _ = post_with_headers(d, small_report("before-fill"), "127.0.0.2")
    s.require(status == 200, f"the first POST answered {status}")
    # Leave ~300 KB free: under 1 % of 64 MiB (655 KB), the threshold min(8 MiB, 1 %).
    st = os.statvfs(var)
    filler = os.path.join(var, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 300 * 1024))
    free = os.statvfs(var).f_bavail * os.statvfs(var).f_frsize
    s.ctx.figure("35.free_after_fill", free)
    stored0 = d.count("report")
    replies = []
    for i in range(3):
        replies.append(post_with_headers(d, small_report(f"low-{i}"), "127.0.0.2"))
    code, text = smtp_from(d, report_mail(small_report("low-mail"), "low-mail"), "127.0.0.2")
    # The senders' retries while the disk is low: more bytes than the daily budget.
    retried = [post_with_headers(d, small_report("low-0"), "127.0.0.2")[0] for _ in range(RETRIES)]
    retried += [smtp_from(d, report_mail(small_report("low-mail"), "low-mail"), "127.0.0.2")[0] for _ in range(2)]
    refused_bytes = (RETRIES + 3) * len(small_report("low-0")) + 3 * len(report_mail(small_report("low-mail"),
                                                                                     "low-mail"))
    stored1 = d.count("report")
    s.ctx.figure("35.while_low", f"https={[r[0] for r in replies]} retry_after={[r[1].get('retry-after') for r in replies]} "
                               f"smtp={code} {text[:60]!r} stored {stored0}->{stored1}")
    s.result("35.1", "below min_free_disk: HTTPS 503 + Retry-After, SMTP 452 4.3.1, nothing stored",
             all(r[0] == 503 and r[1].get("retry-after") for r in replies) and code == 452 and b"4.3.1" in text
             and stored1 == stored0, f"https={[r[0] for r in replies]} smtp={code} stored {stored0}->{stored1}")
    low_lines = d.read_log().count("(limits.min_free_disk)")
    s.result("35.2", "logged once per episode", low_lines == 1, f"log lines={low_lines}")
    metrics = curl(d.admin("/metrics"), timeout=10)[2].decode("utf-8", "replace")
    low_gauge = [ln for ln in metrics.splitlines() if ln.startswith("tlsrptd_disk_low")]
    s.ctx.figure("35.metric", low_gauge)
    os.remove(filler)
    status, _, _ = post_with_headers(d, small_report("low-0"), "127.0.0.2")
    code2, text2 = smtp_from(d, report_mail(small_report("low-mail"), "low-mail"), "127.0.0.2")
    stored = {r["report_id"] for r in d.q("SELECT report_id FROM report")}
    s.result("35.3", "after space is freed the retries are accepted and stored",
             status == 200 and code2 == 250 and {"low-0", "low-mail"} <= stored,
             f"https={status} smtp={code2} stored={sorted(stored)}")
    s.result("35.4", "tlsrptd_disk_low was 1 while low", low_gauge == ["tlsrptd_disk_low 1"], f"{low_gauge}")
    s.ctx.figure("35.retries_while_low", f"{len(retried) + 4} refused ({sorted(set(retried))}), ~{refused_bytes} bytes "
                                         f"against a {LOW_BUDGET}-byte budget")
    s.result("35.5", "retries refused while the disk was low cost no budget: more than the budget was refused, "
             "then the retries were accepted (not 429 / 451 4.7.0)",
             set(retried) <= {503, 452} and refused_bytes > LOW_BUDGET and status == 200 and code2 == 250,
             f"while low={sorted(set(retried))} refused~{refused_bytes} budget={LOW_BUDGET} after: https={status} "
             f"smtp={code2} {text2[:60]!r}")
    # A duplicate stores nothing new: it does not spend the budget either.
    dups = [post_with_headers(d, small_report("low-0"), "127.0.0.2")[0] for _ in range(RETRIES)]
    fresh, _, _ = post_with_headers(d, small_report("after-duplicates"), "127.0.0.2")
    s.ctx.figure("35.duplicates", f"{len(dups)} duplicates {sorted(set(dups))}, then a new report {fresh}")
    s.result("35.6", "duplicates cost no budget: a new report after more than the budget in duplicates is stored",
             dups == [200] * RETRIES and fresh == 200 and d.count("report", "report_id = 'after-duplicates'") == 1,
             f"duplicates={sorted(set(dups))} fresh={fresh}")
