"""Exactly-once under crashes (scenarios 2 and 3,
docs/guarantees.md#reliability-scenarios). A crash-point sweep: the daemon runs under
strace, which SIGKILLs it at the Nth call of a chosen syscall (the store's fdatasync,
its WAL pwrite64, a reply on a client socket, a log write, the Maildir rename); senders
retry until acknowledged and the daemon is restarted without strace; the SMTP and
Maildir submissions are report mails, checked to be stored from the mail intake. Its
import leg: `tlsrptd report import` of report files, report mails and an mbox into the
running daemon's database, SIGKILLed at its Nth fdatasync, WAL pwrite64 or outcome line,
then run again. And a kill -9 soak: 16 concurrent senders over HTTPS and SMTP while the
daemon is SIGKILLed every 0.5-3 s (seeded) and restarted. After each: acked ⊆ stored,
nothing counted twice, nothing half-stored, integrity ok."""
import collections
import os
import random
import shutil
import subprocess
import threading
import time

from common import TLSRPTD, Failed, Skip, report_json, report_mail, scenario, service_exec
from durability import (Ledger, channel_mismatches, deliver, import_folder, import_outcomes, parse_strace,
                        stored_state, strace_ok, verify)

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
    by_channel = collections.Counter()
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
        # The SMTP and Maildir submissions are real report mails (multipart/report, the
        # report gzipped): stored from the mail intake, with the mail's headers.
        channels = {rid: ch for rid, (ch, _) in ledger.acked.items()}
        bad = channel_mismatches(p.d.db, channels, {r for r, ch in channels.items() if ch != "https"})
        ctx.check(not bad, f"{sc}#{n}: {bad}")
        for ch in channels.values():
            by_channel[ch] += 1
        new_left = os.listdir(os.path.join(p.md, "new"))
        ctx.check(not new_left, f"{sc}#{n}: left in Maildir new/: {new_left}")
        shutil.rmtree(p.workdir, ignore_errors=True)
    for s in syscalls:
        ctx.figure(f"points_killed[{s}]", hit[s])
        ctx.check(hit[s] > 0, f"no crash point of {s} was reached")
    ctx.figure("acked_total", totals["acked"])
    ctx.figure("acked_by_channel", dict(sorted(by_channel.items())))
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


# --- the import leg of scenario 2 ------------------------------------------------------

IMPORT_TRACED = ["fdatasync", "pwrite64", "write"]


def run_import(d, folder, out_path, wrapper=(), timeout=60):
    """`tlsrptd report import --config <the daemon's> FOLDER` as the daemon's user;
    returns (exit code, its stdout as far as it got). stdout is line-buffered (stdbuf
    -oL), as on a terminal: each outcome line is written as soon as its batch
    committed, not all at exit as into a pipe or file, so kills fall between printed
    lines and "printed before the kill" means something. --batch 2: several
    transactions per run, so a kill lands between two commits as well as inside one."""
    cmd = [*wrapper, *service_exec(["stdbuf", "-oL", TLSRPTD, "report", "import", "--no-progress", "--batch", "2",
                                    "--config", d.config, folder])]
    with open(out_path, "wb") as out, open(out_path + ".err", "wb") as err:
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=err, timeout=timeout).returncode
        except subprocess.TimeoutExpired:  # killed (with strace's tracee); the checks say so
            rc = None
    with open(out_path, "rb") as f:
        return rc, f.read().decode("utf-8", "replace")


