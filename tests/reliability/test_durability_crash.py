"""Exactly-once under crashes (scenarios 2 and 3,
docs/guarantees.md#reliability-scenarios). A crash-point sweep: the daemon runs under
strace, which SIGKILLs it at the Nth call of a chosen syscall (the store's fdatasync,
its WAL pwrite64, a reply on a client socket, a log write, the Maildir rename); senders
retry until acknowledged and the daemon is restarted without strace. And a kill -9 soak:
16 concurrent senders over HTTPS and SMTP while the daemon is SIGKILLed every 0.5-3 s
(seeded) and restarted. After each: acked ⊆ stored, nothing counted twice, nothing
half-stored, integrity ok."""
import collections
import os
import random
import shutil
import subprocess
import threading
import time

from common import Failed, Skip, report_json, report_mail, scenario
from durability import Ledger, deliver, parse_strace, strace_ok, verify

CAPS = 'max_connections_per_client = 64\n'
SMTP_CAPS = 'max_connections_per_client = 64\n'


def maildir_setup(ctx, workdir):
    md = os.path.join(workdir, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    if os.geteuid() == 0:
        for root, _, _ in os.walk(md):
            shutil.chown(root, "tlsrptd")
    return md


def drop_mail(md, name, message):
    """Maildir delivery: write in tmp/, rename into new/ (as an MDA does)."""
    tmp = os.path.join(md, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(message)
    if os.geteuid() == 0:
        shutil.chown(tmp, "tlsrptd")
    os.rename(tmp, os.path.join(md, "new", name))


def maildir_done(md, names):
    cur = set(n.split(":2,")[0] for n in os.listdir(os.path.join(md, "cur")))
    return {n for n in names if n in cur}


class Point:
    """One daemon, fresh database, one crash point."""

    def __init__(self, ctx, name, tls_from=None):
        self.workdir = os.path.join(ctx.tmp, name)
        os.makedirs(self.workdir)
        if tls_from:
            shutil.copytree(tls_from, os.path.join(self.workdir, "var", "tls"))
            if os.geteuid() == 0:
                for root, dirs, files in os.walk(os.path.join(self.workdir, "var")):
                    for x in dirs + files:
                        shutil.chown(os.path.join(root, x), "tlsrptd")
                    shutil.chown(root, "tlsrptd")
        self.md = maildir_setup(ctx, self.workdir)
        self.d = ctx.daemon(name, smtp=True, start=False, extra_config=CAPS, smtp_extra=SMTP_CAPS,
                            sections=f'[maildir]\npaths = ["{self.md}"]\nrescan_interval = "1s"\n')


def run_workload(ctx, d, md, tag, n_https, n_smtp, n_maildir, deadline, on_tick=None):
    """Concurrent senders on each channel, each retrying until acknowledged; Maildir
    messages count as acknowledged once moved to cur/. `on_tick` runs every 50 ms
    (the crash monitor). Returns (ledger, maildir names)."""
    ledger = Ledger()
    jobs = [(f"{tag}-h{i}", "https") for i in range(n_https)] + [(f"{tag}-s{i}", "smtp") for i in range(n_smtp)]
    names = []
    for i in range(n_maildir):
        rid = f"{tag}-m{i}"
        name = f"1793500000.{tag}-{i}.reliability"
        names.append(name)
        ledger.submitted.add(rid)
        drop_mail(md, name, report_mail(report_json(rid), rid))
    by_channel = collections.defaultdict(list)
    for rid, ch in jobs:
        by_channel[ch].append(rid)
    threads = [threading.Thread(target=lambda ch=ch, rids=rids: [deliver(d, r, ch, ledger, deadline) for r in rids])
               for ch, rids in by_channel.items()]
    for t in threads:
        t.start()
    while time.monotonic() < deadline:
        if on_tick:
            on_tick()
        if all(not t.is_alive() for t in threads) and len(maildir_done(md, names)) == len(names):
            break
        time.sleep(0.05)
    for t in threads:
        t.join()
    done = maildir_done(md, names)
    for i, name in enumerate(names):
        if name in done:
            ledger.acked[f"{tag}-m{i}"] = ("maildir", time.monotonic())
    return ledger, names


TRACED = ["fdatasync", "pwrite64", "sendto", "sendmsg", "write", "rename", "renameat", "renameat2"]


def calibrate(ctx, tls_dir, workload):
    """The workload once under a plain strace: how many calls of each syscall the
    busiest thread makes (strace counts injections per syscall and per thread)."""
    p = Point(ctx, "calibrate", tls_dir)
    trace = os.path.join(ctx.tmp, "calibrate.trace")
    p.d.start(wrapper=["strace", "-f", "-qq", "-ttt", "-o", trace, "-e", "trace=" + ",".join(TRACED)])
    ledger, _ = run_workload(ctx, p.d, p.md, "cal", *workload, deadline=time.monotonic() + 60)
    p.d.stop()
    per = collections.defaultdict(collections.Counter)
    for c in parse_strace(trace):
        per[c.name][c.tid] += 1
    counts = {name: max(tids.values()) for name, tids in per.items()}
    ctx.figure("calibration_calls_busiest_thread", dict(sorted(counts.items())))
    ctx.require(len(ledger.acked) == sum(workload), "calibration workload not acknowledged")
    return counts


@scenario(deadline=300, soak_deadline=1800)
def crash_point_sweep(ctx):
    if not strace_ok():
        raise Skip("strace is not installed")
    workload = (3, 3, 2)  # HTTPS, SMTP, Maildir reports per point
    first = ctx.daemon("tlsgen")
    tls_dir = os.path.join(first.dir, "var", "tls")
    first.stop()
    counts = calibrate(ctx, tls_dir, workload)
    # The syscalls the daemon really makes: commit sync, WAL writes, socket replies,
    # log lines, the Maildir move.
    syscalls = [s for s in ("fdatasync", "pwrite64", "sendto", "sendmsg", "write", "rename", "renameat2")
                if counts.get(s)]
    per_syscall = 7 if ctx.fast else 30
    rng = random.Random(ctx.seed)
    points = []
    for s in syscalls:
        m = counts[s]
        ns = sorted({max(1, round(1 + (m - 1) * k / (per_syscall - 1))) for k in range(per_syscall)})
        if not ctx.fast:
            ns = sorted(set(ns) | {rng.randint(1, m) for _ in range(per_syscall // 2)})
        points += [(s, n) for n in ns]
    ctx.figure("crash_points", len(points))
    totals = collections.Counter()
    hit = collections.Counter()
    for i, (sc, n) in enumerate(points):
        if ctx.remaining() < 30:
            ctx.check(False, f"out of time after {i} of {len(points)} crash points")
            break
        p = Point(ctx, f"p{i}", tls_dir)
        crashes = []
        p.d.start(wait=False, wrapper=["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={sc}",
                                       "-e", f"inject={sc}:signal=SIGKILL:when={n}"])
        # Up (or killed while starting: that is a crash point too).
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20 and p.d.proc.poll() is None and not p.d.healthy():
            time.sleep(0.05)

        def monitor():
            if p.d.proc.poll() is not None:
                crashes.append(p.d.proc.returncode)
                p.d.kill9()
                p.d.start(wrapper=None)  # restart without strace; needs no manual step

        try:
            monitor()
            ledger, names = run_workload(ctx, p.d, p.md, f"p{i}", *workload,
                                         deadline=time.monotonic() + min(60, ctx.remaining() - 20), on_tick=monitor)
            rc = p.d.stop()
            if rc == -9 and p.d.wrapper:
                # Killed at its Nth call while shutting down: a crash point too.
                crashes.append(rc)
                p.d.start(wrapper=None)
                rc = p.d.stop()
        except Failed as e:
            ctx.check(False, f"{sc}#{n}: {e}")
            continue
        if crashes:
            hit[sc] += 1
        ctx.log(f"{sc} #{n}: {'killed' if crashes else 'not reached'}; acked {len(ledger.acked)}/"
                f"{sum(workload)}; {ledger.summary()}")
        ctx.check(rc == 0, f"{sc}#{n}: exit code {rc} after SIGTERM")
        ctx.check(len(ledger.acked) == sum(workload), f"{sc}#{n}: only {len(ledger.acked)} acknowledged")
        st = _quiet_verify(ctx, p.d.db, ledger, f"{sc}#{n}")
        for k in ("lost", "doubled", "half", "acked"):
            totals[k] += st[k]
        new_left = os.listdir(os.path.join(p.md, "new"))
        ctx.check(not new_left, f"{sc}#{n}: left in Maildir new/: {new_left}")
        shutil.rmtree(p.workdir, ignore_errors=True)
    for s in syscalls:
        ctx.figure(f"points_killed[{s}]", hit[s])
        ctx.check(hit[s] > 0, f"no crash point of {s} was reached")
    ctx.figure("acked_total", totals["acked"])
    ctx.figure("lost", totals["lost"])
    ctx.figure("doubled", totals["doubled"])
    ctx.figure("half_stored", totals["half"])


def _quiet_verify(ctx, db, ledger, label):
    from durability import stored_state
    st = stored_state(db)
    acked = set(ledger.acked)
    lost = sorted(acked - set(st["counted"]))
    doubled = sorted(k for k, n in st["counted"].items() if n > 1)
    phantom = sorted(set(st["counted"]) - ledger.submitted)
    ctx.check(not lost, f"{label}: acknowledged but not stored: {lost}")
    ctx.check(not doubled, f"{label}: counted more than once: {doubled}")
    ctx.check(not st["half"], f"{label}: half-stored: {st['half']}")
    ctx.check(not phantom, f"{label}: stored but never submitted: {phantom}")
    ctx.check(st["integrity"] == "ok", f"{label}: integrity_check {st['integrity']}")
    return {"lost": len(lost), "doubled": len(doubled), "half": len(st["half"]), "acked": len(acked)}


@scenario(deadline=180, soak_deadline=1500)
def kill9_soak(ctx):
    duration = 60 if ctx.fast else 1200
    clients = 16
    d = ctx.daemon(smtp=True, extra_config=CAPS, smtp_extra=SMTP_CAPS)
    rng = random.Random(ctx.seed)
    ledger = Ledger()
    end = time.monotonic() + duration
    stop_killer = threading.Event()
    kills, restart_s, restart_fail = [], [], []
    lock = threading.Lock()

    def client(c):
        channel = "https" if c % 2 == 0 else "smtp"
        i = 0
        while time.monotonic() < end:
            deliver(d, f"soak-{c}-{i}", channel, ledger, deadline=end + 60, retry=0.1)
            i += 1

    def killer():
        while not stop_killer.is_set() and time.monotonic() < end:
            if stop_killer.wait(rng.uniform(0.5, 3.0)) or time.monotonic() >= end:
                break
            with lock:
                d.kill9()
                kills.append(time.monotonic())
                t0 = time.monotonic()
                try:
                    d.start()
                    restart_s.append(time.monotonic() - t0)
                except Failed as e:
                    restart_fail.append(str(e))
                    return

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    k = threading.Thread(target=killer)
    for t in threads:
        t.start()
    k.start()
    k.join()
    for t in threads:
        t.join()
    stop_killer.set()
    rc = d.stop()
    ctx.figure("duration_s", duration)
    ctx.figure("clients", f"{clients} (8 HTTPS, 8 SMTP)")
    ctx.figure("kills", len(kills))
    ctx.figure("restart_failures", len(restart_fail))
    if restart_s:
        ctx.figure("restart_to_healthy_max_s", f"{max(restart_s):.2f}")
    ctx.figure("replies", ledger.summary())
    ctx.figure("submitted", len(ledger.submitted))
    ctx.check(not restart_fail, f"restart failed: {restart_fail[:1]}")
    ctx.check(len(kills) >= (10 if ctx.fast else 100), f"only {len(kills)} kills")
    ctx.check(rc == 0, f"exit code {rc} after SIGTERM")
    unacked = ledger.submitted - set(ledger.acked)
    ctx.figure("never_acked", len(unacked))
    ctx.check(not unacked, f"never acknowledged within a minute of retries: {sorted(unacked)[:5]}")
    verify(ctx, d.db, ledger)
