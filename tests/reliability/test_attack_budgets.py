#!/usr/bin/python3
"""Strangers holding the shared budgets (issue 19, items 3 and 4; scenarios 31-32 of
docs/guarantees.md#reliability-scenarios).

31 body_budget_lockout: 8 addresses x 4 connections each declare a 2 MiB body
   (Content-Length: 2097152), send one byte and hold it: together the default
   https.max_body_bytes_in_flight (64 MiB). The hogs reconnect whenever they are cut,
   as the issue's attacker does. An honest client from a ninth address then POSTs
   reports. Asserted: each is answered 200 and stored (the slowest body of the biggest
   holder is cut to make room), the cut hogs got 503 or were closed, a fifth
   connection from a hog address is refused 503 at once (its share), and /metrics has
   the series tlsrptd_request_bodies_cut_total and
   tlsrptd_requests_refused_total{reason="max_body_bytes_per_client"}. 31.5: with
   max_body_bytes_in_flight 2 MiB held by two 1 MiB bodies, six fresh addresses
   declaring 1 MiB are refused 503 and the slowest sender's only body is not cut: it
   completes, 200 and stored (review finding 7: the first cut rule let them cut it).
   Figures: the honest statuses and latencies, cuts, refusals. Before (issue): 503
   until request_timeout.
32 smtp_idle_slots: smtp.max_connections (20 here) filled with idle connections from
   4 addresses (greeted, some after EHLO), then an honest client delivers a report.
   Asserted: 250 and stored (the oldest idle session was told 421 4.7.0 and closed),
   a connection over max_connections_per_client is greeted "421 4.7.0" before the
   close, and with every slot inside a mail transaction (nothing to evict) a new
   connection gets "421 4.7.0" too; /metrics has tlsrptd_connections_evicted_total and
   tlsrptd_connections_refused_total for the smtp listener. Figures: the honest
   delivery time, evictions, the refusal lines. Before (issue): closed at once with no
   greeting, for up to command_timeout (300 s).
Latency is printed, asserted only in --soak mode; statuses, rows and lines always."""
import re
import smtplib
import threading
import time

from common import report_mail
from hostile_support import (SmtpClient, free_port, hostile_scenario, http_request, parse_status, read_all, report,
                             tls_connect, wait_until)

MiB = 1 << 20
HOG_HEAD = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
            b"Content-Length: 2097152\r\n\r\n{")


def scrape(d):
    """The admin listener's /metrics text (plain HTTP)."""
    import urllib.request
    with urllib.request.urlopen(d.admin("/metrics"), timeout=10) as r:
        return r.read().decode()


