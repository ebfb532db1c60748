"""Shared helpers for the end-to-end tests: the built binary, the corpora, temporary
directories, running commands with deadlines, and SQL through the real sqlite3 CLI.

Two corpora: QUIRKS (tests/corpus, this repository's own small reports and mails, one
quirk each) is what the regular tests use; CORPUS is the external interop corpus
(TLSRPT_CORPUS_DIR, empty by default: public reports and report mails), which is not
part of this repository. Test classes over CORPUS set `interop = True`: they run only
with --interop (ctest's e2e.<name>.interop), which exits with SKIP_CODE, saying so,
when TLSRPT_CORPUS_DIR is not set or that folder is absent."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

TLSRPTD = os.environ.get("TLSRPTD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "daemon", "tlsrptd")
CORPUS = os.environ.get("TLSRPT_CORPUS_DIR") or ""  # empty: not present
SOURCE = os.environ.get("TLSRPT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
QUIRKS = os.path.join(SOURCE, "tests", "corpus")
SKIP_CODE = 77  # ctest's SKIP_RETURN_CODE for the e2e.*.interop tests (tests/CMakeLists.txt)


def run(args, timeout=120, check=False, input=None, env=None, cwd=None):
    """Runs a command with a deadline; returns CompletedProcess with text output."""
    p = subprocess.run(args, capture_output=True, timeout=timeout, input=input, env=env, cwd=cwd)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def tlsrptd(*args, **kw):
    return run([TLSRPTD, *args], **kw)


SERVICE_USER = "tlsrptd"


def as_service_user(args):
    """Runs `args` as the daemon's user when we are root, so files SQLite creates
    beside the database (-wal, -shm) stay writable by the daemon."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVICE_USER, "--", *args]
    return list(args)


def ensure_service_user():
    if os.geteuid() != 0:
        return
    if run(["id", "-u", SERVICE_USER]).returncode != 0:
        run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER], check=True)


def sql(db, query, service=False):
    """Rows of `query` through the sqlite3 command-line client, as dicts. With
    `service`, as the daemon's user (for databases a running daemon owns)."""
    args = ["sqlite3", "-json", "-bail", db, query]
    p = run(as_service_user(args) if service else args, check=True)
    return json.loads(p.stdout) if p.stdout.strip() else []


def _ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_LOCKS = {}  # port -> open lock file, held until this process exits
_PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "tlsrptd-test-ports")


def _bindable(port, udp):
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port(udp=False):
    """A loopback port for a server the test starts (TCP, and UDP too with `udp`).

    Ports come from below the kernel's ephemeral range, so no outgoing connection and
    no bind(0) of another process takes one between this call and the server's bind;
    each port handed out is locked (flock on a file in a shared directory, released
    when this process exits), so two tests running at once never get the same one."""
    import fcntl
    import random
    os.makedirs(_PORT_LOCK_DIR, mode=0o1777, exist_ok=True)
    top = min(_ephemeral_start(), 32768)
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(2000):
        port = rng.randrange(max(1024, top - 12000), top)
        if port in _PORT_LOCKS:
            continue
        path = os.path.join(_PORT_LOCK_DIR, str(port))
        try:
            f = open(path, "a")
        except OSError:
            continue
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        if _bindable(port, udp):
            _PORT_LOCKS[port] = f
            return port
        f.close()
    raise RuntimeError("no free port")


