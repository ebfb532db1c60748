#!/usr/bin/python3
"""Reliability scenarios 39-41 (docs/guarantees.md#reliability-scenarios): the service
around the parsers, as an operator deploys it (issue 19, item 6 and the operational
parts of item 8).

39 `trusted_proxy_spellings`: the HTTPS socket is handed over the way the shipped
systemd socket does it (dual-stack [::]:port, IPV6_V6ONLY off, LISTEN_FDS), so an IPv4
proxy's connections arrive as ::ffff:127.0.0.1. inspect.trusted_proxies names the
proxies as "127.0.0.1" and as "0:0:0:0:0:0:0:1" (an odd spelling of ::1). Through each
proxy, three clients named by X-Forwarded-For ask the inspection API 12 times each
(the per-client burst): each must get its own rate-limit bucket (36 answered, 0 x 429
per proxy), and the 13th request of one client is 429 (the limit still holds).
`config check` prints the canonical form of the odd spelling and refuses a network
with host bits set ("10.0.0.1/8"); a network ("10.0.0.0/8") is accepted.

40 `admin_exposure`: as shipped (admin on loopback, no password file) /healthz on the
public HTTPS port is 404, and the admin port answers /healthz and /metrics without
credentials as before. admin.listen = ["0.0.0.0:port"] without admin.password_file:
`serve` and `config check` exit 78 naming both keys. With a password file (`openssl
passwd -6`): /metrics without credentials, with a wrong password and with the right
one -> 401 (with WWW-Authenticate: Basic) / 401 / 200, /healthz too; after 10 wrong
passwords one address gets 429 even with the right one, another address still 200.
Then the hash flood: 16 addresses (127.0.1.x, each within its own 10 a minute) send 8
wrong passwords each, at once (then 8 more addresses 8 each, one at a time), for a user whose hash is slow (sha512-crypt, 200 000
rounds, ~45 ms), while an honest HTTPS report POST is timed (printed) and Prometheus
scrapes with its remembered credentials. At most admin.max_failures_per_minute (60) +
admin.max_password_checks (4) + one per second of flood are tried (401); the rest are
refused at once (503 at once beyond 4 checks, 429 once the global limit is spent); the POST is 200; the scrapes and the right password from a
fresh address after the flood are 200.

41 `database_permissions`: the modes of the database folder, the database, -wal and
-shm after start and after a report (0750 / 0640: no bit for others); as root, the
user `nobody` cannot read the database or list its folder, and the files belong to the
service user's group. A folder and database made 0755 / 0644 before (by the service
user) are tightened at startup and the log says so. A database in a folder holding
other files too (a project folder: 0775 with notes.txt) leaves the folder's mode alone
and logs a warning naming the mode and the fix; the database files are still 0640.

Every figure is structural (status codes, modes, counts): asserted in every mode.
"""
import base64
import crypt  # deprecated (3.13 drops it), but the one way to a salted sha512-crypt with rounds
import http.client
import os
import pwd
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Skip, TLSRPTD, curl, free_port, report_json, scenario, https_post  # noqa: E402

SERVICE_USER = "tlsrptd"


