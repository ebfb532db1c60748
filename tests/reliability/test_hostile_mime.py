#!/usr/bin/python3
"""Reliability scenario 24 (docs/guarantees.md#reliability-scenarios): hostile MIME over
SMTP into `tlsrptd serve`: 1000 parts, nesting depth 100 (and far deeper), a
path-traversal filename, a gzip part that is not gzip, both a gzip and a JSON part, a
2 MiB header block, broken base64. Each message's reply, reply time (an upper bound of
the parse time), peak-RSS growth and stored count are printed. The whole run is traced with
`strace -f -e trace=openat,...` on the daemon: no file may be created, written, renamed
or removed outside the daemon's own database files.
"""
import base64
import gzip
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (MiB, Probe, SmtpClient, Strace, dot_stuff, free_port, hostile_scenario,  # noqa: E402
                             report, report_mail)

HEAD = (b"From: reports@sender.example\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: example.com\r\n"
        b"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: sender.example\r\nMIME-Version: 1.0\r\n")


def json_part(rid, boundary=b"b", ctype=b"application/tlsrpt+json", filename=b"r.json", payload=None):
    data = payload if payload is not None else report(rid)
    return (b"--" + boundary + b"\r\nContent-Type: " + ctype + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"" + filename + b"\"\r\n\r\n" +
            base64.encodebytes(data).replace(b"\n", b"\r\n"))


def many_parts(n):
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(n - 1))
    return HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + json_part("mime-many") + b"--b--\r\n"


def nested(depth, rid="mime-deep"):
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for i in range(1, depth):
        out.append(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i - 1, i))
    out.append(json_part(rid, b"b%d" % (depth - 1)))
    out += [b"--b%d--\r\n" % i for i in reversed(range(depth))]
    return b"".join(out)


def nested_unclosed(depth):
    """Deep nesting with every boundary left open (quirk(mailru)-style, but deep)."""
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for i in range(1, depth):
        out.append(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i - 1, i))
    out.append(b"--b%d\r\nContent-Type: text/plain\r\n\r\nx\r\n" % (depth - 1))
    return b"".join(out)