def calibrate_import(ctx, d, ledger):
    """One import under a plain strace: per syscall, the calls of the busiest thread;
    for `write`, the ordinals (in that thread's writes) of the outcome lines."""
    folder = os.path.join(ctx.tmp, "import-cal")
    labels = import_folder(folder, "ical")
    trace = os.path.join(ctx.tmp, "import-cal.trace")
    rc, text = run_import(d, folder, os.path.join(ctx.tmp, "import-cal.out"),
                          wrapper=["strace", "-f", "-qq", "-ttt", "-yy", "-s", "4096", "-o", trace,
                                   "-e", "trace=" + ",".join(IMPORT_TRACED)])
    outcomes = import_outcomes(text)
    ctx.require(rc == 0 and all(outcomes.get(label) == "stored" for label in labels),
                f"calibration import: exit {rc}: {text[-2000:]}")
    ledger.submitted.update(labels.values())
    for rid in labels.values():
        ledger.acked[rid] = ("import", time.monotonic())
    per = collections.defaultdict(collections.Counter)
    line_writes = collections.defaultdict(list)  # tid -> ordinals of its outcome-line writes
    for c in parse_strace(trace):
        per[c.name][c.tid] += 1
        if c.name == "write" and c.fd == 1 and any(f"{label}: " in c.args for label in labels):
            line_writes[c.tid].append(per[c.name][c.tid])
    counts = {name: max(tids.values()) for name, tids in per.items()}
    ctx.figure("import_calibration_calls_busiest_thread", dict(sorted(counts.items())))
    writes = max(line_writes.values(), key=len, default=[])
    ctx.figure("import_calibration_outcome_line_writes", len(writes))
    ctx.require(len(writes) == len(labels), f"outcome lines not written one by one: {len(writes)} writes "
                                            f"for {len(labels)} lines")
    return counts, writes


