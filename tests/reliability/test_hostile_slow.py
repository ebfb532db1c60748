#!/usr/bin/python3
"""Reliability scenarios 14-15 (docs/guarantees.md#reliability-scenarios): slowloris
(slow headers), slow body and slow read against `tlsrptd serve` over HTTPS, driven by
slowhttptest (Debian package slowhttptest) for the mass of connections plus a few timed
Python tricklers that measure exactly when each connection is cut. Meanwhile a
legitimate sender on another loopback address POSTs reports; its p99 must stay under
1 s. Open fds and RSS of the daemon are sampled throughout.

--fast uses short configured deadlines (header 3 s, request 6 s) and prints the
legitimate sender's p99 without asserting it; --soak uses the defaults (10 s, 30 s),
longer runs, and asserts p99 < 1 s.
"""
import csv
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import LegitClient, curl, hostile_scenario, raise_nofile, tls_connect, track  # noqa: E402

# --fast; setup() switches to the defaults and longer runs in --soak.
HEADER, REQUEST = 3, 6
LENGTH = 12          # seconds each slowhttptest run lasts
CONNS, RATE = 600, 150
SLACK = 5            # how far past its deadline a cut may be measured in --fast (a loaded CI machine)


def setup(s):
    global HEADER, REQUEST, LENGTH, CONNS, RATE, SLACK
    raise_nofile(65536)
    if s.full:
        HEADER, REQUEST, LENGTH, CONNS, RATE, SLACK = 10, 30, 40, 1000, 100, 1.5


class Trickler(threading.Thread):
    """One connection that sends `first`, then `tick` every `every` seconds, and
    records how long after `first` the server cut it off."""

    def __init__(self, port, src, first, tick, every=0.5, give_up=60):
        super().__init__(daemon=True)
        self.port, self.src, self.first, self.tick, self.every, self.give_up = port, src, first, tick, every, give_up
        self.lifetime = None
        self.error = None
        self.reply = b""

    def run(self):
        try:
            s = tls_connect(self.port, self.src, timeout=10)
        except Exception as e:
            self.error = f"connect: {e}"
            return
        with s:
            s.sendall(self.first)
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.give_up:
                s.settimeout(self.every)
                try:
                    got = s.recv(4096)
                    if not got:
                        break
                    self.reply += got
                    continue
                except (TimeoutError, OSError) as e:
                    if not isinstance(e, TimeoutError) and "timed out" not in str(e):
                        break
                try:
                    s.sendall(self.tick)
                except OSError:
                    break
            self.lifetime = time.monotonic() - t0


class Sampler(threading.Thread):
    def __init__(self, d, every=0.5):
        super().__init__(daemon=True)
        self.d, self.every = d, every
        self.fds, self.rss = [], []
        self.stop_ = threading.Event()

    def run(self):
        while not self.stop_.is_set():
            self.fds.append(self.d.fds())
            self.rss.append(self.d.rss_now_kib())
            self.stop_.wait(self.every)

    def stop(self):
        self.stop_.set()
        self.join(5)