class Daemon:
    """`tlsrptd serve` on loopback ports, in its own directory, with a config file."""

    def __init__(self, workdir, extra_config="", top_config="", sections=""):
        self.dir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        self.db = os.path.join(workdir, "var", "tlsrptd.sqlite")
        self.config = os.path.join(workdir, "tlsrptd.toml")
        user = f'user = "{SERVICE_USER}"\n' if os.geteuid() == 0 else ""
        if "[smtp]" not in sections:
            sections += '\n[smtp]\nlisten = []\n'  # the default 127.0.0.1:2525 would collide between tests
        with open(self.config, "w") as f:
            f.write(f'database = "{self.db}"\n{user}{top_config}\n'
                    f'[https]\nlisten = ["127.0.0.1:{self.port}"]\n'
                    f'certificate = "{workdir}/var/tls/cert.pem"\nprivate_key = "{workdir}/var/tls/key.pem"\n'
                    f'{extra_config}\n'
                    f'[admin]\nlisten = ["127.0.0.1:{self.admin_port}"]\n{sections}\n')
        ensure_service_user()
        if os.geteuid() == 0:
            shutil.chown(workdir, SERVICE_USER)
        self.proc = None
        self.log = os.path.join(workdir, "daemon.log")

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([TLSRPTD, "serve", "--config", self.config], stdout=self.logf,
                                     stderr=self.logf, cwd=self.dir)
        if wait:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"tlsrptd exited {self.proc.returncode}: {self.read_log()}")
                try:
                    with socket.create_connection(("127.0.0.1", self.admin_port), timeout=1) as s:
                        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                        if b" 200 " in s.recv(200):
                            return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise AssertionError("tlsrptd did not become healthy: " + self.read_log())
        return self

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path="/"):
        return f"https://127.0.0.1:{self.port}{path}"

    def admin(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


DNSMASQ = "/usr/sbin/dnsmasq"


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both)."""
    return free_port(udp=True)


class Dnsmasq:
    """A real DNS server on a loopback port serving the given TXT records."""

    def __init__(self, txt_records, local=("test", "example")):
        self.port = free_udp_tcp_port()
        args = [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file="]
        # Names under these zones that are not configured are NXDOMAIN (not REFUSED).
        args += [f"--local=/{zone}/" for zone in local]
        if os.geteuid() == 0:
            args += ["--user=root", "--group=root"]
        for name, value in txt_records:
            # dnsmasq splits long values into 255-byte character-strings itself.
            args.append(f"--txt-record={name},{value}")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited: " + self.proc.stderr.read().decode(errors="replace"))
            if run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{self.port}"]).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("dnsmasq did not start")

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


class DkimKey:
    """A DKIM key made for the test (tests/tools/dkim_tool.py, dkimpy) and a real DNS
    server (dnsmasq) publishing it as selector `sel` of each of `domains`."""

    def __init__(self, folder, domains, local=("test", "example")):
        os.makedirs(folder, exist_ok=True)
        self.tool = os.path.join(SOURCE, "tests", "tools", "dkim_tool.py")
        self.txt = subprocess.run([sys.executable, self.tool, "keygen", folder, "1024"], capture_output=True,
                                  check=True).stdout.decode().strip()
        self.key = os.path.join(folder, "key.pem")
        self.dns = Dnsmasq([(f"sel._domainkey.{d}", self.txt) for d in domains], local=local)

    def sign(self, message, domain, *extra):
        return subprocess.run([sys.executable, self.tool, "sign", self.key, "sel", domain, *extra], input=message,
                              capture_output=True, check=True).stdout

    def stop(self):
        self.dns.stop()


def curl(url, data=None, content_type=None, headers=(), method=None, extra=(), timeout=30):
    """A request with curl, the real client; returns (status, headers dict, body)."""
    args = ["curl", "-sk", "-D", "-", "--max-time", str(timeout)]
    if method:
        args += ["-X", method]
    if content_type:
        args += ["-H", f"Content-Type: {content_type}"]
    for h in headers:
        args += ["-H", h]
    if data is not None:
        args += ["--data-binary", "@-"]
    args += [*extra, url]
    p = subprocess.run(args, input=data, capture_output=True, timeout=timeout + 5)
    out = p.stdout
    head, _, body = out.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return None, {}, body
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tlsrpt-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


def main():
    """Runs the module's regular test classes; with --interop, only those over the
    external interop corpus (`interop = True`), or says they are skipped and exits
    with SKIP_CODE when that corpus is not present."""
    interop = "--interop" in sys.argv[1:]
    argv = [a for a in sys.argv if a != "--interop"]
    if interop and not CORPUS:
        print("skipped: TLSRPT_CORPUS_DIR is not set (the external interop corpus is optional)")
        sys.exit(SKIP_CODE)
    if interop and not os.path.isdir(CORPUS):
        print(f"skipped: the external interop corpus (TLSRPT_CORPUS_DIR) is not present at {os.path.abspath(CORPUS)}")
        sys.exit(SKIP_CODE)
    if not os.path.exists(TLSRPTD):
        print(f"tlsrptd binary not found at {TLSRPTD}", file=sys.stderr)
        sys.exit(1)

    class Loader(unittest.TestLoader):
        def loadTestsFromTestCase(self, cls):
            if bool(getattr(cls, "interop", False)) != interop:
                return self.suiteClass()
            return super().loadTestsFromTestCase(cls)

    unittest.main(argv=argv, testLoader=Loader(), verbosity=2)