def flat_parts(n):
    return b"".join([HEAD, b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'] +
                    [b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"] * n + [b"--b--\r\n"])


def part_header_flood(lines=600000):
    hdrs = b"".join(b"X-%d: y\r\n" % i for i in range(lines))
    return (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' + hdrs +
            b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n")


def param_flood():
    params = b"".join(b';\r\n p%d="v"' % i for i in range(400000))
    return (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain' + params +
            b"\r\n\r\nx\r\n--b--\r\n")


def embedded_header_flood():
    hdrs = b"".join(b"X-%d: y\r\n" % i for i in range(600000))
    return (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n' +
            hdrs + b"Subject: inner\r\n\r\nbody\r\n--b--\r\n")


def two_parts():
    return (HEAD + b'Content-Type: multipart/report; report-type=tlsrpt; boundary="b"\r\n\r\n' +
            json_part("mime-two-json") +
            json_part("x", ctype=b"application/tlsrpt+gzip", filename=b"r.json.gz",
                      payload=gzip.compress(report("mime-two-gzip"))) + b"--b--\r\n")


def big_header():
    lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"h" * 900) for i in range(2 * MiB // 920))
    return lines + report_mail("mime-bighead")


def broken_base64():
    m = report_mail("mime-b64")
    i = m.index(b"base64\r\nContent-Disposition")
    j = m.index(b"\r\n\r\n", i) + 4
    return m[:j] + b"!!!!*&^%$#@" + m[j + 11: j + 40] + b"====" + m[j + 40:]


def not_gzip():
    return report_mail("mime-notgz", part=b"\x1f\x8bthis is not gzip at all" + os.urandom(64),
                       ctype="application/tlsrpt+gzip", filename=b"r.json.gz")


CASES = [
    # (sid, title, message, wanted reply codes, stored count wanted)
    ("24.1", "1000 MIME parts -> refused (max 100 parts)", lambda: many_parts(1000), (554, 552), 0),
    ("24.2", "nesting depth 100 -> refused (max depth 10)", lambda: nested(100), (554, 552), 0),
    ("24.3", "nesting depth 10000 -> refused quickly", lambda: nested(10000), (554, 552), 0),
    ("24.4", "nesting depth 100000 (~6 MiB) -> refused quickly, no stack overflow", lambda: nested(100000),
     (554, 552), 0),
    ("24.5", "nesting depth 100000 never closed -> refused quickly", lambda: nested_unclosed(100000), (554, 552), 0),
    ("24.5b", "200000 empty parts (7 MiB) -> refused before the MIME tree is built", lambda: flat_parts(200000),
     (554, 552), 0),
    ("24.5c", "7.5 MiB of headers in one part -> refused before the MIME tree is built", part_header_flood,
     (554, 552), 0),
    ("24.5d", "400000 Content-Type parameters -> refused before the MIME tree is built", param_flood, (554, 552), 0),
    ("24.5e", "a message/rfc822 part whose own header is 7.5 MiB -> refused before the MIME tree is built",
     embedded_header_flood, (554, 552), 0),
    ("24.6", "filename ../../x -> stored as a label only", lambda: report_mail("mime-traversal", filename=b"../../x"),
     (250,), 1),
    ("24.7", "encoded-word filename decoding to ../../../tmp/x -> stored as a label only",
     lambda: report_mail("mime-traversal2", filename=b"=?UTF-8?B?Li4vLi4vLi4vdG1wL3g=?="), (250,), 1),
    ("24.8", "a tlsrpt+gzip part that is not gzip -> refused", not_gzip, (554,), 0),
    ("24.9", "both a JSON and a gzip report part -> exactly one report stored", two_parts, (250,), 1),
    ("24.10", "a 2 MiB header block -> refused (header cap 256 KiB)", big_header, (552, 554), 0),
    ("24.11", "broken base64 in the report part -> refused", broken_base64, (554,), 0),
]


def send(port, msg):
    with SmtpClient(port) as c:
        c.cmd(b"EHLO client.example")
        c.cmd(b"MAIL FROM:<reports@sender.example>")
        c.cmd(b"RCPT TO:<tlsrpt@example.com>")
        r = c.cmd(b"DATA")
        if r[0] != 354:
            return r
        c.send(dot_stuff(msg) + b"\r\n.\r\n")
        return c.reply(60)


@hostile_scenario(deadline=240)
def hostile_mime(s):
    """Scenario 24: hostile MIME over SMTP, the daemon's file calls traced."""
    port = free_port()
    d = s.daemon("mime", sections=(f'[smtp]\nlisten = ["127.0.0.1:{port}"]\nrecipients = ["tlsrpt@example.com"]\n'
                                   'dkim = "off"\ncommand_timeout = "30s"\n'))
    own = os.path.dirname(d.db)
    trace = Strace(d.pid, "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,"
                   "symlinkat,unlink,unlinkat,truncate", s.path("mime.strace"))
    for sid, title, make, want_codes, want_stored in CASES:
        def case(make=make, want_codes=want_codes, want_stored=want_stored):
            msg = make()
            before = d.count()
            with Probe(d) as p:
                code, text, secs = send(port, msg)
            n = d.count() - before
            ok = (code in want_codes and n == want_stored and s.timed(p.cpu < 1.0) and p.hwm_growth_mib < 64
                  and d.alive())
            return ok, (f"size={len(msg) / 1024:.0f}KiB reply={code} {text.strip()[:90]!r} reply_after={secs:.2f}s "
                        f"{p.figures()} stored={n}")
        s.scenario(sid, title, case)
    trace.stop()

    lines = trace.lines()
    writes, outside, reads = [], [], set()
    for line in lines:
        m = re.search(r'(openat|open|creat)\((?:AT_FDCWD, )?"([^"]*)", ([A-Z_|]+)', line)
        if m:
            path, flags = m.group(2), m.group(3)
            if any(f in flags for f in ("O_CREAT", "O_WRONLY", "O_RDWR", "O_TRUNC")) or m.group(1) == "creat":
                writes.append(path)
                if not os.path.abspath(os.path.join(d.dir, path)).startswith(own + "/"):
                    outside.append(line)
            else:
                reads.add(path)
            continue
        m = re.search(r'(mkdir|mkdirat|rename|renameat2?|link|linkat|symlink|symlinkat|unlink|unlinkat|truncate)\(',
                      line)
        if m and "resumed" not in line:
            paths = re.findall(r'"([^"]*)"', line)
            if any(not os.path.abspath(os.path.join(d.dir, p)).startswith(own + "/") for p in paths):
                outside.append(line)
    traversal = [p for p in ("x", "../x", "../../x", "/x", "/tmp/x") if os.path.exists(os.path.join(d.dir, p))]
    s.result("24.12", "strace: no file created/written/renamed/removed outside the daemon's database files",
             not outside and not traversal and trace.attached,
             f"strace attached={trace.attached}, traced {len(lines)} calls; write-opens={sorted(set(writes))[:6]} outside={outside[:3]} "
             f"read-opens={sorted(reads)[:6]} traversal_files={traversal}")
    names = d.q("SELECT report_id, mail_filename FROM reports WHERE report_id LIKE 'mime-%' ORDER BY report_id")
    s.result("24.13", "the traversal filenames are kept as labels (byte-exact) in mail_filename",
             {"report_id": "mime-traversal", "mail_filename": "../../x"} in names and
             {"report_id": "mime-traversal2", "mail_filename": "../../../tmp/x"} in names, f"rows={names}")
    s.result("24", "daemon alive after the hostile MIME set", d.alive() and d.healthy(),
             f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")