def slowhttptest(s, mode_args, prefix):
    out = s.path(prefix)
    args = ["slowhttptest", *mode_args, "-c", str(CONNS), "-r", str(RATE), "-l", str(LENGTH), "-p", "3", "-g",
            "-o", out, "-v", "0"]
    p = track(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    return p, out + ".csv"


def csv_figures(path):
    """slowhttptest's per-second counts: max connected at once, and the last closed."""
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    if not rows:
        return {}
    conn = [int(r.get("Connected", 0) or 0) for r in rows]
    closed = [int(r.get("Closed", 0) or 0) for r in rows]
    return {"max_connected": max(conn), "closed": max(closed)}


def attack(s, d, sid, title, mode_args, trickle_first, trickle_tick, deadline, src_legit, stored_allowed):
    sampler = Sampler(d)
    sampler.start()
    legit = LegitClient(d.port, src_legit, f"legit-{sid}", interval=0.2).start()
    before = d.count()
    p, csv_path = slowhttptest(s, [*mode_args, "-u", d.url("/")], f"slow-{sid}")
    time.sleep(1)
    tricklers = [Trickler(d.port, "127.0.0.3", trickle_first, trickle_tick, give_up=deadline + 20)
                 for _ in range(10)]
    for t in tricklers:
        t.start()
    for t in tricklers:
        t.join(deadline + 30)
    try:
        out, _ = p.communicate(timeout=LENGTH + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    legit.stop()
    sampler.stop()
    lifetimes = [t.lifetime for t in tricklers if t.lifetime is not None]
    errors = [t.error for t in tricklers if t.error]
    figs = csv_figures(csv_path)
    stored_by_attack = d.count() - before - len(legit.acked)
    max_fds = max(sampler.fds or [0])
    ok = (len(lifetimes) == len(tricklers) and max(lifetimes) <= deadline + SLACK and s.timed(legit.p99() < 1.0)
          and legit.all_ok() and stored_by_attack <= stored_allowed and d.alive()
          and max_fds < d_max_connections + 64)
    return ok, (f"cut_after max={max(lifetimes or [0]):.2f}s min={min(lifetimes or [0]):.2f}s "
                f"(deadline {deadline}s) trickler_errors={len(errors)} slowhttptest={figs} {legit.summary()} "
                f"legit_errors={legit.errors[:2]} fds max={max_fds} rss max={max(sampler.rss or [0]) / 1024:.1f}MiB "
                f"stored_by_attack={stored_by_attack} slowhttptest_rc={p.returncode}")


d_max_connections = 4096


def slow_daemon(s):
    cfg = (f'handshake_timeout = "{HEADER}s"\nheader_timeout = "{HEADER}s"\nrequest_timeout = "{REQUEST}s"\n'
           f'idle_timeout = "{HEADER}s"\nwrite_timeout = "{REQUEST}s"\n'
           f'max_connections = {d_max_connections}\nmax_connections_per_client = 4000\n'
           # slowhttptest has one address: lift the per-client and body budgets so
           # that the deadlines, not the budgets, are what cut its connections.
           'max_body_bytes_in_flight = "4GiB"\nmax_body_bytes_per_client = "4GiB"\n')
    return s.daemon("slow", extra_config=cfg)


def cap_daemon(s):
    """The default per-client cap (32) and body budgets."""
    return s.daemon("slowcap", extra_config=f'header_timeout = "{HEADER}s"\nrequest_timeout = "{REQUEST}s"\n'
                                            'max_connections_per_client = 32\n')


def capped(s, d2):
    """One address alone hits the per-client cap whatever the deadlines."""
    legit = LegitClient(d2.port, "127.0.0.8", "legit-cap", interval=0.2).start()
    p, csv_path = slowhttptest(s, ["-H", "-i", "1", "-u", d2.url("/")], "slow-cap")
    peak = 0
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < LENGTH + 30:
        peak = max(peak, open_connections(d2))
        time.sleep(0.5)
    p.communicate(timeout=30)
    legit.stop()
    ok = 0 < peak <= 32 + 1 and s.timed(legit.p99() < 1.0) and legit.all_ok()
    return ok, f"peak open https connections={peak} (cap 32 + legit) {legit.summary()}"


def budget_share(s, d2):
    """One address, 32 connections (the default cap) each declaring a 2 MiB body (the
    default submission limit) and trickling it: its share of the 64 MiB body budget
    is bounded, so other senders are not refused."""
    legit = LegitClient(d2.port, "127.0.0.9", "legit-budget", interval=0.2).start()
    hogs = [Trickler(d2.port, "127.0.0.4",
                     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
                     b"Content-Length: 2097152\r\n\r\n{", b" " * 64, every=0.5, give_up=REQUEST + 10)
            for _ in range(32)]
    for h in hogs:
        h.start()
    for h in hogs:
        h.join(REQUEST + 30)
    legit.stop()
    refused = sum(1 for h in hogs if b" 503 " in h.reply[:20])
    held = sum(1 for h in hogs if h.lifetime is not None and h.lifetime > 1 and b" 503 " not in h.reply[:20])
    # 8 MiB per client / 2 MiB each: 4 held, the other 28 refused at once.
    ok = legit.all_ok() and s.timed(legit.p99() < 1.0) and d2.alive() and held == 4 and refused == 28
    return ok, (f"hog connections: {held} held until the request deadline, {refused} refused 503 at once; "
                f"{legit.summary()} statuses={sorted(set(legit.statuses), key=str)}")


@hostile_scenario(deadline=150, soak_deadline=400)
def slowloris(s):
    """Scenario 14: slow headers, from many connections and from one address."""
    setup(s)
    d = slow_daemon(s)
    s.scenario("14.1", f"slowloris (slowhttptest -H -c {CONNS} -r {RATE} -i 1): cut at the {HEADER}s header "
               "deadline, legit served", attack, s, d, "14.1", "slow headers", ["-H", "-i", "1", "-x", "10"],
               b"POST / HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n", HEADER, "127.0.0.5", 0)
    d2 = cap_daemon(s)
    s.scenario("14.2", "slowloris from one address with the default cap 32: the cap holds, legit served",
               capped, s, d2)
    s.result("14", "daemons alive after the slow headers", d.alive() and d2.alive(),
             f"alive={d.alive()},{d2.alive()} fds={d.fds()} peak_rss={d.hwm_kib() / 1024:.1f}MiB")


@hostile_scenario(deadline=200, soak_deadline=500)
def slow_body(s):
    """Scenario 15: slow bodies, slow reads, one address's share of the body budget."""
    setup(s)
    d = slow_daemon(s)
    s.scenario("15.1", f"slow body (slowhttptest -B -s 1048576 -i 1): cut at the {REQUEST}s request deadline, "
               "nothing stored, legit served", attack, s, d, "15.1", "slow body",
               ["-B", "-i", "1", "-s", "1048576", "-x", "10", "-f", "application/tlsrpt+json"],
               b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 100000\r\n\r\n"
               b'{"organization-name":', b"          ", REQUEST, "127.0.0.6", 0)
    # Slow read: the reply is small, so what must hold is the idle deadline for the
    # next request and the write deadline if the window stays shut.
    s.scenario("15.2", "slow read (slowhttptest -X -k 3 -n 1 -w 1 -y 10 -z 5): connections closed by the "
               "idle/write deadlines, legit served", attack, s, d, "15.2", "slow read",
               ["-X", "-k", "3", "-n", "1", "-w", "1", "-y", "10", "-z", "5"],
               b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"", HEADER, "127.0.0.7", 0)
    d2 = cap_daemon(s)
    s.scenario("15.3", "32 slow 2 MiB bodies from one address (defaults) do not exhaust the shared body budget: "
               "other senders all 200", budget_share, s, d2)
    s.result("15", "daemons alive after the slow bodies", d.alive() and d2.alive(),
             f"alive={d.alive()},{d2.alive()} fds={d.fds()} peak_rss={d.hwm_kib() / 1024:.1f}MiB")


def open_connections(d):
    try:
        text = curl(d.admin("/metrics"), timeout=5)[2].decode()
    except Exception:
        return 0
    for line in text.splitlines():
        if line.startswith('tlsrptd_open_connections{listener="https"}'):
            return int(float(line.split()[-1]))
    return 0
