#!/usr/bin/python3
"""Reliability scenarios 19-22 (docs/guarantees.md#reliability-scenarios): SMTP dialogue
abuse, DATA limits and smuggling, STARTTLS injection and timeouts, against the built-in
SMTP listener of `tlsrptd serve` on loopback, with raw sockets (every reply code and its
timing is measured). DKIM is off so that anything smuggled through would be stored and
counted; every scenario checks that nothing was.
"""
import os
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (MiB, Probe, SmtpClient, client_tls_context, dot_stuff, free_port,  # noqa: E402
                             hostile_scenario, report_mail)

COMMAND_TIMEOUT = 2  # smtp.command_timeout here (the minimum-rate grace is 10 s, fixed)
RCPT = b"RCPT TO:<tlsrpt@example.com>"


def smtp_sections(port, extra=""):
    return (f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\ndkim = "off"\n'
            f'command_timeout = "{COMMAND_TIMEOUT}s"\n{extra}')


def stored(d):
    return d.count()


def envelope(c):
    assert c.cmd(b"EHLO client.example")[0] == 250
    assert c.cmd(b"MAIL FROM:<reports@sender.example>")[0] == 250
    assert c.cmd(RCPT)[0] == 250


def dialogue(s, d, port):
    """19.x: each item returns (ok, figure)."""
    out = []

    with SmtpClient(port) as c:
        r1 = c.cmd(b"NOOP " + b"x" * 10240)
        r2 = c.cmd(b"NOOP " + b"y" * 10240)
        closed, _ = c.wait_closed(3)
        out.append(("19.1", "10 KiB command line -> 500 5.5.2, closed on the repeat",
                    r1[0] == 500 and "5.5.2" in r1[1] and r2[0] == 500 and closed,
                    f"first={r1[0]} {r1[1].strip()!r} second={r2[0]} closed={closed}"))

    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        codes = []
        for _ in range(101):
            code, text, _ = c.cmd(b"NOOP")
            codes.append(code)
            if code != 250:
                break
        closed, _ = c.wait_closed(3)
        out.append(("19.2", "101 junk commands -> 421 on the 101st and close",
                    codes[:100] == [250] * 100 and codes[100:] == [421] and closed,
                    f"250x{codes.count(250)} then {codes[100:]} closed={closed}"))

    with SmtpClient(port) as c:
        timings, codes = [], []
        t0 = time.monotonic()
        for i in range(21):
            code, text, secs = c.cmd(b"MAIL FROM:<a@b.example>", timeout=5)  # 503: no HELO yet
            codes.append(code)
            timings.append(secs)
            if code == 421 or code is None:
                break
            if "421" in c.buf.decode("latin-1"):
                codes.append(421)
                break
        rest = c.reply(5)
        if rest[0] == 421:
            codes.append(421)
        closed, _ = c.wait_closed(3)
        total = time.monotonic() - t0
        fast = [t for t in timings[:9]]
        slow = [t for t in timings[9:20]]
        ok = (codes.count(503) == 20 and 421 in codes and closed and s.timed(max(fast) < 0.5) and len(slow) == 11
              and min(slow) > 0.9)
        out.append(("19.3", "21 errors -> 421 and close at 20, 1 s error sleep from the 10th",
                    ok, f"503x{codes.count(503)} then 421={421 in codes} closed={closed} errors 1-9 max "
                        f"{max(fast):.2f}s, 10-20 min {min(slow or [0]):.2f}s max {max(slow or [0]):.2f}s, "
                        f"total {total:.1f}s"))

    with SmtpClient(port) as c:
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        closed, _ = c.wait_closed(3)
        out.append(("19.4", "GET / HTTP/1.1 on the SMTP port -> immediate close",
                    closed and s.timed(time.monotonic() - t0 < 1), f"closed={closed} after {time.monotonic() - t0:.2f}s "
                                                          f"reply={c.buf[:40]!r}"))

    with SmtpClient(port, greet=False) as c:
        # The greeting is sent at connect (no greet delay is configurable), so an
        # "early" EHLO cannot precede it: it must simply be answered normally.
        c.send(b"EHLO early.example\r\n")
        g = c.reply()
        e = c.reply()
        out.append(("19.5", "EHLO sent before reading the 220 (greeting is immediate) -> greeting then 250",
                    g[0] == 220 and e[0] == 250, f"greeting={g[0]} ehlo={e[0]}"))

    with SmtpClient(port) as c:
        c.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n")
        r = c.reply()
        r2 = c.reply()
        closed, _ = c.wait_closed(3)
        out.append(("19.6a", "pipelined commands before EHLO -> 503, 554 5.5.0 synchronization error, close",
                    r[0] == 503 and r2[0] == 554 and "5.5.0" in r2[1] and closed,
                    f"{r[0]} then {r2[0]} {r2[1].strip()!r} closed={closed}"))
    with SmtpClient(port) as c:
        c.send(b"HELO client.example\r\nMAIL FROM:<a@b.example>\r\n")
        r = c.reply()
        r2 = c.reply()
        closed, _ = c.wait_closed(3)
        out.append(("19.6b", "HELO (no PIPELINING) with MAIL behind it -> 554 and close",
                    r[0] == 250 and r2[0] == 554 and closed, f"{r[0]} then {r2[0]} closed={closed}"))

    with SmtpClient(port) as c:
        r = c.cmd(b"NO\x00OP")
        r2 = c.cmd(b"EHLO a\x00b")
        out.append(("19.7", "NUL in a command -> 500 5.5.2", r[0] == 500 and r2[0] == 500 and "NUL" in r[1],
                    f"{r[0]} {r[1].strip()!r}; in EHLO: {r2[0]}"))

    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        c.cmd(b"MAIL FROM:<a@b.example>")
        c.send(RCPT + b"\r\n" + b"".join(b"RCPT TO:<tlsrpt@example.com>\r\n" for _ in range(10)))
        codes = [c.reply()[0] for _ in range(11)]
        out.append(("19.8", "11 RCPTs (pipelined) -> 10 x 250 then 452 4.5.3",
                    codes == [250] * 10 + [452], f"codes={codes}"))
    return out


