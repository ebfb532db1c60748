"""Graceful restart under load (issue 7; reliability-scenarios.md §5 scenario 9): SIGTERM
while 8 senders (HTTPS and SMTP) submit. Requests in flight finish or are told to try
later; nothing acknowledged is lost; the daemon exits 0 within shutdown_timeout; the
next start needs no manual step and the senders' retries are counted once."""
import collections
import signal
import threading
import time

from common import scenario
from durability import Ledger, SUCCESS, TEMPFAIL, submit_once, verify


@scenario(deadline=150, soak_deadline=600)
def graceful_restart_under_load(ctx):
    rounds = 1 if ctx.fast else 5
    shutdown_timeout = 10
    d = ctx.daemon(smtp=True, top_config=f'shutdown_timeout = "{shutdown_timeout}s"\n',
                   extra_config='max_connections_per_client = 64\n', smtp_extra="max_connections_per_client = 64\n")
    ctx.figure("shutdown_timeout_s", shutdown_timeout)
    ledger = Ledger()
    done = threading.Event()
    attempts = []  # (channel, started, ended, status)
    lock = threading.Lock()

    def sender(c):
        channel = "https" if c % 2 == 0 else "smtp"
        i = 0
        rid = f"term-{c}-{i}"
        while not done.is_set():
            t0 = time.monotonic()
            r = submit_once(d, rid, channel, timeout=30)
            ledger.note(rid, channel, r.status)
            with lock:
                attempts.append((channel, t0, time.monotonic(), r.status))
            if r.status in SUCCESS[channel]:
                i += 1
                rid = f"term-{c}-{i}"
            else:
                time.sleep(0.1)

    threads = [threading.Thread(target=sender, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    exits, in_flight = [], collections.Counter()
    for k in range(rounds):
        time.sleep(3)
        term_at = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=shutdown_timeout + 20)
        exit_s = time.monotonic() - term_at
        d.logf.close()
        exits.append((rc, exit_s))
        # Requests in flight at SIGTERM: how were they answered?
        with lock:
            for channel, t0, t1, status in attempts:
                if t0 < term_at < t1:
                    kind = ("finished" if status in SUCCESS[channel] else
                            "try-later" if status in TEMPFAIL[channel] else
                            "no-reply" if status is None else f"other-{status}")
                    in_flight[kind] += 1
        time.sleep(0.5)
        d.start()  # the next start needs no manual step
    time.sleep(3)
    done.set()
    for t in threads:
        t.join()
    # What the senders still hold they retry until acknowledged.
    for rid in sorted(ledger.submitted - set(ledger.acked)):
        channel = ledger.history[rid][-1][2]
        for _ in range(20):
            r = submit_once(d, rid, channel)
            ledger.note(rid, channel, r.status)
            if r.status in SUCCESS[channel]:
                break
            time.sleep(0.5)
    rc = d.stop()
    ctx.figure("sigterm_rounds", rounds)
    ctx.figure("exit_codes", [e[0] for e in exits])
    ctx.figure("exit_s_max", f"{max(e[1] for e in exits):.2f}")
    ctx.figure("in_flight_at_sigterm", dict(in_flight))
    ctx.figure("replies", ledger.summary())
    ctx.check(all(e[0] == 0 for e in exits) and rc == 0, f"exit codes {exits}, final {rc}")
    ctx.check(all(e[1] <= shutdown_timeout + 1 for e in exits), f"exit took {max(e[1] for e in exits):.1f} s")
    ctx.check(sum(in_flight.values()) > 0, "no request was in flight at SIGTERM (the test did not test)")
    bad = {k: v for k, v in in_flight.items() if k not in ("finished", "try-later")}
    ctx.check(not bad, f"requests in flight at SIGTERM neither finished nor told to try later: {bad}")
    ctx.check(set(ledger.acked) == ledger.submitted, "some reports were never acknowledged after the restart")
    verify(ctx, d.db, ledger)
