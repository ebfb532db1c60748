"""Disk full and I/O errors (scenarios 6 and 7,
docs/guarantees.md#reliability-scenarios). The database on a 2 MiB tmpfs filled by large
reports, and ENOSPC injected into the WAL writes: senders get 503 + Retry-After / 451,
never a success for data that is not stored; the daemon stays up and recovers when space
returns. A failed fdatasync (EIO injected): the reports of that transaction get no
success reply, the daemon opens a fresh database connection (fsyncgate: never fsync the
same file descriptor again and acknowledge) and later submissions succeed."""
import json
import os
import random
import shutil
import subprocess
import time

from common import ORG, Skip, https_post, report_json, report_mail, scenario, smtp_send
from durability import Ledger, SUCCESS, TEMPFAIL, audit_acks, keep_trace, parse_strace, strace_ok, verify


def big_report(rid, rng, failures=150):
    """A valid report of ~50 KB: many failure details with unique text."""
    details = [{"result-type": "certificate-expired", "sending-mta-ip": f"192.0.2.{i % 250 + 1}",
                "receiving-mx-hostname": f"mx{i}.example.com", "failed-session-count": 1,
                "additional-information": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(250))}
               for i in range(failures)]
    return json.dumps({
        "organization-name": ORG, "report-id": rid, "contact-info": "tlsrpt@sender.example",
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.com"},
                      "summary": {"total-successful-session-count": 10, "total-failure-session-count": failures},
                      "failure-details": details}]}).encode()


def send(d, rid, channel, body):
    if channel == "https":
        return https_post(d.port, body, timeout=30)
    return smtp_send(d.smtp_port, report_mail(body, rid), timeout=30)


def judge(ctx, ledger, replies, label):
    """Every reply is a success or a try-later with its Retry-After."""
    bad = [(rid, ch, r.status) for rid, ch, r in replies
           if r.status not in SUCCESS[ch] + TEMPFAIL[ch]]
    no_retry_after = [rid for rid, ch, r in replies if ch == "https" and r.status == 503 and not r.headers.get("retry-after")]
    ctx.check(not bad, f"{label}: replies other than success/try-later: {bad[:5]}")
    ctx.check(not no_retry_after, f"{label}: 503 without Retry-After: {no_retry_after[:5]}")


@scenario(deadline=180, soak_deadline=300)
def disk_full_tmpfs(ctx):
    rng = random.Random(ctx.seed)
    workdir = os.path.join(ctx.tmp, "d")
    os.makedirs(workdir)
    var = os.path.join(workdir, "var")
    ctx.mount_tmpfs(var, "2m")
    if os.geteuid() == 0:
        shutil.chown(var, "tlsrptd")
    d = ctx.daemon("d", smtp=True)
    ledger = Ledger()
    replies, pending, bodies = [], [], {}
    full_at = None
    for i in range(200):
        rid = f"full-{i}"
        ch = "https" if i % 2 == 0 else "smtp"
        bodies[rid] = (ch, big_report(rid, rng))
        r = send(d, rid, ch, bodies[rid][1])
        ledger.note(rid, ch, r.status)
        replies.append((rid, ch, r))
        if r.status not in SUCCESS[ch]:
            pending.append(rid)
            full_at = full_at if full_at is not None else i
        if len(pending) >= 10:
            break
    ctx.figure("accepted_before_full", full_at)
    ctx.figure("tempfails_while_full", len(pending))
    ctx.figure("replies_while_full", ledger.summary())
    ctx.require(full_at is not None, "2 MiB never filled up")
    ctx.check(d.proc.poll() is None, "the daemon died when the disk was full")
    st = verify(ctx, d.db, ledger, prefix="full.")
    judge(ctx, ledger, replies, "full")
    # Space returns: the senders' retries are stored, once.
    subprocess.run(["mount", "-o", "remount,size=32m", var], check=True, timeout=30)
    t0 = time.monotonic()
    first_ok = None
    for rid in pending:
        ch, body = bodies[rid]
        for _ in range(20):
            r = send(d, rid, ch, body)
            ledger.note(rid, ch, r.status)
            if r.status in SUCCESS[ch]:
                first_ok = first_ok or time.monotonic() - t0
                break
            time.sleep(0.5)
    ctx.figure("first_success_after_space_returned_s", f"{first_ok:.2f}" if first_ok is not None else "never")
    ctx.check(set(ledger.acked) == ledger.submitted, "not every report was stored after space returned")
    ctx.check(d.proc.poll() is None, "the daemon is not running")
    rc = d.stop()
    ctx.check(rc == 0, f"exit code {rc}")
    verify(ctx, d.db, ledger)


@scenario(deadline=150, soak_deadline=300)
def enospc_injected(ctx):
    if not strace_ok():
        raise Skip("strace is not installed")
    rng = random.Random(ctx.seed)
    d = ctx.daemon(smtp=True)
    d.stop()  # the database exists; its WAL writes are the ones injected
    wal = d.db + "-wal"
    first, last = 6, 40
    d.start(wrapper=["strace", "-f", "-qq", "-o", "/dev/null", "-P", wal, "-e", "trace=pwrite64",
                     "-e", f"inject=pwrite64:error=ENOSPC:when={first}..{last}"])
    ctx.figure("enospc_on_wal_pwrite64", f"{first}..{last}")
    ledger, replies = Ledger(), []
    bodies = {}
    for i in range(30):
        rid = f"enospc-{i}"
        ch = "https" if i % 2 == 0 else "smtp"
        bodies[rid] = (ch, big_report(rid, rng, failures=20))
        r = send(d, rid, ch, bodies[rid][1])
        ledger.note(rid, ch, r.status)
        replies.append((rid, ch, r))
    tempfails = sum(1 for rid, ch, r in replies if r.status in TEMPFAIL[ch])
    ctx.figure("replies", ledger.summary())
    ctx.check(tempfails > 0, "no try-later reply while writes failed with ENOSPC")
    ctx.check(d.proc.poll() is None, "the daemon died")
    judge(ctx, ledger, replies, "enospc")
    verify(ctx, d.db, ledger, prefix="during.")
    # The window is over: the retries succeed.
    for rid in sorted(ledger.submitted - set(ledger.acked)):
        ch, body = bodies[rid]
        for _ in range(10):
            r = send(d, rid, ch, body)
            ledger.note(rid, ch, r.status)
            if r.status in SUCCESS[ch]:
                break
            time.sleep(0.3)
    ctx.check(set(ledger.acked) == ledger.submitted, "retries after the ENOSPC window did not all succeed")
    rc = d.stop()
    ctx.check(rc == 0, f"exit code {rc}")
    verify(ctx, d.db, ledger)