@scenario(deadline=120, soak_deadline=900)
def import_crash_point_sweep(ctx):
    """Scenario 2's import leg: `tlsrptd report import` of a folder of report files,
    report mails and an mbox, SIGKILLed by strace at its Nth fdatasync, WAL pwrite64
    or write of an outcome line, then run again to completion.

    The import writes the database a running daemon owns (its --config), as an admin
    backfills a live installation; the daemon's own HTTPS and SMTP senders go on
    meanwhile. That is the meaningful case: a separate database would prove only
    SQLite's recovery on the next open, while here the import dies holding the WAL
    write lock, or with uncommitted frames in the WAL the daemon keeps open, and the
    daemon must go on committing through it (checked by a report sent after each
    kill); and the import's commits compete with the daemon's for the lock."""
    if not strace_ok():
        raise Skip("strace is not installed")
    d = ctx.daemon("imp", smtp=True, extra_config=CAPS, smtp_extra=SMTP_CAPS)
    ledger = Ledger()
    counts, line_writes = calibrate_import(ctx, d, ledger)
    # A point takes a fraction of a second: every fdatasync (one or two per commit)
    # and every outcome line, and the WAL writes spread over their range (all of them
    # in --soak).
    points = []
    for s, spread in (("fdatasync", 30 if ctx.fast else 1000), ("pwrite64", 12 if ctx.fast else 1000)):
        m = counts.get(s, 0)
        ctx.require(m > 0, f"the import made no {s} call")
        c = min(m, spread)
        ns = sorted({round(1 + (m - 1) * k / (c - 1)) for k in range(c)} if c > 1 else {1})
        points += [(s, n) for n in ns]
    # `write`: at the write of each outcome line; the kill comes before the line is
    # written, after its batch committed.
    points += [("write", n) for n in line_writes]
    ctx.figure("import_crash_points", len(points))
    hit = collections.Counter()
    totals = collections.Counter()
    for i, (sc, n) in enumerate(points):
        if ctx.remaining() < 20:
            ctx.check(False, f"out of time after {i} of {len(points)} import crash points")
            break
        label = f"import {sc}#{n}"
        tag = f"i{i}"
        folder = os.path.join(ctx.tmp, f"import-{tag}")
        labels = import_folder(folder, tag)
        ids = set(labels.values())
        ledger.submitted.update(ids)
        senders = [threading.Thread(target=deliver, args=(d, f"{tag}-{ch}", ch, ledger, time.monotonic() + 30))
                   for ch in ("https", "smtp")]
        for t in senders:
            t.start()
        rc, text = run_import(d, folder, os.path.join(ctx.tmp, f"import-{tag}.out"),
                              wrapper=["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={sc}",
                                       "-e", f"inject={sc}:signal=SIGKILL:when={n}"])
        for t in senders:
            t.join()
        ctx.check(all(f"{tag}-{ch}" in ledger.acked for ch in ("https", "smtp")),
                  f"{label}: the daemon's senders were not acknowledged: {ledger.summary()}")
        killed = rc == -9
        if killed:
            hit[sc] += 1
        printed = import_outcomes(text)
        committed = {r for r in stored_state(d.db)["counted"] if r in ids}
        ctx.check(rc in (0, -9), f"{label}: import exit code {rc}")
        ctx.check(all(o == "stored" for o in printed.values()),
                  f"{label}: first run said {sorted(set(printed.values()))}")
        unstored = sorted(p for p in printed if labels[p] not in committed)
        ctx.check(not unstored, f"{label}: printed as stored, not in the database after the kill: {unstored}")
        if not killed:
            ctx.check(len(committed) == len(ids), f"{label}: a complete run stored {len(committed)}/{len(ids)}")
        # The daemon goes on committing after the import died in the middle.
        ctx.check(deliver(d, f"{tag}-after", "https", ledger, time.monotonic() + 20),
                  f"{label}: the daemon acknowledged no report after the kill")
        rc2, text2 = run_import(d, folder, os.path.join(ctx.tmp, f"import-{tag}.rerun"))
        again = import_outcomes(text2)
        want = {p: ("duplicate" if r in committed else "stored") for p, r in labels.items()}
        wrong = sorted(f"{os.path.basename(p)}: {again.get(p)} (want {o})"
                       for p, o in want.items() if again.get(p) != o)
        ctx.check(rc2 == 0, f"{label}: the re-run exited {rc2}: {text2[-1000:]}")
        ctx.check(not wrong, f"{label}: re-run outcomes: {wrong}")
        for p, o in again.items():
            if o in ("stored", "duplicate"):  # the import's acknowledgement
                ledger.acked.setdefault(labels[p], ("import", time.monotonic()))
        _quiet_verify(ctx, d.db, ledger, label)
        # The .eml files and the mbox's messages went through the mail intake too.
        bad = channel_mismatches(d.db, {r: "import" for r in ids},
                                 {r for p, r in labels.items() if p.endswith(".eml") or "#" in p})
        ctx.check(not bad, f"{label}: {bad}")
        totals["printed_before_kill"] += len(printed) if killed else 0
        totals["committed_before_kill"] += len(committed) if killed else 0
        totals["committed_unprinted"] += len(committed) - len(printed)
        totals["rerun_duplicate"] += sum(1 for o in again.values() if o == "duplicate")
        totals["rerun_stored"] += sum(1 for o in again.values() if o == "stored")
        totals["reports"] += len(ids)
        ctx.log(f"{label}: {'killed' if killed else 'not reached'}; printed {len(printed)}, committed "
                f"{len(committed)}/{len(ids)} before the re-run; re-run {len(again)} outcomes")
    rc = d.stop()
    ctx.check(rc == 0, f"daemon exit code {rc} after SIGTERM")
    for s in ("fdatasync", "pwrite64", "write"):
        ctx.figure(f"import_points_killed[{s}]", hit[s])
        ctx.check(hit[s] > 0, f"no import crash point of {s} was reached")
    for k in ("reports", "printed_before_kill", "committed_before_kill", "committed_unprinted", "rerun_duplicate",
              "rerun_stored"):
        ctx.figure(f"import_{k}", totals[k])
    ctx.figure("import_daemon_acked_meanwhile", sum(1 for ch, _ in ledger.acked.values() if ch != "import"))
    # Everything acknowledged (the daemon's 200/250, the import's stored/duplicate lines)
    # once over the whole database: import_acked, import_lost, import_doubled, ...
    verify(ctx, d.db, ledger, prefix="import_")