class NxDns(threading.Thread):
    """UDP DNS on loopback answering NXDOMAIN to every query, so inspections end at once."""

    def __init__(self):
        super().__init__(daemon=True)
        self.port = free_port(udp=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags = struct.unpack("!HH", data[:4])
            rd = flags & 0x0100
            reply = struct.pack("!HHHHHH", qid, 0x8080 | rd | 3, 1, 0, 0, 0) + data[12:]
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.sock.close()


def write_config(d, text):
    with open(d.config, "w") as f:
        f.write(text)


def start_with_socket(ctx, d, family, address):
    """Starts d's daemon with its HTTPS socket handed over as systemd does (LISTEN_FDS,
    FileDescriptorName=https): a dual-stack [::] socket when family is AF_INET6."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((address, d.port))
    s.listen(128)
    fd = s.fileno()
    d.logf = open(d.log, "ab")
    script = (f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=https; '
              'export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec "$0" serve --config "$1"')
    d.proc = subprocess.Popen(["sh", "-c", script, TLSRPTD, d.config], pass_fds=(fd,), stdout=d.logf,
                              stderr=d.logf, cwd=d.dir)
    s.close()
    d.wait_healthy(30)
    return d


def inspect_as(port, host, client, domain="example.com"):
    """GET /api/v1/inspect through a 'proxy' at `host`, naming `client` in X-Forwarded-For."""
    status, _, _ = curl(f"https://{host}:{port}/api/v1/inspect?domain={domain}",
                        headers=[f"X-Forwarded-For: 203.0.113.250, {client}"], timeout=20)
    return status


def proxy_buckets(ctx, d, host, clients, label):
    statuses = []
    for c in clients:
        statuses += [inspect_as(d.port, host, c) for _ in range(12)]
    limited = statuses.count(429)
    answered = sum(1 for s in statuses if s == 200)
    over = inspect_as(d.port, host, clients[0])
    ctx.figure(f"39.{label}", f"via {host}: {len(clients)} clients x 12 requests -> {answered} answered 200, "
                              f"{limited} x 429, others {sorted(set(statuses) - {200, 429})}; "
                              f"13th request of {clients[0]} -> {over}")
    ctx.check(limited == 0 and answered == len(statuses),
              f"39.{label}: X-Forwarded-For clients behind the proxy {host} share a rate-limit bucket "
              f"({limited} x 429 of {len(statuses)})")
    ctx.check(over == 429, f"39.{label}: the 13th request of one client was {over}, not 429")


@scenario(deadline=180)
def trusted_proxy_spellings(ctx):
    """Scenario 39: trusted_proxies match every spelling of the proxy's address."""
    dns = NxDns()
    dns.start()
    ctx.on_cleanup(dns.stop)
    d = ctx.daemon("proxy", start=False)
    with open(d.config) as f:
        text = f.read()
    write_config(d, text + f'\n[inspect]\nenabled = true\ntrusted_proxies = ["127.0.0.1", "0:0:0:0:0:0:0:1"]\n'
                           f'\n[dns]\nservers = ["127.0.0.1:{dns.port}"]\ntimeout = "2s"\n')
    # config check: the canonical forms, a network, and a network with host bits set.
    p = subprocess.run([TLSRPTD, "config", "check", "--config", d.config], capture_output=True, text=True, timeout=30)
    printed = "0:0:0:0:0:0:0:1\" is ::1" in p.stdout
    ctx.figure("39.config_check", f"exit {p.returncode}; stdout {p.stdout.strip()!r}")
    ctx.check(p.returncode == 0 and printed, "39: config check does not print the canonical form ::1")
    nets = {}
    for net in ("10.0.0.0/8", "10.0.0.1/8", "2001:DB8::/32"):
        cfg = os.path.join(ctx.tmp, "net.toml")
        with open(cfg, "w") as f:
            f.write(f'[inspect]\ntrusted_proxies = ["{net}"]\n')
        q = subprocess.run([TLSRPTD, "config", "check", "--config", cfg], capture_output=True, text=True, timeout=30)
        nets[net] = (q.returncode, (q.stdout + q.stderr).strip().splitlines()[-1][-110:])
    ctx.figure("39.networks", nets)
    ctx.check(nets["10.0.0.0/8"][0] == 0 and nets["2001:DB8::/32"][0] == 0, "39: a network is refused")
    ctx.check(nets["10.0.0.1/8"][0] == 78 and "10.0.0.0/8" in nets["10.0.0.1/8"][1],
              "39: a network with host bits set is not refused with the network named")
    start_with_socket(ctx, d, socket.AF_INET6, "::")
    proxy_buckets(ctx, d, "127.0.0.1", ["198.51.100.1", "198.51.100.2", "198.51.100.3"], "ipv4_mapped")
    proxy_buckets(ctx, d, "[::1]", ["2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1"], "ipv6_spelling")


def crypt_sha512(password):
    return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True,
                          check=True).stdout.strip()