def data_limits(s, d, port):
    out = []
    before = stored(d)
    with SmtpClient(port) as c:
        envelope(c)
        assert c.cmd(b"DATA")[0] == 354
        line = b"x" * 76 + b"\r\n"
        block = line * (MiB // len(line))
        with Probe(d) as p:
            for _ in range(50):
                if not c.send(block):
                    break
            c.send(b".\r\n")
            r = c.reply(60)
        # What is buffered is bounded by the 10 MiB limit (plus the string's growth),
        # not by the 50 MiB sent.
        out.append(("20.1", "50 MiB DATA -> 552 5.3.4 without buffering it (peak RSS growth < 2 x the 10 MiB limit)",
                    r[0] == 552 and "5.3.4" in r[1] and p.hwm_growth_mib < 20 and stored(d) == before,
                    f"reply={r[0]} {r[1].strip()!r} {p.figures()} stored={stored(d) - before}"))
        nxt = c.cmd(b"NOOP")
        out.append(("20.1b", "the session continues after the 552", nxt[0] == 250, f"NOOP -> {nxt[0]}"))

    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        r = c.cmd(b"MAIL FROM:<a@b.example> SIZE=52428800")
        out.append(("20.2", "MAIL FROM SIZE=50 MiB -> 552 5.3.4 before DATA", r[0] == 552, f"{r[0]} {r[1].strip()!r}"))

    with SmtpClient(port) as c:
        envelope(c)
        r = c.cmd(b"BDAT 100 LAST")
        out.append(("20.3", "BDAT (CHUNKING not offered) -> 502", r[0] == 502, f"{r[0]} {r[1].strip()!r}"))

    # A disconnect in the middle of DATA stores nothing.
    mail = dot_stuff(report_mail("mid-data-1"))
    with SmtpClient(port) as c:
        envelope(c)
        c.cmd(b"DATA")
        c.send(mail[: len(mail) // 2])
    time.sleep(0.5)
    out.append(("20.4", "disconnect mid-DATA -> nothing stored", stored(d) == before,
                f"stored={stored(d) - before}"))

    # Smuggling: a second message hidden behind a non-CRLF end of data.
    first = dot_stuff(report_mail("smuggle-outer"))
    second = dot_stuff(report_mail("smuggle-inner"))
    smuggled_cmds = b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n" + second
    for sid, sep in (("20.5a", b"\n.\n"), ("20.5b", b"\r.\r"), ("20.5c", b"\n.\r\n"), ("20.5d", b"\r\n.\n"),
                     ("20.5e", b"\r\n.\r")):
        b0 = stored(d)
        with SmtpClient(port) as c:
            envelope(c)
            c.cmd(b"DATA")
            c.send(first + sep + smuggled_cmds + b"\r\n.\r\n")
            r = c.reply(5)
            closed, _ = c.wait_closed(3)
        time.sleep(0.3)
        n = stored(d) - b0
        out.append((sid, f"end of data {sep!r} carrying a second message -> refused, nothing stored",
                    n == 0 and r[0] in (550, 554) and closed, f"reply={r[0]} {r[1].strip()[:40]!r} closed={closed} "
                                                               f"stored={n}"))
    # Bare LF inside a message.
    b0 = stored(d)
    with SmtpClient(port) as c:
        envelope(c)
        c.cmd(b"DATA")
        c.send(first.replace(b"\r\n", b"\n", 3) + b"\r\n.\r\n")
        r = c.reply(5)
    out.append(("20.6", "bare LF inside the message -> 550 5.5.2, nothing stored",
                r[0] == 550 and stored(d) == b0, f"reply={r[0]} stored={stored(d) - b0}"))
    # Control: one valid DATA stores exactly one report.
    b0 = stored(d)
    with SmtpClient(port) as c:
        envelope(c)
        c.cmd(b"DATA")
        c.send(dot_stuff(report_mail("control-1")) + b"\r\n.\r\n")
        r = c.reply(15)
    out.append(("20.7", "control: a valid DATA -> 250, exactly one report stored",
                r[0] == 250 and stored(d) - b0 == 1, f"reply={r[0]} {r[1].strip()!r} stored={stored(d) - b0}"))
    return out


def concurrent_data(s, d, port):
    """40 sessions from 4 addresses each holding 9 MiB of an unfinished DATA."""
    line = b"x" * 76 + b"\r\n"
    block = line * (MiB // len(line))
    clients = []
    with Probe(d) as p:
        for i in range(40):
            c = SmtpClient(port, f"127.0.0.{2 + i // 10}")
            envelope(c)
            c.cmd(b"DATA")
            for _ in range(9):
                c.send(block)
            clients.append(c)
        time.sleep(1)
        rss_during = d.rss_now_kib() / 1024
        codes = []
        for c in clients:
            c.send(b".\r\n")
        for c in clients:
            codes.append(c.reply(60)[0])
            c.close()
    tempfail = codes.count(452)
    return [("20.8", "40 concurrent 9 MiB DATA (4 addresses): the shared 64 MiB message budget bounds memory; "
             "the rest get 452 4.3.1", p.hwm_growth_mib < 2 * 64 + 32 and tempfail >= 30 and d.alive(),
             f"{p.figures()} rss_during={rss_during:.0f}MiB replies={{452: {tempfail}, "
             f"other: {sorted(set(c for c in codes if c != 452), key=str)}}}")]


def starttls(s, d, port):
    out = []
    for sid, injected in (("21.1", b"RSET\r\n"), ("21.2", b"MAIL FROM:<evil@x.example>\r\n" + RCPT + b"\r\n")):
        log0 = d.read_log().count("bytes sent after STARTTLS")
        with SmtpClient(port) as c:
            c.cmd(b"EHLO client.example")
            c.send(b"STARTTLS\r\n" + injected)
            r = c.reply()
            t = client_tls_context().wrap_socket(c.s)
            t.settimeout(1.5)
            try:
                leaked = t.recv(200)
            except (TimeoutError, ssl.SSLError, OSError):
                leaked = b""
            # The session is fresh: MAIL without EHLO is refused, i.e. nothing carried over.
            t.sendall(b"MAIL FROM:<a@b.example>\r\n")
            t.settimeout(5)
            after = t.recv(200)
            t.close()
        time.sleep(0.2)
        logged = d.read_log().count("bytes sent after STARTTLS") - log0
        out.append((sid, f"STARTTLS with {injected[:12]!r}... in the same write -> discarded, never answered",
                    r[0] == 220 and leaked == b"" and after.startswith(b"503") and logged == 1,
                    f"220={r[0] == 220} reply_to_injected={leaked!r} MAIL after TLS -> {after[:20]!r} "
                    f"discard_logged={logged}"))
    return out


def timeouts(s, d, port):
    out = []
    b0 = stored(d)
    with SmtpClient(port) as c:
        r = c.reply(COMMAND_TIMEOUT + 5)
        closed, _ = c.wait_closed(2)
        out.append(("22.1", f"idle after connect -> 421 4.4.2 at the {COMMAND_TIMEOUT}s command timeout",
                    r[0] == 421 and "4.4.2" in r[1] and r[2] > COMMAND_TIMEOUT - 0.5
                    and s.timed(r[2] < COMMAND_TIMEOUT + 1) and closed,
                    f"{r[0]} after {r[2]:.2f}s closed={closed}"))
    with SmtpClient(port) as c:
        envelope(c)
        c.cmd(b"DATA")
        r = c.reply(COMMAND_TIMEOUT + 5)
        out.append(("22.2", "idle after DATA (354) -> 421 4.4.2 at the command timeout",
                    r[0] == 421 and r[2] > COMMAND_TIMEOUT - 0.5 and s.timed(r[2] < COMMAND_TIMEOUT + 1),
                    f"{r[0]} after {r[2]:.2f}s"))
    with SmtpClient(port) as c:
        envelope(c)
        c.cmd(b"DATA")
        t0 = time.monotonic()
        code = None
        while time.monotonic() - t0 < 25:
            if not c.send(b"x"):
                break
            r = c.reply(0.5)
            if r[0] is not None or c.closed:
                code = r[0]
                break
        secs = time.monotonic() - t0
        out.append(("22.3", "2 bytes/s in DATA (gaps under the command timeout) -> 421 by the 1 KiB/s minimum "
                    "rate after the 10 s grace", code == 421 and 9.5 < secs and s.timed(secs < 12), f"{code} after {secs:.2f}s"))
    out.append(("22.4", "nothing stored from the timed-out sessions", stored(d) == b0, f"stored={stored(d) - b0}"))
    return out


def session_caps(s, d, port):
    out = []
    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        t0 = time.monotonic()
        code = None
        while time.monotonic() - t0 < 10:
            r = c.cmd(b"NOOP", timeout=2)
            if r[0] != 250:
                code = r[0]
                break
            time.sleep(0.5)
        secs = time.monotonic() - t0
        out.append(("22.5", "a session that keeps talking is cut at session_timeout (4s) with 421",
                    code == 421 and 3.5 < secs and s.timed(secs < 5.5), f"{code} after {secs:.2f}s"))
    clients = []
    greeted = refused = 0
    for _ in range(12):
        c = SmtpClient(port, "127.0.0.2", greet=False)
        clients.append(c)
    for c in clients:
        r = c.reply(3)
        if r[0] == 220:
            greeted += 1
        elif r[0] == 421 and r[1].startswith("421 4.7.0 ") and c.wait_closed(3)[0]:
            refused += 1
    for c in clients:
        c.close()
    out.append(("22.6", "12 connections from one address -> 10 greeted, 2 told 421 4.7.0 and closed at accept",
                greeted == 10 and refused == 2, f"greeted={greeted} refused={refused}"))
    return out


def smtp_daemon(s, name="smtp", extra="", command_timeout=COMMAND_TIMEOUT):
    port = free_port()
    sections = smtp_sections(port, extra).replace(f'command_timeout = "{COMMAND_TIMEOUT}s"',
                                                  f'command_timeout = "{command_timeout}s"')
    return s.daemon(name, sections=sections), port


def report_group(s, d, port, group):
    try:
        results = group(s, d, port)
    except Exception as e:
        import traceback
        s.result(group.__name__, "group", False, f"{type(e).__name__}: {e} {traceback.format_exc(limit=3)}")
        return
    for sid, title, ok, figs in results:
        s.result(sid, title, ok, figs)


def alive(s, d, sid):
    s.result(sid, "daemon alive and healthy afterwards", d.alive() and d.healthy(),
             f"peak_rss={d.hwm_kib() / 1024:.1f}MiB fds={d.fds()}")


@hostile_scenario(deadline=120)
def smtp_dialogue(s):
    """Scenario 19: dialogue abuse."""
    d, port = smtp_daemon(s)
    report_group(s, d, port, dialogue)
    alive(s, d, "19")


@hostile_scenario(deadline=180)
def smtp_data_limits(s):
    """Scenario 20: DATA limits, smuggling, the shared message budget."""
    d, port = smtp_daemon(s)
    report_group(s, d, port, data_limits)
    alive(s, d, "20")
    d.stop()
    d2, port2 = smtp_daemon(s, "smtpmem", command_timeout=60)
    report_group(s, d2, port2, concurrent_data)
    alive(s, d2, "20.8")


@hostile_scenario(deadline=60)
def smtp_starttls_injection(s):
    """Scenario 21: commands pipelined behind STARTTLS."""
    d, port = smtp_daemon(s)
    report_group(s, d, port, starttls)
    alive(s, d, "21")


@hostile_scenario(deadline=120)
def smtp_timeouts(s):
    """Scenario 22: timeouts, the minimum rate, session caps."""
    d, port = smtp_daemon(s)
    report_group(s, d, port, timeouts)
    alive(s, d, "22")
    d2, port2 = smtp_daemon(s, "smtpcap", 'session_timeout = "4s"\nmax_connections_per_client = 10\n')
    report_group(s, d2, port2, session_caps)
    alive(s, d2, "22.6")
