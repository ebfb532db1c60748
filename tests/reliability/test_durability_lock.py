"""Locked database (scenario 8, docs/guarantees.md#reliability-scenarios). Another
process holds the SQLite write lock (BEGIN EXCLUSIVE) while senders keep submitting.
tlsrptd has no spool (docs/guarantees.md#nothing-lost-on-a-crash): a report is
acknowledged only after the COMMIT that holds it, so while the lock is held senders are
told to try later (503 + Retry-After / 451 4.3.0, RFC 8460 §5.5) and retry; nothing is
lost or doubled once they do, and the backlog drains within 10 s of the release."""
import queue
import subprocess
import threading
import time

from common import scenario
from durability import Ledger, SUCCESS, TEMPFAIL, deliver, verify
from support import as_service_user

HOLDER = r"""
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""


@scenario(deadline=180, soak_deadline=300)
def locked_database(ctx):
    hold = 30  # docs/guarantees.md#storage-failures: 30 s, in the fast run too
    busy = 2
    n_reports = 500
    d = ctx.daemon(smtp=True, extra_config='retry_after = "1s"\nmax_connections_per_client = 64\n',
                   top_config=f'[store]\nbusy_timeout = "{busy}s"\n', smtp_extra="max_connections_per_client = 64\n")
    ctx.figure("lock_held_s", hold)
    ctx.figure("store_busy_timeout_s", busy)
    ctx.figure("reports_arriving_while_locked", n_reports)
    ledger = Ledger()
    work = queue.Queue()
    created = {}

    def worker():
        # A sender's queue runner: one report at a time, retried until acknowledged;
        # it honours Retry-After (1 s here), and retries SMTP 451s after 1 s too.
        while True:
            item = work.get()
            if item is None:
                return
            rid, channel = item
            deliver(d, rid, channel, ledger, deadline=time.monotonic() + 120, retry=1.0, honour_retry_after=True)

    workers = [threading.Thread(target=worker) for _ in range(16)]
    for t in workers:
        t.start()

    def enqueue(i):
        rid, channel = f"lock-{i}", ("https" if i % 2 == 0 else "smtp")
        created[rid] = time.monotonic()
        work.put((rid, channel))

    for i in range(20):  # before the lock: plain successes
        enqueue(i)
    time.sleep(2)
    holder = subprocess.Popen(as_service_user(["/usr/bin/python3", "-c", HOLDER, d.db]), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    ctx.on_cleanup(lambda: holder.poll() is None and holder.kill())
    ctx.require(holder.stdout.readline().strip() == "locked", "the holder could not lock the database")
    locked_at = time.monotonic()
    health_during = health_s = None
    for i in range(n_reports):  # arriving evenly while the lock is held
        time.sleep(max(0.0, locked_at + hold * (i + 1) / (n_reports + 1) - time.monotonic()))
        enqueue(20 + i)
        if health_during is None and time.monotonic() > locked_at + hold / 2:
            t0 = time.monotonic()
            health_during = d.healthy()
            health_s = time.monotonic() - t0
    time.sleep(max(0.0, locked_at + hold - time.monotonic()))
    released_at = time.monotonic()  # from here on a commit may succeed
    holder.stdin.write("go\n")
    holder.stdin.flush()
    ctx.require(holder.stdout.readline().strip() == "released", "the holder did not release the lock")
    holder.wait(10)
    # The backlog: what was submitted and not acknowledged before the release (the
    # ledger is read after the senders are done, so acks racing the release count
    # as drained, not as missing from the backlog).
    submitted_before = {rid for rid, t in created.items() if t < released_at}
    for i in range(20):  # after the release
        enqueue(20 + n_reports + i)
    for _ in workers:
        work.put(None)
    for t in workers:
        t.join()
    rc = d.stop()
    backlog = [rid for rid in submitted_before if not (rid in ledger.acked and ledger.acked[rid][1] < released_at)]

    # Replies received while the lock was held (after the first busy timeout: a report
    # committed just before the lock may be answered just after it).
    during = {"success": 0, "tempfail": 0, "other": 0}
    for rid, hist in ledger.history.items():
        for status, at, channel in hist:
            if locked_at + 0.5 <= at <= released_at:
                kind = ("success" if status in SUCCESS[channel] else
                        "tempfail" if status in TEMPFAIL[channel] else "other")
                during[kind] += 1
    unacked = [rid for rid in backlog if rid not in ledger.acked]
    drain = max((ledger.acked[rid][1] for rid in backlog if rid in ledger.acked), default=released_at) - released_at
    ctx.figure("replies_during_lock", during)
    ctx.figure("healthz_during_lock", f"{'200' if health_during else '503'} after {health_s:.1f} s")
    ctx.figure("backlog_at_release", len(backlog))
    ctx.figure("backlog_drained_s", f"{max(0.0, drain):.2f}")
    ctx.figure("replies", ledger.summary())
    ctx.check(rc == 0, f"exit code {rc}")
    ctx.check(during["tempfail"] > 0, "no 503/451 while the lock was held")
    ctx.check(during["success"] == 0, f"{during['success']} successes while the lock was held")
    ctx.check(during["other"] == 0, f"{during['other']} replies other than 503/451 (or none) while locked")
    ctx.check(not health_during, "healthz said 200 while the database was locked")
    ctx.check(len(backlog) >= n_reports, f"backlog of only {len(backlog)} at the release")
    ctx.check(not unacked, f"{len(unacked)} reports of the backlog never acknowledged")
    ctx.check(drain <= 10, f"backlog took {drain:.1f} s to drain (limit 10 s)")
    verify(ctx, d.db, ledger)
