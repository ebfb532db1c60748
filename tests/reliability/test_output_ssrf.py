#!/usr/bin/python3
"""Reliability scenario 28 (docs/guarantees.md#reliability-scenarios): webhook SSRF and
egress, with the daemon (`tlsrptd serve`) traced by `strace -f -e trace=connect,...`:

- webhook targets 127.0.0.1, [::1], 169.254.169.254, 10.0.0.1, [::ffff:127.0.0.1],
  localhost, the decimal and short forms of 127.0.0.1, and a sink answering
  302 -> another loopback listener: refused before any connect(), logged, the
  redirect never followed (the redirect target sees no connection);
- a sink that accepts TCP and never answers: given up at its timeout, while
  reports keep being acknowledged quickly;
- 200 reports full of additional-information URLs (pointing at a listener here,
  at 169.254.169.254, ...): zero connect()/socket() calls and zero hits.
"""
import datetime
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (HookServer, Poster, Strace, hostile_scenario, make_cert, percentile,  # noqa: E402
                             wait_until)

YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()


def failing_report(rid, domain="ssrf.example", info=None, n_details=1):
    per = 60 // n_details
    details = [{"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": f"mx1.{domain}", "failed-session-count": per,
                **({"additional-information": info[i % len(info)]} if info else {})} for i in range(n_details)]
    return json.dumps({
        "organization-name": "SSRF Tester", "contact-info": "mailto:reports@169.254.169.254",
        "date-range": {"start-datetime": YESTERDAY + "T00:00:00Z", "end-datetime": YESTERDAY + "T23:59:59Z"},
        "report-id": rid,
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain,
                                 "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx1.{domain}",
                                                   "max_age: 86400"], "mx-host": [f"mx1.{domain}"]},
                      "summary": {"total-successful-session-count": 40, "total-failure-session-count": per * n_details},
                      "failure-details": details}],
    }).encode()


