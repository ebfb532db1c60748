#!/usr/bin/python3
"""Reliability scenarios 10-12 (docs/guarantees.md#reliability-scenarios): gzip bombs,
oversized and odd HTTP framing, and the hostile JSON corpus, POSTed over HTTPS to the
real `tlsrptd serve` on loopback. Each prints its figures (status, daemon CPU, peak-RSS
growth from /proc/PID/status VmHWM, wall time, reports stored) and PASS/FAIL.

Run: tests/reliability/run.py --fast -k test_hostile_http   (TLSRPTD=build/daemon/tlsrptd)
"""
import gzip
import json
import os
import random
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (MiB, Probe, gzip_header, hostile_scenario, parse_status, post,  # noqa: E402
                             read_all, report, report_dict, tls_connect, zeros_bomb)

CAP = 16 * MiB  # limits.max_report_bytes (default)
SUBMISSION = 2 * MiB  # limits.max_submission_bytes (default)
HEADER_TIMEOUT, REQUEST_TIMEOUT = 3, 6  # --fast; the defaults (10 s, 30 s) in --soak
S = None  # the running scenario's Suite


def setup(s):
    """Per scenario (each runs in its own process): the mode's deadlines."""
    global S, HEADER_TIMEOUT, REQUEST_TIMEOUT
    S = s
    if s.full:
        HEADER_TIMEOUT, REQUEST_TIMEOUT = 10, 30


def timed(cond):
    return S.timed(cond)


def rejected_log_lines(d):
    return d.log_bytes().count(b": rejected (")


def bomb_case(d, body, ctype="application/tlsrpt+gzip", headers=(), want=(413, 400), cpu_max=1.0,
              hwm_max_mib=CAP / MiB + 4):  # the decompression cap, the body and a little slack
    before = d.count()
    with Probe(d) as p:
        status, resp = post(d, body, ctype, headers=headers)
    stored = d.count() - before
    reason = resp.get("error", "") if isinstance(resp, dict) else repr(resp[:80])
    ok = (status in want and stored == 0 and timed(p.cpu < cpu_max) and p.hwm_growth_mib < hwm_max_mib and d.alive())
    return ok, (f"status={status} reason=\"{reason}\" {p.figures()} stored={stored} "
                f"body={len(body)}B")