def series(text, name, **labels):
    """The value of one series of the exposition text, or None when it is absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def defined(text, name):
    return f"# HELP {name} " in text and f"# TYPE {name} " in text


class Hog(threading.Thread):
    """One attacker connection slot: declares a 2 MiB body, sends one byte and holds
    it; when the server answers or closes, it reconnects (until stopped)."""

    def __init__(self, port, src):
        super().__init__(daemon=True)
        self.port, self.src = port, src
        self.replies = []  # one per connection: the status line, or b"" when closed without one
        self.holding = threading.Event()
        self.stop_ = threading.Event()

    def run(self):
        while not self.stop_.is_set():
            try:
                s = tls_connect(self.port, self.src, timeout=10)
            except OSError:
                self.stop_.wait(0.2)
                continue
            with s:
                try:
                    s.sendall(HOG_HEAD)
                except OSError:
                    continue
                self.holding.set()
                data = b""
                while not self.stop_.is_set():
                    got, closed, _ = read_all(s, 0.3)
                    data += got
                    if closed or data:
                        break
                if data or closed:
                    self.replies.append(data.split(b"\r\n", 1)[0])
            self.stop_.wait(1.0)  # the attacker comes back a second later

    def stop(self):
        self.stop_.set()


def honest_post(port, src, rid):
    body = report(rid)
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    try:
        status, _, secs = http_request(port, head, body, src, timeout=60)
    except OSError as e:
        return None, 0.0, str(e)
    return status, secs, ""


@hostile_scenario(deadline=150, soak_deadline=300)
def body_budget_lockout(s):
    """Scenario 31."""
    request_timeout = 60 if s.full else 25
    d = s.daemon("budget", extra_config=f'request_timeout = "{request_timeout}s"\n')
    hogs = [Hog(d.port, f"127.0.0.{11 + a}") for a in range(8) for _ in range(4)]
    for h in hogs:
        h.start()
    for h in hogs:
        h.holding.wait(20)
    full = wait_until(lambda: series(scrape(d), "tlsrptd_bytes_in_flight", listener="https") == 64 * MiB, 20, 0.2)
    s.ctx.figure("31.0 body budget held by 8 addresses x 4", f"full={full}")

    # A fifth connection from a hog address: over its 8 MiB share, 503 at once.
    status5, _, secs5 = (None, None, 0.0)
    try:
        status5, _, secs5 = http_request(d.port, HOG_HEAD, b"", "127.0.0.11", timeout=10)
    except OSError:
        pass
    s.result("31.1", "a fifth 2 MiB body from a hog address: 503 at once (per-client share)",
             status5 == 503 and s.timed(secs5 < 1.0), f"status={status5} after {secs5 * 1000:.0f}ms")

    statuses, latencies, rids = [], [], []
    rounds = 5 if s.ctx.fast else 20
    for i in range(rounds):
        rid = f"honest-budget-{i}"
        status, secs, err = honest_post(d.port, "127.0.0.30", rid)
        statuses.append(status)
        latencies.append(secs)
        if status == 200:
            rids.append(rid)
        time.sleep(0.5)
    stored = d.count(where="report_id LIKE 'honest-budget-%'")
    s.result("31.2", "an honest client from a ninth address during the attack: 200 and stored",
             statuses == [200] * rounds and stored == rounds and s.timed(max(latencies) < 1.0),
             f"statuses={statuses} latency_ms={[round(x * 1000) for x in latencies]} stored={stored}/{rounds}")

    for h in hogs:
        h.stop()
    for h in hogs:
        h.join(15)
    m = scrape(d)
    cuts = series(m, "tlsrptd_request_bodies_cut_total", listener="https")
    refused = series(m, "tlsrptd_requests_refused_total", listener="https", reason="max_body_bytes_per_client")
    hog_replies = [r for h in hogs for r in h.replies]
    hog_503 = sum(1 for r in hog_replies if b" 503 " in r + b" ")
    s.result("31.3", "the cut hogs were answered 503 or closed; cuts and refusals are defined series in /metrics",
             bool(cuts) and cuts >= 1 and len(hog_replies) >= cuts and bool(refused) and refused >= 1
             and defined(m, "tlsrptd_request_bodies_cut_total") and defined(m, "tlsrptd_requests_refused_total")
             and all(r == b"" or b" 503 " in r + b" " for r in hog_replies),
             f"cuts={cuts} refused_per_client={refused} hog_ends={len(hog_replies)} hog_503={hog_503} "
             f"other={sorted(set(r for r in hog_replies if b' 503 ' not in r + b' '))[:3]}")
    s.result("31.4", "nothing stored from the hogs, daemon healthy",
             d.count() == stored and d.alive() and d.healthy(), f"reports={d.count()} peak_rss={d.hwm_kib() / 1024:.1f}MiB")
    only_body_kept(s, request_timeout)


def only_body_kept(s, request_timeout):
    """31.5: a sender's only body, the slowest there is, is not cut by fresh addresses
    declaring as much (the victim must still hold at least as much after the cut)."""
    d = s.daemon("budget-rule", extra_config=f'request_timeout = "{request_timeout}s"\n'
                 'max_body_bytes_in_flight = "2MiB"\n')
    body = report("honest-only-body")
    body += b" " * (MiB - len(body))
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nConnection: close\r\n"
            b"Content-Length: " + str(MiB).encode() + b"\r\n\r\n")
    honest = tls_connect(d.port, "127.0.0.60", timeout=10)
    honest.sendall(head + body[:1])  # the oldest and slowest body
    other = tls_connect(d.port, "127.0.0.61", timeout=10)
    other.sendall(head + body[:1])
    wait_until(lambda: series(scrape(d), "tlsrptd_bytes_in_flight", listener="https") == 2 * MiB, 10, 0.1)
    newcomers = []
    for i in range(6):
        try:
            newcomers.append(http_request(d.port, head, b"{", f"127.0.0.{70 + i}", timeout=3)[0])
        except OSError:
            newcomers.append(None)
    early, closed, _ = read_all(honest, 0.3)
    try:
        honest.sendall(body[1:])
        data, _, _ = read_all(honest, 30)
    except OSError:  # cut and closed
        data, closed = b"", True
    honest.close()
    other.close()
    cuts = series(scrape(d), "tlsrptd_request_bodies_cut_total", listener="https") or 0.0
    stored = d.count(where="report_id = 'honest-only-body'")
    s.result("31.5", "fresh addresses declaring as much as a sender's only body: 503, that body never cut (200)",
             newcomers == [503] * len(newcomers) and not early and not closed and parse_status(data) == 200
             and stored == 1 and cuts == 0,
             f"newcomers={newcomers} honest={parse_status(early + data)} stored={stored} cuts={cuts:g}")


def smtp_config(port):
    return (f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\ndkim = "off"\n'
            'command_timeout = "60s"\nmax_connections = 20\nmax_connections_per_client = 5\nstarttls = false\n')


def honest_mail(port, src, rid):
    """One report mail from `src`: (reply code to DATA or the first refusal, seconds, text)."""
    t0 = time.monotonic()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(src, 0)) as c:
            c.ehlo("mta.sender.example")
            c.mail("tlsrpt-noreply@sender.example")
            c.rcpt("tlsrpt@example.com")
            code, text = c.data(report_mail(report(rid), rid))
            return code, time.monotonic() - t0, text
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, time.monotonic() - t0, e.smtp_error
    except (OSError, smtplib.SMTPException) as e:
        return None, time.monotonic() - t0, f"{type(e).__name__}: {e}".encode()


def first_line(port, src):
    """What a fresh connection is told first: (line, closed afterwards)."""
    c = SmtpClient(port, src, timeout=10, greet=False)
    try:
        code, text, _ = c.reply(5)
        closed, _ = c.wait_closed(3) if code == 421 else (c.closed, 0)
        return text.strip(), closed
    finally:
        c.close()


@hostile_scenario(deadline=120, soak_deadline=240)
def smtp_idle_slots(s):
    """Scenario 32."""
    port = free_port()
    d = s.daemon("slots", sections=smtp_config(port))
    idle = []
    for a in range(4):
        for i in range(5):
            c = SmtpClient(port, f"127.0.0.{41 + a}", timeout=10)
            if c.greeting[0] == 220 and i % 2:
                c.cmd(b"EHLO idle.example")
            idle.append(c)
    greeted = sum(1 for c in idle if c.greeting[0] == 220)
    s.ctx.figure("32.0 idle connections holding smtp.max_connections 20", f"greeted={greeted}")

    line, closed = first_line(port, "127.0.0.41")
    s.result("32.1", "a sixth connection from an idle address (cap 5): 421 4.7.0 before the close",
             line.startswith("421 4.7.0 ") and closed, f"line={line!r} closed={closed}")

    code, secs, text = honest_mail(port, "127.0.0.50", "honest-slots-1")
    stored = d.count(where="report_id = 'honest-slots-1'")
    evicted_lines = []
    for c in idle:
        r = c.reply(0.2) if not c.closed else (None, c.buf.decode("latin-1"), 0)
        if r[0] == 421 or "421 4.7.0" in (r[1] or ""):
            evicted_lines.append((r[1] or "").strip())
    s.result("32.2", "an honest delivery while every slot is held by idle sessions: 250 and stored, the oldest "
             "idle session told 421 4.7.0",
             code == 250 and stored == 1 and len(evicted_lines) >= 1 and evicted_lines[0].startswith("421 4.7.0 ")
             and s.timed(secs < 1.0),
             f"code={code} {text!r} delivery={secs * 1000:.0f}ms stored={stored} evicted={len(evicted_lines)} "
             f"line={evicted_lines[:1]}")
    for c in idle:
        c.close()

    # Every slot inside a mail transaction: nothing may be evicted, a newcomer is told so.
    wait_until(lambda: series(scrape(d), "tlsrptd_open_connections", listener="smtp") in (0.0, None), 10, 0.2)
    busy, mail_ok = [], 0
    for a in range(4):
        for _ in range(5):
            c = SmtpClient(port, f"127.0.0.{41 + a}", timeout=10)
            c.cmd(b"EHLO busy.example")
            mail_ok += c.cmd(b"MAIL FROM:<x@sender.example>")[0] == 250
            busy.append(c)
    evictions_before = series(scrape(d), "tlsrptd_connections_evicted_total", listener="smtp") or 0.0
    line2, closed2 = first_line(port, "127.0.0.51")
    # Each busy session must still be open and silent: a read times out (no 421, no close).
    polls = [c.reply(0.3) for c in busy]
    told = [p[1].strip() for p in polls if p[0] is not None or p[1]]
    still_open = sum(1 for c, p in zip(busy, polls) if p[0] is None and not c.closed)
    evictions_after = series(scrape(d), "tlsrptd_connections_evicted_total", listener="smtp") or 0.0
    s.result("32.3", "every slot inside a mail transaction: a new connection gets 421 4.7.0, no session evicted",
             line2.startswith("421 4.7.0 ") and closed2 and mail_ok == len(busy) and still_open == len(busy)
             and not told and evictions_after == evictions_before,
             f"line={line2!r} closed={closed2} mail_250={mail_ok}/{len(busy)} still_open={still_open}/{len(busy)} "
             f"told={told[:2]} evictions {evictions_before:g}->{evictions_after:g}")
    for c in busy:
        c.close()

    m = scrape(d)
    evictions = series(m, "tlsrptd_connections_evicted_total", listener="smtp")
    per_client = series(m, "tlsrptd_connections_refused_total", listener="smtp", reason="max_connections_per_client")
    full = series(m, "tlsrptd_connections_refused_total", listener="smtp", reason="max_connections")
    s.result("32.4", "evictions and refusals are defined series in /metrics",
             defined(m, "tlsrptd_connections_evicted_total") and bool(evictions) and evictions >= 1
             and bool(per_client) and bool(full),
             f"evicted={evictions} refused_per_client={per_client} refused_full={full}")
    s.result("32.5", "daemon healthy afterwards", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")
