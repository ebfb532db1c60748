"""Shared helpers of the reliability suite (tests/reliability/README.md). Scenario files
tests/reliability/test_*.py import this module; tests/reliability/run.py runs them. It
must never send traffic beyond loopback, and every process it starts is stopped by the
scenario's cleanup (or, at the deadline, by the runner killing the scenario's process
group).

Stable API (other scenario files depend on it; add, never change):

  @scenario(deadline=120, soak_deadline=None)   registers `def name(ctx): ...`.
      The runner runs each scenario in its own process group and kills it at the
      deadline (seconds; soak_deadline in --soak mode, default = deadline).
  ctx.fast / ctx.mode        True in --fast mode / "fast" or "soak"
  ctx.seed                   int; the scenario's random seed (printed)
  ctx.tmp                    a fresh temp dir (removed afterwards)
  ctx.figure(name, value)    prints one measured figure: "  figure name = value"
  ctx.log(text)              prints a progress line
  ctx.check(cond, text)      records a failure if not cond, goes on; returns cond
  ctx.require(cond, text)    fails the scenario at once if not cond
  ctx.remaining()            seconds left before the scenario's deadline
  ctx.on_cleanup(fn)         runs fn at the end (LIFO), even on failure
  ctx.mount_tmpfs(path, size)   mounts a tmpfs ("2m") there, unmounted at cleanup;
                             raises Skip when mounting is not permitted
  ctx.daemon(name="d", smtp=False, extra_config="", top_config="", sections="",
             start=True, wrapper=None, smtp_extra="") -> Daemon   started, stopped at cleanup
      (extra_config goes into [https], smtp_extra into the [smtp] table smtp=True makes)
  raise Skip("why")          the scenario cannot run here (printed, not counted)

  Daemon (tests/e2e/support.Daemon plus): .smtp_port (when smtp=True), .pid,
      .start(wrapper=[...]) to run it under e.g. strace, .kill9(), .restart(),
      .wait_healthy(timeout), .healthy()
  report_json(report_id, org=ORG, domain="example.com", ok=5, failed=0) -> bytes
  report_mail(report, report_id, submitter="sender.example") -> bytes  (multipart/report, gzip part)
  https_post(port, body, content_type="application/tlsrpt+json", timeout=30)
      -> Reply(status or None, headers dict (lower-case keys), body bytes, local_port)
  smtp_send(port, message, rcpt="tlsrpt@example.com", timeout=30)
      -> Reply(code or None, {}, reply text bytes, local_port)
  db_rows(db, query) -> list of dicts (sqlite3 CLI as the daemon's user)
  db_check(db) -> DbState(integrity, report_ids (list, 'counted' and 'conflict'),
      counted (Counter report_id -> rows with status counted), duplicates (ids counted > 1))
  TLSRPTD, CORPUS, SOURCE, free_port, curl, sql   re-exported from tests/e2e/support
  service_exec(args) -> args run as the daemon's user when root (setpriv, exec only)
  report_mbox(messages) -> bytes   an RFC 4155 mbox of those mails
"""
import collections
import gzip as _gzip
import base64
import http.client
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import support  # noqa: E402
from support import CORPUS, SOURCE, TLSRPTD, curl, free_port, sql  # noqa: E402,F401

ORG = "Reliability Test Org"
SCENARIOS = []  # (function, deadline, soak_deadline) in definition order


class Skip(Exception):
    """The scenario cannot run on this machine (e.g. mount not permitted)."""


class Failed(Exception):
    """ctx.require failed."""


def scenario(deadline=120, soak_deadline=None):
    def register(fn):
        fn.deadline = deadline
        fn.soak_deadline = soak_deadline or deadline
        SCENARIOS.append(fn)
        return fn
    return register