def scenario_10(s, d):
    one_gib = zeros_bomb(1 << 30)
    s.scenario("10.1", "1 GiB of zeros gzipped (%.2f MiB) -> 413 at the ratio/size cap" % (len(one_gib) / MiB),
               bomb_case, d, one_gib)
    s.scenario("10.2", "same bomb as Content-Encoding: gzip over tlsrpt+json -> 413", bomb_case, d, one_gib,
               "application/tlsrpt+json", ("Content-Encoding: gzip",))

    # A 10 MiB-compressed bomb (10 GiB of zeros): refused by Content-Length with the
    # default 2 MiB submission limit, before a byte of it is read ...
    ten = zeros_bomb(10 << 30, segment=64 * MiB)
    s.scenario("10.3", "10 MiB-compressed bomb (%.1f MiB, 10 GiB inflated) -> 413 before the body"
               % (len(ten) / MiB), bomb_case, d, ten)
    # ... and, with the submission limit raised to 12 MiB, inflated only up to the cap.
    big = s.daemon("bigsub", top_config="", extra_config=https_timeouts(),
                   sections='[limits]\nmax_submission_bytes = "12MiB"\n')
    s.scenario("10.4", "10 MiB-compressed bomb with max_submission_bytes=12MiB -> 413 at the inflate cap",
               bomb_case, big, ten, "application/tlsrpt+gzip", (), (413,), 1.0, 2 * CAP / MiB + 12)
    big.stop()

    # Compressible but not a zeros bomb: ~20x, so the ratio cap does not fire and
    # the 16 MiB decompressed cap must.
    rng = random.Random(10)
    words = [("%02d" % i).encode() * 5 for i in range(8)]
    filler = b" ".join(rng.choice(words) for _ in range((CAP + MiB) // 11))
    doc = b'{"organization-name":"o","report-id":"r","padding":"' + filler + b'"}'
    gz = gzip.compress(doc, 9)
    s.scenario("10.5", "17 MiB JSON at ratio %.0f (%.2f MiB gz) -> 413 at the 16 MiB cap"
               % (len(doc) / len(gz), len(gz) / MiB), bomb_case, d, gz)

    # gzip-in-gzip: refused however it arrives.
    inner = gzip.compress(report("nested-1"))
    s.scenario("10.6", "gzip-in-gzip as tlsrpt+gzip -> 400", bomb_case, d, gzip.compress(inner),
               "application/tlsrpt+gzip", (), (400,))
    s.scenario("10.7", "gzip-in-gzip under Content-Encoding: gzip (3 layers) -> 400", bomb_case, d,
               gzip.compress(gzip.compress(inner)), "application/tlsrpt+gzip", ("Content-Encoding: gzip",), (400,))
    s.scenario("10.8", "gzip(1 GiB bomb) -> 400/413 without inflating the inner bomb", bomb_case, d,
               gzip.compress(one_gib), "application/tlsrpt+gzip", (), (400, 413))

    # Multi-member: documented as one payload (RFC 1952 §2.2), stored with a note.
    def multi_member():
        body = report("multi-member-1")
        gz2 = gzip.compress(body[:40]) + gzip.compress(body[40:])
        before = d.count()
        status, resp = post(d, gz2, "application/tlsrpt+gzip")
        notes = d.q("SELECT notes FROM reports WHERE report_id = 'multi-member-1'")
        noted = bool(notes) and "gzip-multi-member" in notes[0]["notes"]
        return (status == 200 and d.count() - before == 1 and noted,
                f"status={status} stored={d.count() - before} note={'gzip-multi-member' if noted else notes}")
    s.scenario("10.9", "multi-member gzip -> joined, stored once with a gzip-multi-member note", multi_member)
    s.scenario("10.10", "multi-member bomb (2 members of 512 MiB zeros) -> 413", bomb_case, d,
               zeros_bomb(512 << 20, members=2))

    good = gzip.compress(report("gz-good"))
    s.scenario("10.11", "trailing garbage after the gzip member -> 400", bomb_case, d, good + b"garbage!",
               "application/tlsrpt+gzip", (), (400,))
    s.scenario("10.12", "trailing NUL padding after the gzip member -> 400", bomb_case, d, good + b"\0" * 512,
               "application/tlsrpt+gzip", (), (400,))
    s.scenario("10.13", "truncated gzip (last 12 bytes cut) -> 400", bomb_case, d, good[:-12],
               "application/tlsrpt+gzip", (), (400,))
    s.scenario("10.14", "truncated bomb (1 GiB bomb cut in half) -> 400/413", bomb_case, d,
               one_gib[: len(one_gib) // 2], "application/tlsrpt+gzip", (), (400, 413))
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    s.scenario("10.15", "bad CRC32 -> 400", bomb_case, d, bad_crc, "application/tlsrpt+gzip", (), (400,))
    bad_isize = good[:-4] + bytes([good[-4] ^ 0x01]) + good[-3:]
    s.scenario("10.16", "bad ISIZE -> 400", bomb_case, d, bad_isize, "application/tlsrpt+gzip", (), (400,))
    lying = zeros_bomb(1 << 30)
    lying = lying[:-4] + (16).to_bytes(4, "little")  # ISIZE claims 16 bytes
    s.scenario("10.17", "bomb whose ISIZE lies (claims 16 bytes) -> 413", bomb_case, d, lying)
    s.scenario("10.18", "gzip magic then random bytes -> 400", bomb_case, d,
               gzip_header() + random.Random(18).randbytes(4096), "application/tlsrpt+gzip", (), (400,))


def raw_exchange(d, data, timeout=None, send_more=None):
    """Sends `data` over TLS, then optionally streams send_more() chunks until the
    server answers or closes; returns (reply bytes, closed, seconds, bytes sent)."""
    timeout = timeout or REQUEST_TIMEOUT + 5
    sent = 0
    t0 = time.monotonic()
    with tls_connect(d.port, timeout=timeout) as s:
        try:
            s.sendall(data)
            sent += len(data)
        except (ssl.SSLError, OSError):  # answered and closed before all of it was read
            reply, _, _ = read_all(s, 2)
            return reply, True, time.monotonic() - t0, sent
        for chunk in (send_more() if send_more else ()):
            readable, _, _ = select.select([s], [], [], 0)
            if readable or s.pending():
                reply, closed, _ = read_all(s, 2)
                return reply, closed, time.monotonic() - t0, sent
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except (ssl.SSLError, OSError):
                reply, _, _ = read_all(s, 2)
                return reply, True, time.monotonic() - t0, sent
            if time.monotonic() - t0 > timeout:
                break
        reply, closed, _ = read_all(s, timeout)
    return reply, closed, time.monotonic() - t0, sent


def head(extra, method=b"POST", ctype=b"application/tlsrpt+json"):
    return method + b" / HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype + b"\r\n" + extra + b"\r\n"


def framing_case(d, data, want_status, send_more=None, deadline=None, hwm_max_mib=32, forbid=None):
    deadline = deadline or REQUEST_TIMEOUT + 1
    before = d.count()
    with Probe(d) as p:
        reply, closed, secs, sent = raw_exchange(d, data, send_more=send_more)
    status = parse_status(reply)
    stored = d.count() - before
    # Answered before the request deadline could have ended it (the body was
    # never sent); the tighter per-case bound is asserted in --soak only.
    ok = (status == want_status and stored == 0 and p.hwm_growth_mib < hwm_max_mib and timed(secs <= deadline)
          and secs < REQUEST_TIMEOUT + 5 and d.alive() and (closed or status is not None))
    if forbid and forbid in reply:
        ok = False
    return ok, (f"status={status} closed={closed} answered_after={secs:.2f}s sent={sent / MiB:.1f}MiB "
                f"{p.figures()} stored={stored}")


def scenario_11(s, d):
    s.scenario("11.1", "Content-Length: 2147483648 -> 413 before the body", framing_case, d,
               head(b"Content-Length: 2147483648\r\n"), 413, None, 2)

    def chunks(total, size=64 * 1024):
        n = 0
        while n < total:
            yield b"%x\r\n" % size + b"a" * size + b"\r\n"
            n += size
    s.scenario("11.2", "chunked body growing past the 2 MiB limit -> 413 once over it", framing_case, d,
               head(b"Transfer-Encoding: chunked\r\n"), 413, lambda: chunks(64 * MiB), REQUEST_TIMEOUT + 1)

    def extensions(total):
        yield b"10"
        n = 0
        while n < total:
            blob = b";ext=" + b"x" * 65530
            yield blob
            n += len(blob)
    # No status is owed for a chunk header that never ends: the connection must be
    # cut long before 32 MiB arrive, with memory bounded.
    def chunk_ext():
        before = d.count()
        with Probe(d) as p:
            reply, closed, secs, sent = raw_exchange(d, head(b"Transfer-Encoding: chunked\r\n"),
                                                     send_more=lambda: extensions(32 * MiB))
        ok = closed and sent < 32 * MiB and p.hwm_growth_mib < 32 and d.count() == before and d.alive()
        return ok, (f"status={parse_status(reply)} closed={closed} after={secs:.2f}s accepted={sent / MiB:.2f}MiB "
                    f"of 32 MiB of chunk extensions {p.figures()}")
    s.scenario("11.3", "one chunk with 32 MiB of chunk extensions -> cut off, RSS bounded", chunk_ext)

    s.scenario("11.4", "a 64 KiB header -> 431", framing_case, d,
               head(b"X-Big: " + b"a" * (64 * 1024) + b"\r\nContent-Length: 2\r\n") + b"{}", 431, None, 3)
    s.scenario("11.5", "Expect: 100-continue with a 50 MB length -> 413 and no 100", framing_case, d,
               head(b"Expect: 100-continue\r\nContent-Length: 50000000\r\n"), 413, None, 2, 32, b" 100 ")
    s.scenario("11.6", "10k tiny headers -> 431", framing_case, d,
               head(b"".join(b"X-%d: y\r\n" % i for i in range(10000)) + b"Content-Length: 2\r\n") + b"{}",
               431, None, 3)
    body = report("smuggle-1")
    s.scenario("11.7", "Content-Length and Transfer-Encoding together -> 400", framing_case, d,
               head(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body)) + body, 400, None, 3)
    s.scenario("11.8", "two different Content-Lengths -> 400", framing_case, d,
               head(b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(body)) + body, 400, None, 3)
    s.scenario("11.9", "Content-Length: -1 -> 400", framing_case, d, head(b"Content-Length: -1\r\n") + body,
               400, None, 3)
    s.scenario("11.10", "Transfer-Encoding: gzip, chunked -> 400/501, nothing stored", lambda: framing_any(
        d, head(b"Transfer-Encoding: gzip, chunked\r\n") + b"5\r\nhello\r\n0\r\n\r\n", (400, 501)))
    # A request smuggled behind a refused one is never read as a request.
    smuggled = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\n\r\n"
                % len(body)) + body
    s.scenario("11.11", "a report pipelined behind a 413 (huge Content-Length) is not stored", framing_case, d,
               head(b"Content-Length: 2147483648\r\n") + smuggled, 413, None, 2)
    s.scenario("11.12", "a report pipelined behind a 415 body is not stored", framing_case, d,
               head(b"Content-Length: %d\r\n" % len(smuggled), ctype=b"text/html") + smuggled + smuggled, 415,
               None, 3)


def framing_any(d, data, wants):
    before = d.count()
    with Probe(d) as p:
        reply, closed, secs, sent = raw_exchange(d, data)
    status = parse_status(reply)
    ok = status in wants and d.count() == before and d.alive()
    return ok, f"status={status} closed={closed} after={secs:.2f}s {p.figures()}"


def hostile_json_corpus():
    """(name, body bytes, content type): each must be refused with a reason."""
    base = report_dict("hj")

    def with_(**changes):
        r = json.loads(json.dumps(base))
        for k, v in changes.items():
            r[k] = v
        return json.dumps(r).encode()

    def summary(ok_value_raw):
        return (b'{"organization-name":"o","date-range":{"start-datetime":"2026-11-01T00:00:00Z",'
                b'"end-datetime":"2026-11-01T23:59:59Z"},"report-id":"hj","policies":[{"policy":{"policy-type":"sts",'
                b'"policy-domain":"example.com"},"summary":{"total-successful-session-count":' + ok_value_raw +
                b',"total-failure-session-count":0}}]}')

    rng = random.Random(12)
    details = [{"result-type": "starttls-not-supported",
                "sending-mta-ip": "192.0.%d.%d" % (rng.randrange(256), rng.randrange(256)),
                "receiving-mx-hostname": "mx%d.example.com" % rng.randrange(10 ** 6), "failed-session-count": 1}
               for _ in range(100_000)]
    many = report_dict("hj-100k", failed=100_000)
    many["policies"][0]["failure-details"] = details
    many_gz = gzip.compress(json.dumps(many).encode(), 9)
    good = report("hj-good")
    return [
        ("depth 2000", with_(extra=None)[:-1] + b',"deep":' + b"[" * 2000 + b"]" * 2000 + b"}", None),
        ("depth 2000 at the top", b"[" * 2000 + b"]" * 2000, None),
        ("integer above 2^63", summary(b"99999999999999999999"), None),
        ("integer above 2^64", summary(b"184467440737095516160"), None),
        ("count above 2^53-1", summary(b"9007199254740993"), None),
        ("negative count", summary(b"-1"), None),
        ("1e999", summary(b"1e999"), None),
        ("float count", summary(b"1.5"), None),
        ("count as a string", summary(b'"5"'), None),
        ("leading zeros", summary(b"007"), None),
        ("NaN", summary(b"NaN"), None),
        ("invalid UTF-8 in a name", good.replace(b"Sender Inc.", b"Sender \xff\xfe Inc."), None),
        ("overlong UTF-8", good.replace(b"Sender Inc.", b"Sender \xc0\xaf Inc."), None),
        ("raw control character", good.replace(b"Sender Inc.", b"Sender\x01Inc."), None),
        ("raw newline in a string", good.replace(b"Sender Inc.", b"Sender\nInc."), None),
        ("lone surrogate escape", good.replace(b"Sender Inc.", b"Sender \\ud800 Inc."), None),
        ("duplicate key", good.replace(b'"report-id": "hj-good"', b'"report-id": "hj-good", "report-id": "x"'), None),
        ("duplicate summary count", summary(b'1,"total-successful-session-count":2'), None),
        ("\\u0000 in report-id", good.replace(b'"hj-good"', b'"hj\\u0000good"'), None),
        ("\\u0000 in organization-name", good.replace(b"Sender Inc.", b"Sender\\u0000Inc."), None),
        ("100k failure-details (gzip %.1f MiB)" % (len(many_gz) / MiB), many_gz, "application/tlsrpt+gzip"),
        ("1 MiB organization-name", good.replace(b"Sender Inc.", b"S" * MiB), None),
        ("1 MiB report-id", good.replace(b'"hj-good"', b'"' + b"r" * MiB + b'"'), None),
        ("trailing bytes", good + b"garbage", None),
        ("a second object", good + good, None),
        ("empty body", b"", None),
        ("only whitespace", b" \r\n\t ", None),
        ("BOM then nothing", b"\xef\xbb\xbf", None),
        ("top level is an array", b"[" + good + b"]", None),
        ("top level is a string", b'"report"', None),
        ("top level is a number", b"42", None),
        ("top level is null", b"null", None),
        ("policies is an object", with_(policies={"policy": {}}), None),
        ("inverted date range", with_(**{"date-range": {"start-datetime": "2026-11-02T00:00:00Z",
                                                         "end-datetime": "2026-11-01T00:00:00Z"}}), None),
        ("impossible date", with_(**{"date-range": {"start-datetime": "2026-02-30T00:00:00Z",
                                                     "end-datetime": "2026-03-01T00:00:00Z"}}), None),
        ("missing report-id", json.dumps({k: v for k, v in base.items() if k != "report-id"}).encode(), None),
        ("empty report-id", with_(**{"report-id": "  "}), None),
        ("UTF-16 encoded", good.decode().encode("utf-16"), None),
    ]


def scenario_12(s, d):
    for i, (name, body, ctype) in enumerate(hostile_json_corpus(), 1):
        def case(body=body, ctype=ctype):
            before, logged0 = d.count(), rejected_log_lines(d)
            with Probe(d) as p:
                status, resp = post(d, body, ctype or "application/tlsrpt+json")
            stored = d.count() - before
            logged = rejected_log_lines(d) - logged0
            reason = resp.get("error") if isinstance(resp, dict) else None
            where = resp.get("where", "") if isinstance(resp, dict) else ""
            ok = (status is not None and 400 <= status < 500 and stored == 0 and bool(reason) and logged == 1
                  and d.alive())
            return ok, (f"status={status} reason=\"{reason}\" where=\"{where}\" logged={logged} stored={stored} "
                        f"{p.figures()}")
        s.scenario(f"12.{i}", f"hostile JSON: {name} -> 4xx with a reason, 0 stored", case)

    n = len(hostile_json_corpus())

    def accepted(name, body, want_note=None):
        before = d.count()
        status, resp = post(d, body, "application/tlsrpt+json")
        notes = d.q("SELECT notes FROM reports ORDER BY id DESC LIMIT 1")[0]["notes"] if d.count() > before else ""
        ok = status == 200 and d.count() - before == 1 and (want_note is None or want_note in notes)
        return ok, f"status={status} stored={d.count() - before}" + (f" note={want_note in notes}" if want_note else "")

    s.scenario(f"12.{n + 1}", "hostile JSON: UTF-8 BOM before a valid report -> accepted (200, stored)",
               accepted, "bom", b"\xef\xbb\xbf" + report("hj-bom"))

    def long_text():
        fd = [{"result-type": "validation-failure", "failed-session-count": 1,
               "additional-information": "https://x.example/" + "a" * MiB}]
        body = report("hj-longtext", failed=1, failures=fd)
        status, resp = post(d, body, "application/tlsrpt+json")
        rows = d.q("SELECT length(additional_information) AS n FROM failure f JOIN report r ON r.id = f.report "
                   "WHERE r.report_id = 'hj-longtext'")
        n_stored = rows[0]["n"] if rows else None
        ok = status == 200 and n_stored is not None and n_stored <= 8192
        return ok, f"status={status} stored_length={n_stored} (free text cut to max_text_bytes, documented)"
    s.scenario(f"12.{n + 2}", "1 MiB free-text additional-information -> stored cut to 8 KiB with a note",
               long_text)

    def future():
        before = d.count()
        status, resp = post(d, report("hj-future", day="2036-11-01"), "application/tlsrpt+json")
        stored = d.count() - before
        ok = status is not None and 400 <= status < 500 and stored == 0
        return ok, f"status={status} stored={stored} reason=\"{resp.get('error') if isinstance(resp, dict) else ''}\""
    s.scenario(f"12.{n + 3}", "date-range 10 years ahead -> refused, 0 stored", future)


def https_timeouts():
    return (f'handshake_timeout = "{HEADER_TIMEOUT}s"\nheader_timeout = "{HEADER_TIMEOUT}s"\n'
            f'request_timeout = "{REQUEST_TIMEOUT}s"\nidle_timeout = "{HEADER_TIMEOUT}s"\n')


@hostile_scenario(deadline=240, soak_deadline=400)
def gzip_bombs(s):
    """Scenario 10: gzip bombs, nested, multi-member, truncated and corrupt gzip."""
    setup(s)
    d = s.daemon("http", extra_config=https_timeouts())
    scenario_10(s, d)
    alive(s, d, "10")


@hostile_scenario(deadline=150, soak_deadline=300)
def odd_framing(s):
    """Scenario 11: oversized and odd HTTP framing."""
    setup(s)
    d = s.daemon("http", extra_config=https_timeouts())
    scenario_11(s, d)
    alive(s, d, "11")


@hostile_scenario(deadline=180, soak_deadline=300)
def hostile_json(s):
    """Scenario 12: the hostile JSON corpus."""
    setup(s)
    d = s.daemon("http", extra_config=https_timeouts())
    scenario_12(s, d)
    alive(s, d, "12")


def alive(s, d, sid):
    s.result(sid, "daemon alive and healthy afterwards", d.alive() and d.healthy(),
             f"alive={d.alive()} peak_rss={d.hwm_kib() / 1024:.1f}MiB fds={d.fds()}")