@scenario(deadline=150, soak_deadline=300)
def fdatasync_eio(ctx):
    if not strace_ok():
        raise Skip("strace is not installed")
    d = ctx.daemon(smtp=True, top_config='log_level = "debug"\n')
    d.stop()
    n = 5  # the writer thread's 5th fdatasync: a commit a few reports in
    trace = os.path.join(ctx.tmp, "eio.trace")
    d.start(wrapper=["strace", "-f", "-qq", "-ttt", "-T", "-yy", "-s", "65536", "-o", trace,
                     "-e", "trace=fdatasync,fsync,pwrite64,write,sendto,sendmsg,openat,close",
                     "-e", f"inject=fdatasync:error=EIO:when={n}"])
    ledger = Ledger()
    subs = []
    for i in range(16):
        rid = f"eio-{i:03d}"
        ch = "https" if i % 2 == 0 else "smtp"
        for attempt in range(10):
            r = send(d, rid, ch, report_json(rid))
            ledger.note(rid, ch, r.status)
            if r.status in SUCCESS[ch]:
                subs.append((rid, ch, r.local_port))
                break
            time.sleep(0.3)
    alive = d.proc.poll() is None
    rc = d.stop()
    calls = parse_strace(trace)
    wal = os.path.basename(d.db) + "-wal"
    failed = [c for c in calls if c.name in ("fdatasync", "fsync") and c.err == "EIO"]
    ctx.figure("injected_eio", len(failed))
    ctx.require(len(failed) == 1, f"expected one failed fdatasync, saw {len(failed)}")
    bad = failed[0]
    ctx.figure("failed_sync_on", bad.desc)
    # The reports of the failed transaction: those whose first WAL write (pages are
    # written whole, so later pages repeat earlier rows) lies between the previous
    # WAL sync and the failed one.
    wal_writes = [c for c in calls if c.name == "pwrite64" and c.desc.endswith(wal)]
    prev = max((c.end for c in calls if c.name in ("fdatasync", "fsync") and c.desc.endswith(wal)
                and c.end <= bad.start), default=0)
    in_txn = set()
    for rid in ledger.submitted:
        first_write = next((c for c in wal_writes if rid in c.args), None)
        if first_write and prev <= first_write.start <= bad.start:
            in_txn.add(rid)
    ctx.figure("reports_in_failed_transaction", sorted(in_txn))
    ctx.check(bool(in_txn), "no report found in the failed transaction")
    for rid in in_txn:
        first = ledger.history[rid][0]
        ctx.check(first[0] in TEMPFAIL[first[2]], f"{rid}: first reply {first[0]} after the failed fdatasync")
    # fsyncgate: the descriptor whose fdatasync failed is closed and the database
    # opened afresh; every acknowledgement after the error rests on a sync of the
    # fresh descriptor. (SQLite's checkpoint on closing the connection syncs the old
    # WAL once more to copy the transactions committed before the error; the failed
    # transaction is not among them and its frames go with the WAL.)
    later = [c for c in calls if c.start > bad.end]
    closed = next((c for c in later if c.name == "close" and c.fd == bad.fd), None)
    reopened = next((c for c in later if c.name == "openat" and c.args.split(",")[1].strip().strip('"').endswith(wal)
                     and closed and c.start > closed.start), None)
    ctx.figure("old_wal_syncs_before_close", len([c for c in later if c.name in ("fdatasync", "fsync")
                                                  and c.fd == bad.fd and closed and c.start < closed.start]))
    ctx.figure("reopened", bool(reopened))
    ctx.check(closed is not None, "the descriptor whose fdatasync failed was never closed")
    ctx.check(reopened is not None, "the database was not opened afresh after the I/O error")
    audits, problems = audit_acks(trace, subs, os.path.basename(d.db))
    ctx.figure("acks_audited", len(audits))
    ctx.check(not problems, f"audit: {problems[:3]}")
    after = [a for a in audits if a.ack.start > bad.end]
    stale = [a.rid for a in after if not reopened or a.durable.start < reopened.start]
    ctx.figure("acks_after_the_error", len(after))
    ctx.figure("acks_resting_on_the_failed_descriptor", len(stale))
    ctx.check(after and not stale, f"acknowledged on the old descriptor after the error: {stale}")
    log = d.read_log()
    ctx.check("reopened the database after an I/O error" in log, "no 'reopened' log line")
    ctx.check(alive and rc == 0, f"daemon alive {alive}, exit code {rc}")
    ctx.check(len(subs) == 16, f"only {len(subs)} of 16 acknowledged after the error")
    verify(ctx, d.db, ledger)
    keep_trace(ctx, trace, "eio.trace")
