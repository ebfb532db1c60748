"""Helpers for the hostile-input, output-side and load scenarios of the reliability
suite (scenarios 10-28 of docs/guarantees.md#reliability-scenarios): a
measured daemon (peak RSS, CPU, open fds from /proc), raw TLS clients bound to
chosen loopback addresses, strace windows, and the Suite through which a scenario
(registered with @hostile_scenario, run by run.py) prints each sub-case's figures.

Owns nothing outside the scenario's temporary directory; every process it starts is
stopped at the scenario's cleanup. Loopback only. Built on tests/e2e/support.py and
common.py.
"""
import atexit
import functools
import gzip
import json
import os
import re
import resource
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from support import (CORPUS, SOURCE, TLSRPTD, Daemon, Dnsmasq, as_service_user, curl, ensure_service_user,  # noqa: E402,F401
                     free_port, run, sql)

sys.path.insert(0, HERE)
from common import Skip, scenario  # noqa: E402
MiB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")

_live = []  # processes to stop at exit, whatever happens


def _stop_all():
    for p in list(_live):
        try:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        except Exception:
            pass
    _live.clear()


atexit.register(_stop_all)


def track(proc):
    _live.append(proc)
    return proc


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    new = min(want, hard) if hard != resource.RLIM_INFINITY else want
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, max(hard, new) if os.geteuid() == 0 else hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ------------------------------------------------------------------ the measured daemon