def wait_admin(d, auth, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.proc.poll() is not None:
            return False
        try:
            if curl(f"http://127.0.0.1:{d.admin_port}/healthz", extra=["-u", auth], timeout=3)[0] == 200:
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def admin_status(d, auth=None, path="/metrics", src=None):
    extra = (["-u", auth] if auth else []) + (["--interface", src] if src else [])
    status, headers, _ = curl(f"http://127.0.0.1:{d.admin_port}{path}", extra=extra, timeout=10)
    return status, headers


@scenario(deadline=180)
def admin_exposure(ctx):
    """Scenario 40: an admin listener beyond loopback needs a password; /healthz only there."""
    d = ctx.daemon("exposed")
    # As shipped (admin on loopback, no password file): unauthenticated as before, and
    # /healthz only on the admin port.
    health_public = curl(d.url("/healthz"), timeout=10)[0]
    loop_health, _ = admin_status(d, path="/healthz")
    loop_metrics, _ = admin_status(d)
    ctx.figure("40.loopback", f"/healthz public HTTPS -> {health_public}; admin on loopback without credentials: "
                              f"/healthz -> {loop_health}, /metrics -> {loop_metrics}")
    ctx.check(health_public == 404, f"40: /healthz on the public HTTPS port answered {health_public}, not 404")
    ctx.check((loop_health, loop_metrics) == (200, 200), "40: the loopback admin listener needs credentials")
    d.stop()
    with open(d.config) as f:
        base = f.read()
    exposed = base.replace(f'127.0.0.1:{d.admin_port}', f'0.0.0.0:{d.admin_port}')
    write_config(d, exposed)
    check = subprocess.run([TLSRPTD, "config", "check", "--config", d.config], capture_output=True, text=True,
                           timeout=30)
    try:
        serve = subprocess.run([TLSRPTD, "serve", "--config", d.config], capture_output=True, text=True, timeout=15,
                               cwd=d.dir)
        serve_rc, serve_err = serve.returncode, serve.stderr
    except subprocess.TimeoutExpired as e:
        serve_rc, serve_err = "still running after 15 s", (e.stderr or b"").decode(errors="replace")
    names_both = "admin.listen" in serve_err and "admin.password_file" in serve_err
    ctx.figure("40.no_password", f"serve exit {serve_rc}, config check exit {check.returncode}; "
                                 f"message {serve_err.strip()[-220:]!r}")
    ctx.check(serve_rc == 78 and names_both, "40: serve with a non-loopback admin.listen and no password_file "
                                              "did not exit 78 naming admin.listen and admin.password_file")
    ctx.check(check.returncode == 78, "40: config check accepts a non-loopback admin.listen without a password")

    pw_file = os.path.join(d.dir, "admin.passwd")
    with open(pw_file, "w") as f:
        # ops first: an unknown user is hashed against the first user's (slow) hash.
        slow = crypt.crypt("ops-password", crypt.mksalt(crypt.METHOD_SHA512, rounds=200000))
        f.write(f"# operators\nops:{slow}\n# prometheus\nprom:{crypt_sha512('s3cret-scrape')}\n")
    os.chmod(pw_file, 0o640)
    if os.geteuid() == 0:
        os.chown(pw_file, 0, pwd.getpwnam(SERVICE_USER).pw_gid)
    write_config(d, exposed.replace("[admin]\n", f'[admin]\npassword_file = "{pw_file}"\n'))
    d.start(wait=False)
    ctx.require(wait_admin(d, "prom:s3cret-scrape"), "40: the daemon with admin.password_file did not come up: "
                + d.read_log()[-1500:])
    none, none_h = admin_status(d)
    wrong, _ = admin_status(d, "prom:guess")
    right, _ = admin_status(d, "prom:s3cret-scrape")
    health_admin, _ = admin_status(d, "prom:s3cret-scrape", "/healthz")
    health_none, _ = admin_status(d, path="/healthz")
    challenge = none_h.get("www-authenticate", "")
    ctx.figure("40.credentials", f"/metrics none -> {none} ({challenge!r}), wrong -> {wrong}, right -> {right}; "
                                 f"/healthz right -> {health_admin}, none -> {health_none}")
    ctx.check((none, wrong, right) == (401, 401, 200), f"40: /metrics none/wrong/right -> {none}/{wrong}/{right}")
    ctx.check(challenge.lower().startswith("basic realm="), "40: 401 without WWW-Authenticate: Basic")
    ctx.check((health_admin, health_none) == (200, 401), "40: /healthz on the admin port: right 200, none 401")
    guesses = [admin_status(d, f"prom:guess{i}", src="127.0.0.5")[0] for i in range(12)]
    after, after_h = admin_status(d, "prom:s3cret-scrape", src="127.0.0.5")
    other, _ = admin_status(d, "prom:s3cret-scrape", src="127.0.0.6")
    ctx.figure("40.guessing", f"12 wrong passwords from 127.0.0.5 -> {guesses}; then the right one from there -> "
                              f"{after} (Retry-After {after_h.get('retry-after')}), from 127.0.0.6 -> {other}")
    ctx.check(guesses.count(401) == 10 and guesses[-1] == 429 and after == 429 and other == 200,
              "40: wrong passwords are not limited to 10 a minute per address")
    hash_flood(ctx, d)


def admin_get(port, user_pass, src, path="/metrics"):
    """One admin GET from `src` with basic credentials; the status, or None on error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(src, 0))
    try:
        auth = base64.b64encode(user_pass.encode()).decode()
        conn.request("GET", path, headers={"Authorization": f"Basic {auth}", "Connection": "close"})
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def hash_flood(ctx, d):
    """Scenario 40, hash flood: many addresses, each within its own limit, guessing at once."""
    addresses = [f"127.0.1.{i}" for i in range(1, 17)]
    statuses, lock = [], threading.Lock()

    def guesser(src):
        for i in range(8):
            s = admin_get(d.admin_port, f"ops:guess{i}", src)
            with lock:
                statuses.append(s)

    threads = [threading.Thread(target=guesser, args=(a,), daemon=True) for a in addresses]
    started = time.time()
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.time()
    post = https_post(d.port, report_json("flood-1"))
    post_s = time.time() - t0
    scrapes = [admin_get(d.admin_port, "prom:s3cret-scrape", "127.0.0.7") for _ in range(3)]
    for t in threads:
        t.join(120)
    concurrent = list(statuses)
    # Then one at a time (no 503 possible): the global failure limit.
    for src in [f"127.0.2.{i}" for i in range(1, 9)]:
        guesser(src)
    flood_s = time.time() - started
    fresh = admin_get(d.admin_port, "prom:s3cret-scrape", "127.0.0.8")
    counts = {str(k): statuses.count(k) for k in sorted(set(statuses), key=str)}
    tried = statuses.count(401)
    bound = 60 + 4 + int(flood_s) + 1
    phases = ({str(k): concurrent.count(k) for k in sorted(set(concurrent), key=str)},
              {str(k): statuses[len(concurrent):].count(k) for k in sorted(set(statuses[len(concurrent):]), key=str)})
    ctx.figure("40.hash_flood", f"{len(addresses)} addresses x 8 wrong passwords at once, then 8 x 8 one at a "
                                f"time (~45 ms hash) -> {phases[0]}, then {phases[1]}: {counts} in "
                                f"{flood_s:.1f} s (tried <= {bound}); honest HTTPS POST during it -> {post.status} "
                                f"in {post_s:.2f} s; scrapes with remembered credentials -> {scrapes}; right "
                                f"password from a fresh address after -> {fresh}")
    ctx.check(post.status == 200, f"40: the HTTPS POST during the hash flood got {post.status}")
    ctx.check(tried <= bound, f"40: {tried} wrong passwords were hashed in {flood_s:.1f} s (bound {bound})")
    ctx.check(statuses.count(429) + statuses.count(503) >= len(statuses) - bound,
              f"40: the guesses beyond the bounds were not refused at once: {counts}")
    ctx.check(concurrent.count(503) > 0, f"40: no 503 beyond admin.max_password_checks at once: {phases[0]}")
    ctx.check(statuses[len(concurrent):].count(429) > 0,
              f"40: no 429 beyond admin.max_failures_per_minute across addresses: {phases[1]}")
    ctx.check(set(scrapes) == {200} and fresh == 200, f"40: remembered credentials refused: {scrapes}, {fresh}")


def mode_of(path):
    try:
        st = os.stat(path)
        return f"{stat.S_IMODE(st.st_mode):04o}", st.st_gid
    except OSError:
        return None, None


def modes(d):
    folder = os.path.dirname(d.db)
    return {name: mode_of(p)[0] for name, p in (("folder", folder), ("db", d.db), ("wal", d.db + "-wal"),
                                                  ("shm", d.db + "-shm"))}


def as_nobody(args):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *args],
                          capture_output=True, text=True, timeout=10)


def private(m, folder_max=0o750, file_max=0o640):
    ok = True
    for name, mode in m.items():
        if mode is None:
            continue
        ok = ok and (int(mode, 8) & ~(folder_max if name == "folder" else file_max)) == 0
    return ok


@scenario(deadline=120)
def database_permissions(ctx):
    """Scenario 41: the database, -wal, -shm 0640 in a 0750 folder; tightened at startup."""
    d = ctx.daemon("perm")
    after_start = modes(d)
    r = https_post(d.port, report_json("perm-1"))
    after_report = modes(d)
    ctx.figure("41.modes", f"after start {after_start}; after a report (HTTP {r.status}) {after_report}")
    ctx.check(r.status == 200, f"41: the report got {r.status}")
    ctx.check(after_report["db"] is not None and after_report["wal"] is not None, "41: no database or -wal file")
    ctx.check(private(after_start) and private(after_report), "41: database files or folder readable by others")
    if os.geteuid() == 0:
        cat = as_nobody(["cat", d.db])
        ls = as_nobody(["ls", os.path.dirname(d.db)])
        gid = pwd.getpwnam(SERVICE_USER).pw_gid
        groups = {n: mode_of(p)[1] for n, p in (("db", d.db), ("wal", d.db + "-wal"))}
        ctx.figure("41.other_user", f"nobody: cat db exit {cat.returncode} ({cat.stderr.strip()[-60:]!r}), "
                                    f"ls folder exit {ls.returncode}; groups {groups} (service group {gid})")
        ctx.check(cat.returncode != 0 and ls.returncode != 0, "41: another local user can read the database")
        ctx.check(all(g == gid for g in groups.values()), "41: database files not in the service user's group")
    else:
        ctx.log("not root: the check as another user is skipped")
    # Files made by an earlier version: 0644 in 0755, owned by the service user.
    d.stop()
    folder = os.path.dirname(d.db)
    os.chmod(folder, 0o755)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(d.db + suffix):
            os.chmod(d.db + suffix, 0o644)
    loosened = modes(d)
    d.start()
    tightened = modes(d)
    logged = b"tightened" in open(d.log, "rb").read()
    ctx.figure("41.tightened", f"before restart {loosened}; after {tightened}; logged {logged}")
    ctx.check(private(tightened) and logged, "41: files made 0644 in 0755 are not tightened (and logged) at startup")
    shared_folder(ctx, d)


def shared_folder(ctx, d):
    """Scenario 41, a database in a folder that is not tlsrptd's alone (database = "tlsrpt.db"
    run from a project folder): the folder keeps its mode, the log says why and how to fix
    it; the database files are still 0640 at most."""
    d.stop()
    project = os.path.join(d.dir, "project")
    os.makedirs(project)
    notes = os.path.join(project, "notes.txt")
    with open(notes, "w") as f:
        f.write("the user's own file\n")
    os.chmod(project, 0o775)
    if os.geteuid() == 0:
        for p in (project, notes):
            os.chown(p, pwd.getpwnam(SERVICE_USER).pw_uid, pwd.getpwnam(SERVICE_USER).pw_gid)
    db = os.path.join(project, "tlsrpt.db")
    with open(d.config) as f:
        text = f.read()
    write_config(d, text.replace(f'database = "{d.db}"', f'database = "{db}"'))
    d.start()
    r = https_post(d.port, report_json("perm-shared"))
    folder_mode = mode_of(project)[0]
    files = {n: mode_of(db + suffix)[0] for n, suffix in (("db", ""), ("wal", "-wal"), ("shm", "-shm"))}
    warning = [line for line in d.read_log().splitlines() if "holds other files too" in line]
    ctx.figure("41.shared_folder", f"folder with another file, 0775 -> {folder_mode}; files {files} "
                                   f"(report HTTP {r.status}); warning {warning[-1][-200:] if warning else None!r}")
    ctx.check(r.status == 200 and os.path.exists(db), f"41: the report into {db} got {r.status}")
    ctx.check(folder_mode == "0775", f"41: a folder holding other files was changed to {folder_mode}")
    ctx.check(private({n: m for n, m in files.items()}), f"41: database files in the shared folder: {files}")
    ctx.check(bool(warning) and "0775" in warning[-1], "41: no warning naming the folder's mode")