class Listener:
    """A TCP listener counting connections; with `answer`, never answers (a
    blackhole that accepts)."""

    def __init__(self, accept=True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.conns = []
        self.accept = accept
        self._stop = False
        if accept:
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.hits += 1
                self.conns.append(c)
            except (TimeoutError, OSError):
                continue

    def close(self):
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def connects(lines):
    """(family, address, port) of every connect() in an strace log."""
    out = []
    for line in lines:
        if "connect(" not in line:
            continue
        m = re.search(r'sin6?_port=htons\((\d+)\).*?(?:sin_addr=inet_addr\("([^"]+)"\)|'
                      r'inet_pton\(AF_INET6, "([^"]+)")', line)
        if m:
            out.append(("inet", m.group(2) or m.group(3), int(m.group(1))))
        elif "sun_path" in line:
            out.append(("unix", re.search(r'sun_path="([^"]*)"', line).group(1), 0))
        else:
            out.append(("other", line[:80], 0))
    return out


@hostile_scenario(deadline=150)
def webhook_ssrf_and_egress(s):
    """Scenario 28: webhook SSRF, redirects, a blackholed sink, no egress from report content."""
    os.chmod(s.tmp, 0o777)
    cert, key = make_cert(s.tmp)
    target = Listener()  # where the 302 points, and where refused sinks would land
    hook = HookServer(cert, key, redirect_to=f"https://127.0.0.1:{target.port}/stolen")
    try:
        run_all(s, cert, hook, target)
    finally:
        hook.stop()
        target.close()


def run_all(s, cert, hook, target):
    tp = target.port
    refused = {
        f"https://127.0.0.1:{tp}/hook": "127.0.0.1 is a loopback address",
        f"https://[::1]:{tp}/hook": "::1 is the loopback address",
        "https://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
        "https://10.0.0.1/hook": "10.0.0.1 is a private address",
        f"https://[::ffff:127.0.0.1]:{tp}/hook": "IPv4-mapped form of 127.0.0.1",
        f"https://localhost:{tp}/hook": "loopback",
        f"https://2130706433:{tp}/hook": "127.0.0.1 is a loopback address",
        f"https://127.1:{tp}/hook": "127.0.0.1 is a loopback address",
        f"https://0x7f000001:{tp}/hook": "127.0.0.1 is a loopback address",
        f"https://0.0.0.0:{tp}/hook": "\"this network\"",
    }
    sinks = '[alerts]\ntrust_unauthenticated = true\n'
    for url in refused:
        sinks += f'[[alerts.sink]]\ntype = "webhook"\nurl = "{url}"\nretries = 0\ntimeout = "5s"\n'
    sinks += (f'[[alerts.sink]]\ntype = "webhook"\nurl = "{hook.url("/redirect")}"\nallow_private = true\n'
              f'ca_file = "{cert}"\nretries = 0\n')
    d = s.daemon("ssrf", sections=sinks)
    trace = Strace(d.pid, "connect,socket", s.path("ssrf.strace"))
    p = Poster(d.port, "127.0.0.9")
    st, _ = p.post(failing_report("ssrf-1"))
    p.close()
    wait_until(lambda: d.read_log().count("refused to connect") >= len(refused) and
               "redirects are not followed" in d.read_log(), 30, step=0.2)
    time.sleep(0.5)
    trace.stop()
    log = d.read_log()
    calls = connects(trace.lines())
    bad = [c for c in calls if c[0] == "inet" and not (c[1] == "127.0.0.1" and c[2] == hook.port)]
    to_hook = [c for c in calls if c[0] == "inet" and c[1] == "127.0.0.1" and c[2] == hook.port]
    missing = [u for u, why in refused.items() if why not in log]
    n_refused = log.count("refused to connect")
    s.result("28.1", "webhook targets on loopback/link-local/private (10 spellings) refused before connect(), "
             "each logged", st == 200 and not bad and n_refused == len(refused) and not missing,
             f"alert post={st} connects={len(calls)} (to the allowed hook: {len(to_hook)}, elsewhere: {bad[:4]}) "
             f"refusals logged={n_refused}/{len(refused)} unmatched={missing[:3]}")
    s.result("28.2", "a 302 from the sink is not followed (its target sees no connection)",
             "redirects are not followed" in log and target.hits == 0 and
             [r[0] for r in hook.requests] == ["/redirect"],
             f"hook requests={[r[0] for r in hook.requests]} redirect target hits={target.hits}")
    d.stop()

    # A blackhole that accepts TCP and never speaks TLS: timeout, ingestion unaffected.
    hole = Listener(accept=False)
    d2 = s.daemon("blackhole", sections=(f'[alerts]\ntrust_unauthenticated = true\n[[alerts.sink]]\ntype = "webhook"\n'
                                         f'url = "https://127.0.0.1:{hole.port}/hook"\nallow_private = true\n'
                                         f'retries = 0\ntimeout = "10s"\n'))
    p = Poster(d2.port, "127.0.0.9")
    t_alert = time.monotonic()
    st, _ = p.post(failing_report("hole-1", "hole.example"))
    lat = []
    statuses = []
    while time.monotonic() - t_alert < 12:
        t0 = time.monotonic()
        st2, _ = p.post(failing_report(f"hole-more-{len(lat)}", "other.example"))
        lat.append(time.monotonic() - t0)
        statuses.append(st2)
        time.sleep(0.05)
        if "hole.example failed" in d2.read_log():
            break
    gave_up = wait_until(lambda: "hole.example failed" in d2.read_log(), 15, step=0.1)
    t_gave_up = time.monotonic() - t_alert
    p.close()
    line = next((ln for ln in d2.read_log().splitlines() if "hole.example failed" in ln), "")
    s.result("28.3", "a blackholed sink (accepts, never answers) is given up at its 10 s timeout; ingestion "
             "meanwhile p99 < 1 s", st == 200 and gave_up and t_gave_up <= (11.5 if s.full else 15)
             and s.timed(percentile(lat, 99) < 1.0)
             and all(x == 200 for x in statuses),
             f"gave up after {t_gave_up:.1f}s ({line[-90:]!r}); {len(lat)} reports meanwhile: "
             f"p99={percentile(lat, 99) * 1000:.0f}ms max={max(lat or [0]) * 1000:.0f}ms")
    d2.stop()
    hole.close()

    # No egress from report content.
    web = Listener()
    d3 = s.daemon("egress")  # default sinks: the log only; HTTPS reports raise no alert
    trace = Strace(d3.pid, "connect,socket,sendto,sendmsg", s.path("egress.strace"))
    urls = [f"http://127.0.0.1:{web.port}/track", f"https://127.0.0.1:{web.port}/x", "https://169.254.169.254/",
            "http://[::1]/", f"http://localhost:{web.port}/", "https://tracker.example/pixel.gif",
            "file:///etc/passwd", "gopher://127.0.0.1:25/"]
    p = Poster(d3.port, "127.0.0.9")
    acked = 0
    for i in range(200):
        st, _ = p.post(failing_report(f"egress-{i}", f"e{i % 7}.example", urls, n_details=8))
        acked += st == 200
    p.close()
    time.sleep(1)
    trace.stop()
    lines = trace.lines()
    cons = [ln for ln in lines if "connect(" in ln]
    socks = [ln for ln in lines if re.search(r"\bsocket\(", ln)]
    # Replies to clients go out on connected sockets; an addressed send would be egress.
    sends = [ln for ln in lines if ("sendto(" in ln or "sendmsg(" in ln) and
             re.search(r"sin6?_addr|sun_path|sa_family=AF_NETLINK", ln)]
    s.result("28.4", "200 reports x 8 additional-information URLs: 0 connect(), 0 socket(), 0 hits on the "
             "listener they name", acked == 200 and not cons and not socks and not sends and web.hits == 0,
             f"acked={acked} connect()={len(cons)} socket()={len(socks)} addressed sendto/sendmsg={len(sends)} "
             f"listener hits={web.hits} {cons[:2]}")
    web.close()