class MeasuredDaemon(Daemon):
    """Daemon with /proc figures: peak RSS (VmHWM), RSS, CPU seconds, open fds."""

    def start(self, wait=True):
        super().start(wait)
        track(self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def status_kib(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def hwm_kib(self):
        return self.status_kib("VmHWM")

    def rss_now_kib(self):
        return self.status_kib("VmRSS")

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def threads(self):
        return self.status_kib("Threads")

    def count(self, table="reports", where="1=1"):
        return sql(self.db, f"SELECT count(*) AS n FROM {table} WHERE {where}", service=True)[0]["n"]

    def q(self, query):
        return sql(self.db, query, service=True)

    def log_bytes(self):
        with open(self.log, "rb") as f:
            return f.read()

    def healthy(self):
        try:
            return curl(self.admin("/healthz"), timeout=5)[0] == 200
        except Exception:
            return False


class Probe:
    """Peak RSS, CPU and wall time of the daemon around one action."""

    def __init__(self, d):
        self.d = d

    def __enter__(self):
        self.hwm0, self.cpu0, self.t0 = self.d.hwm_kib(), self.d.cpu_s(), time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.cpu = self.d.cpu_s() - self.cpu0
        self.hwm_growth_mib = (self.d.hwm_kib() - self.hwm0) / 1024
        return False

    def figures(self):
        return f"wall={self.wall:.2f}s cpu={self.cpu:.2f}s hwm+={self.hwm_growth_mib:.1f}MiB"


# ------------------------------------------------------------------ results

class Suite:
    """One scenario's view of the run.py framework (common.Context): daemons stopped
    at cleanup (an unclean exit fails the scenario), and `result` printing each
    sub-case's figures and recording its failure. `full` is --soak mode: the
    deadlines are the defaults and timed criteria (latency p99, CPU seconds) are
    asserted; in --fast mode (CI) they are printed only."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.full = not ctx.fast
        self.tmp = ctx.tmp

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def workdir(self, name):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        return d

    def daemon(self, name, **kw):
        d = MeasuredDaemon(self.workdir(name), **kw)

        def stop():
            if d.proc is None:
                return
            rc = d.stop()
            if rc not in (0, None) and not getattr(d, "expect_unclean", False):
                self.ctx.check(False, f"{name} daemon exit status {rc}; log tail: {d.read_log()[-600:]!r}")
        self.ctx.on_cleanup(stop)
        return d.start()

    def require(self, cond, text):
        self.ctx.require(cond, text)

    def timed(self, cond):
        """A criterion on wall-clock or CPU time: asserted in --soak mode only."""
        return cond if self.full else True

    def result(self, sid, title, ok, figures):
        self.ctx.figure(sid, figures)
        self.ctx.log(f"[{'PASS' if ok else 'FAIL'}] {sid} {title}")
        self.ctx.check(ok, f"{sid} {title}")
        return ok

    def scenario(self, sid, title, fn, *args):
        """Runs fn(*args) -> (ok, figures); an exception is a FAIL with its traceback."""
        t0 = time.monotonic()
        try:
            ok, figures = fn(*args)
        except Exception as e:  # a sub-case that blows up fails, the others still run
            tb = traceback.format_exc(limit=4)
            ok, figures = False, f"exception {type(e).__name__}: {e}\n{tb}"
        return self.result(sid, title, ok, f"{figures} (took {time.monotonic() - t0:.1f}s)")


def hostile_scenario(deadline, soak_deadline=None):
    """@scenario for these files: the function receives a Suite."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(ctx):
            if not os.path.exists(TLSRPTD):
                raise Skip(f"tlsrptd binary not found at {TLSRPTD}")
            ctx.on_cleanup(_stop_all)
            fn(Suite(ctx))
        return scenario(deadline, soak_deadline)(run)
    return wrap


# ------------------------------------------------------------------ reports

def report_dict(report_id, ok=5, failed=0, domain="example.com", org="Sender Inc.", day="2026-11-01",
                failures=None, contact="tlsrpt@sender.example"):
    pol = {"policy": {"policy-type": "sts",
                      "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.{domain}", "max_age: 86400"],
                      "policy-domain": domain},
           "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failures:
        pol["failure-details"] = failures
    return {"organization-name": org,
            "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
            "contact-info": contact, "report-id": report_id, "policies": [pol]}


def report(report_id, **kw):
    return json.dumps(report_dict(report_id, **kw)).encode()


def gzip_header(mtime=0):
    return b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + b"\x02\xff"


def zeros_bomb(total, segment=64 * MiB, members=1):
    """A gzip of `total` zero bytes built without compressing them all: one raw
    deflate segment of `segment` zeros ending in a full flush (it refers to nothing
    before it) repeated, then the final block and a correct CRC32/ISIZE trailer."""
    assert total % segment == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    seg = c.compress(b"\0" * segment) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    block = b"\0" * segment
    for _ in range(total // segment):
        crc = zlib.crc32(block, crc)
    member = gzip_header() + seg * (total // segment) + b"\x03\x00" + struct.pack("<II", crc, total & 0xFFFFFFFF)
    return member * members


# ------------------------------------------------------------------ clients

def client_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(port, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def tls_connect(port, src="127.0.0.1", timeout=10):
    raw = connect(port, src, timeout)
    try:
        return client_tls_context().wrap_socket(raw)
    except Exception:
        raw.close()
        raise


def read_all(s, timeout, until=None, limit=1 << 20):
    """Reads until EOF, `until` appears, the limit, or the timeout; returns
    (data, closed_by_peer, seconds)."""
    s.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    while len(data) < limit:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return data, False, time.monotonic() - t0
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except (socket.timeout, TimeoutError):
            return data, False, time.monotonic() - t0
        except (ConnectionResetError, ssl.SSLError, OSError):
            return data, True, time.monotonic() - t0
        if not chunk:
            return data, True, time.monotonic() - t0
        data += chunk
        if until is not None and until in data:
            return data, False, time.monotonic() - t0
    return data, False, time.monotonic() - t0


def http_request(port, head, body=b"", src="127.0.0.1", timeout=15):
    """One raw HTTP/1.1 request over TLS; returns (status or None, body bytes, seconds)."""
    t0 = time.monotonic()
    with tls_connect(port, src, timeout) as s:
        s.sendall(head + body)
        data, _, _ = read_all(s, timeout)
    return parse_status(data), data.partition(b"\r\n\r\n")[2], time.monotonic() - t0


def parse_status(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return int(m.group(1)) if m else None


def post(d, body, ctype="application/tlsrpt+json", headers=(), src=None, timeout=30):
    """curl POST; returns (status, parsed JSON body or raw bytes)."""
    extra = ["--interface", src] if src else []
    status, hdrs, resp = curl(d.url(), body, ctype, headers=headers, extra=extra, timeout=timeout)
    try:
        return status, json.loads(resp)
    except ValueError:
        return status, resp


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


class LegitClient:
    """A legitimate sender POSTing small reports in a loop from its own address
    (fresh TLS connection each time, like a real MTA) while an attack runs; collects
    latencies and statuses. Runs in a thread."""

    def __init__(self, port, src, prefix, interval=0.2, timeout=10):
        import threading
        self.port, self.src, self.prefix, self.interval, self.timeout = port, src, prefix, interval, timeout
        self.latencies, self.statuses, self.errors = [], [], []
        self.acked = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        i = 0
        while not self._stop.is_set():
            rid = f"{self.prefix}-{i}"
            body = report(rid)
            head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            t0 = time.monotonic()
            try:
                status, _, _ = http_request(self.port, head, body, self.src, self.timeout)
            except Exception as e:
                status = None
                self.errors.append(f"{type(e).__name__}: {e}")
            dt = time.monotonic() - t0
            self.latencies.append(dt)
            self.statuses.append(status)
            if status == 200:
                self.acked.append(rid)
            i += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def summary(self):
        ok = sum(1 for s in self.statuses if s == 200)
        return (f"legit n={len(self.statuses)} ok={ok} p50={percentile(self.latencies, 50) * 1000:.0f}ms "
                f"p99={percentile(self.latencies, 99) * 1000:.0f}ms max={max(self.latencies or [0]) * 1000:.0f}ms")

    def p99(self):
        return percentile(self.latencies, 99)

    def all_ok(self):
        return bool(self.statuses) and all(s == 200 for s in self.statuses)


# ------------------------------------------------------------------ strace

class Strace:
    """strace -f attached to a running daemon for a window; lines() parses the output."""

    def __init__(self, pid, trace, out_path, extra=()):
        self.out = out_path
        self.proc = track(subprocess.Popen(["strace", "-f", "-qq", "-s", "256", "-e", f"trace={trace}", *extra,
                                            "-o", out_path, "-p", str(pid)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        # Attached once the tracer shows up in the daemon's status (TracerPid).
        self.attached = False
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(f"/proc/{pid}/status") as f:
                    if re.search(r"^TracerPid:\s+[1-9]", f.read(), re.M):
                        self.attached = True
                        break
            except OSError:
                break
            time.sleep(0.02)
        time.sleep(0.3)  # the other threads are attached right after the first

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # detaches, the daemon runs on
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()

    def lines(self):
        with open(self.out, errors="replace") as f:
            return f.read().splitlines()


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def mib(kib):
    return kib / 1024


# ------------------------------------------------------------------ SMTP

def report_mail(report_id, part=None, ctype="application/tlsrpt+json", extra_headers=b"", boundary=b"b0undary",
                filename=b"report.json"):
    """An RFC 8460 §5.3 report mail (CRLF line ends) carrying one report part."""
    import base64
    payload = part if part is not None else report(report_id)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (b"From: reports@sender.example\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: example.com\r\n"
            b"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: sender.example\r\n"
            b"Message-ID: <" + report_id.encode() + b"@sender.example>\r\nMIME-Version: 1.0\r\n" + extra_headers +
            b"Content-Type: multipart/report; report-type=tlsrpt; boundary=\"" + boundary + b"\"\r\n\r\n"
            b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\nThis is a TLS report.\r\n"
            b"--" + boundary + b"\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"" + filename + b"\"\r\n\r\n" + b64 +
            b"--" + boundary + b"--\r\n")


def dot_stuff(msg):
    lines = msg.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)


class SmtpClient:
    """A raw SMTP client: one reply (all its lines) per call, with timing."""

    def __init__(self, port, src="127.0.0.1", timeout=15, greet=True):
        self.s = connect(port, src, timeout)
        self.buf = b""
        self.closed = False
        self.greeting = self.reply(timeout) if greet else None

    def reply(self, timeout=15):
        """(code or None, full text, seconds); None when the server closed first."""
        t0 = time.monotonic()
        self.s.settimeout(timeout)
        while True:
            m = re.search(rb"(?:^|\r\n)(\d{3}) [^\r\n]*\r\n", self.buf)
            if m:
                end = m.end()
                text, self.buf = self.buf[:end], self.buf[end:]
                return int(m.group(1)), text.decode("latin-1"), time.monotonic() - t0
            try:
                chunk = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                return None, self.buf.decode("latin-1"), time.monotonic() - t0
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None, self.buf.decode("latin-1"), time.monotonic() - t0
            self.buf += chunk

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def cmd(self, line, timeout=15):
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def wait_closed(self, timeout=5):
        data, closed, secs = read_all(self.s, timeout)
        self.buf += data
        return closed, secs

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------------ output side: receivers

def make_cert(directory):
    cert, key = os.path.join(directory, "hook-cert.pem"), os.path.join(directory, "hook-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    os.chmod(cert, 0o644)
    return cert, key


class SmtpCapture:
    """aiosmtpd (python3-aiosmtpd) on loopback, recording every message as received."""

    def __init__(self):
        import logging
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        from aiosmtpd.controller import Controller
        self.messages = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos),
                                       "data": envelope.original_content or envelope.content})
                return "250 2.0.0 queued"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


class HookServer:
    """An HTTPS server on loopback recording POSTs (path, headers, body). /redirect
    answers 302 to `redirect_to`; /stall never answers."""

    def __init__(self, cert, key, redirect_to="http://127.0.0.1:1/"):
        import http.server
        import threading
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.requests.append((self.path, dict(self.headers), body))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Poster:
    """Fast HTTPS POSTs over one keep-alive connection from a chosen source address
    (http.client), for floods of thousands of reports."""

    def __init__(self, port, src="127.0.0.1"):
        import http.client
        self.port, self.src = port, src
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls_context(), timeout=30,
                                                source_address=(src, 0))

    def post(self, body, ctype="application/tlsrpt+json"):
        import http.client
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers={"Content-Type": ctype})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
        return None, b""

    def close(self):
        self.conn.close()