class Context:
    def __init__(self, mode, seed, deadline_s, out=sys.stdout):
        self.mode = mode
        self.fast = mode == "fast"
        self.seed = seed
        self.tmp = tempfile.mkdtemp(prefix="tlsrpt-rel-")
        os.chmod(self.tmp, 0o755)  # the daemon's user reaches its directory below
        self.failures = []
        self._cleanups = []
        self._out = out
        self._deadline = time.monotonic() + deadline_s

    def figure(self, name, value):
        print(f"  figure {name} = {value}", file=self._out, flush=True)

    def log(self, text):
        print(f"  {text}", file=self._out, flush=True)

    def check(self, cond, text):
        if not cond:
            self.failures.append(text)
            self.log("CHECK FAILED: " + text)
        return bool(cond)

    def require(self, cond, text):
        if not cond:
            raise Failed(text)

    def remaining(self):
        return self._deadline - time.monotonic()

    def on_cleanup(self, fn):
        self._cleanups.append(fn)

    def cleanup(self):
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup goes on; the failure is reported
                self.failures.append(f"cleanup: {e!r}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mount_tmpfs(self, path, size):
        os.makedirs(path, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path],
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise Skip(f"cannot mount a tmpfs here: {p.stderr.decode(errors='replace').strip()}")
        print(f"@@MOUNT {path}", file=self._out, flush=True)  # the runner unmounts it if we are killed

        def unmount():
            if subprocess.run(["umount", path], capture_output=True, timeout=30).returncode != 0:
                subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
            print(f"@@UNMOUNTED {path}", file=self._out, flush=True)
        self.on_cleanup(unmount)

    def daemon(self, name="d", smtp=False, extra_config="", top_config="", sections="", start=True, wrapper=None,
               smtp_extra=""):
        workdir = os.path.join(self.tmp, name)
        os.makedirs(workdir, exist_ok=True)
        d = Daemon(workdir, smtp=smtp, extra_config=extra_config, top_config=top_config, sections=sections,
                   smtp_extra=smtp_extra)
        self.on_cleanup(d.stop)
        if start:
            d.start(wrapper=wrapper)
        return d


class Daemon(support.Daemon):
    """support.Daemon that can run under a wrapper (strace), be killed and restarted.
    With smtp=True it also listens for SMTP on a free loopback port (dkim = "off"
    unless `sections` has its own [smtp] table)."""

    def __init__(self, workdir, smtp=False, extra_config="", top_config="", sections="", smtp_extra=""):
        self.smtp_port = None
        if smtp and "[smtp]" not in sections:
            self.smtp_port = free_port()
            sections = (f'[smtp]\nlisten = ["127.0.0.1:{self.smtp_port}"]\nrecipients = ["tlsrpt@example.com"]\n'
                        f'dkim = "off"\n{smtp_extra}\n') + sections
        super().__init__(workdir, extra_config=extra_config, top_config=top_config, sections=sections)
        self.wrapper = None

    def start(self, wait=True, wrapper=None, timeout=30):
        self.wrapper = wrapper
        self.logf = open(self.log, "ab")
        args = [*(wrapper or []), TLSRPTD, "serve", "--config", self.config]
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, cwd=self.dir)
        if wait:
            self.wait_healthy(timeout)
        return self

    def healthy(self):
        try:
            with socket.create_connection(("127.0.0.1", self.admin_port), timeout=2) as s:
                s.settimeout(5)
                s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                return b" 200 " in s.recv(200)
        except OSError:
            return False

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"tlsrptd exited {self.proc.returncode}: {self.read_log()[-3000:]}")
            if self.healthy():
                return self
            time.sleep(0.05)
        raise Failed("tlsrptd did not become healthy: " + self.read_log()[-3000:])

    @property
    def pid(self):
        """The daemon's own pid (under a wrapper such as strace, its child)."""
        if not self.wrapper:
            return self.proc.pid
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None

    def kill9(self):
        """SIGKILL the daemon (and its wrapper) and reap it."""
        if self.proc and self.proc.poll() is None:
            pid = self.pid
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.wrapper:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            else:
                self.proc.kill()
            self.proc.wait()
        if self.proc and not self.logf.closed:
            self.logf.close()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None and self.wrapper and sig != signal.SIGKILL:
            pid = self.pid
            if pid:
                os.kill(pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        rc = super().stop(sig, timeout) if self.proc else None
        return rc

    def restart(self, wrapper=None, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.stop()
        elif self.proc and not self.logf.closed:
            self.logf.close()
        return self.start(wrapper=wrapper, timeout=timeout)


def report_json(report_id, org=ORG, domain="example.com", ok=5, failed=0):
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "contact-info": "tlsrpt@sender.example", "report-id": report_id,
        "policies": [{"policy": {"policy-type": "sts",
                                 "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx.{domain}",
                                                   "max_age: 86400"],
                                 "policy-domain": domain},
                      "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}],
    }).encode()


def report_mail(report, report_id, submitter="sender.example", domain="example.com"):
    """An RFC 8460 §5.3 report mail: multipart/report with the gzipped report."""
    b64 = base64.encodebytes(_gzip.compress(report, mtime=0)).replace(b"\n", b"\r\n")
    safe_id = "".join(c if c.isalnum() or c in "-._" else "_" for c in report_id)
    head = (f"From: tlsrpt-noreply@{submitter}\r\nTo: tlsrpt@example.com\r\n"
            f"Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{safe_id}>\r\n"
            f"Date: Mon, 02 Nov 2026 01:00:00 +0000\r\nMessage-ID: <{safe_id}@{submitter}>\r\n"
            f"MIME-Version: 1.0\r\nTLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {submitter}\r\n"
            'Content-Type: multipart/report; report-type="tlsrpt"; boundary="rel-boundary"\r\n\r\n')
    body = ("--rel-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"This is an aggregate TLS report from {submitter}.\r\n\r\n"
            "--rel-boundary\r\nContent-Type: application/tlsrpt+gzip\r\n"
            f'Content-Disposition: attachment; filename="{submitter}!{domain}!1793491200!1793577599!{safe_id}.json.gz"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n")
    return head.encode() + body.encode() + b64 + b"\r\n--rel-boundary--\r\n"


Reply = collections.namedtuple("Reply", "status headers body local_port")

_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE


def https_post(port, body, content_type="application/tlsrpt+json", timeout=30, path="/"):
    """One POST on a fresh connection (Connection: close). Errors are a None status."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=_TLS, timeout=timeout)
    local = None
    try:
        conn.connect()
        local = conn.sock.getsockname()[1]
        conn.request("POST", path, body=body, headers={"Content-Type": content_type, "Connection": "close"})
        r = conn.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data, local)
    except (OSError, http.client.HTTPException) as e:  # no reply; the text says what happened
        return Reply(None, {}, f"{type(e).__name__}: {e}".encode(), local)
    finally:
        conn.close()


def smtp_send(port, message, rcpt="tlsrpt@example.com", timeout=30, mail_from="tlsrpt-noreply@sender.example"):
    """One mail on a fresh SMTP session; the code and text of the reply to the data."""
    local = None
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
            local = s.sock.getsockname()[1]
            code, text = s.ehlo("client.sender.example")
            if code != 250:  # e.g. 421 from a server that is shutting down
                return Reply(code, {}, text, local)
            code, text = s.mail(mail_from)
            if code != 250:
                return Reply(code, {}, text, local)
            code, text = s.rcpt(rcpt)
            if code not in (250, 251):
                return Reply(code, {}, text, local)
            code, text = s.data(message)
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass
            return Reply(code, {}, text, local)
    except smtplib.SMTPResponseException as e:
        return Reply(e.smtp_code, {}, e.smtp_error, local)
    except (OSError, smtplib.SMTPException) as e:  # no reply; the text says what happened
        return Reply(None, {}, f"{type(e).__name__}: {e}".encode(), local)


def db_rows(db, query):
    return sql(db, query, service=True)


DbState = collections.namedtuple("DbState", "integrity report_ids counted duplicates")


def db_check(db):
    integrity = ",".join(r["integrity_check"] for r in db_rows(db, "PRAGMA integrity_check"))
    rows = db_rows(db, "SELECT report_id, status FROM report")
    counted = collections.Counter(r["report_id"] for r in rows if r["status"] == "counted")
    return DbState(integrity, [r["report_id"] for r in rows], counted,
                   sorted(k for k, n in counted.items() if n > 1))


def service_exec(args):
    """`args` run as the daemon's user when we are root, by exec (setpriv: no extra
    process in between, so a tracer's per-process syscall counts are the command's
    own and a kill reaches it); unchanged otherwise. For commands such as `report
    import` that write a database a running daemon owns."""
    if os.geteuid() != 0:
        return list(args)
    support.ensure_service_user()
    return ["setpriv", f"--reuid={support.SERVICE_USER}", f"--regid={support.SERVICE_USER}", "--init-groups",
            *args]


def report_mbox(messages, sender="tlsrpt-noreply@sender.example"):
    """An RFC 4155 mbox of `messages` (bytes each): a "From " line before each, an
    empty line after each, body lines starting "From " escaped as ">From "."""
    out = []
    for m in messages:
        lines = m.split(b"\n")
        lines = [b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in lines]
        out.append(f"From {sender} Mon Nov  2 01:00:00 2026\n".encode() + b"\n".join(lines))
        out.append(b"\n" if m.endswith(b"\n") else b"\n\n")
    return b"".join(out)
