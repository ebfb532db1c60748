"""Ack ordering audit (scenario 1, docs/guarantees.md#reliability-scenarios): the
daemon runs under `strace -f -ttt -T -yy`; 100 HTTPS and 100 SMTP submissions (one
sender per channel, each sequential, both at once so commits also group). For every
2xx/250 written to a client socket, the WAL fdatasync that made its report durable
ended earlier: 0 violations. The report is found in the WAL by its id (the page
bytes strace prints), the ack by the client's port on the socket descriptor."""
import os
import statistics
import threading
import time
import uuid

from common import Skip, scenario
from durability import Ledger, audit_acks, keep_trace, strace_ok, submit_once

TRACE = "fdatasync,fsync,write,writev,sendmsg,sendto,pwrite64,pwritev"


SYNTHETIC = """\
100 1000.000100 pwrite64(10</x/t.sqlite-wal>, "\\r\\0rid-early rid-late rid-https", 4096, 0) = 4096 <0.000010>
100 1000.000200 fdatasync(10</x/t.sqlite-wal> <unfinished ...>
101 1000.000500 sendto(7<TCP:[127.0.0.1:25->127.0.0.1:5001]>, "250 2.0.0 report stored\\r\\n", 25, MSG_NOSIGNAL, NULL, 0) = 25 <0.000010>
100 1000.001200 <... fdatasync resumed>) = 0 <0.001000>
102 1000.001300 write(2</x/daemon.log>, "<7>https: 127.0.0.1: stored report rid-https\\n", 45) = 45 <0.000010>
102 1000.001400 sendmsg(9<TCP:[127.0.0.1:443->127.0.0.1:5003]>, {msg_iov=[{iov_base="\\27\\3\\3", iov_len=3}]}, 0) = 3 <0.000010>
101 1000.002000 sendto(8<TCP:[127.0.0.1:25->127.0.0.1:5002]>, "250 2.0.0 report stored\\r\\n", 25, MSG_NOSIGNAL, NULL, 0) = 25 <0.000010>
"""


def checker_finds_a_violation(ctx):
    """The audit must be able to fail: a synthetic trace with one ack written while
    its fdatasync was still running, and two written after it."""
    path = os.path.join(ctx.tmp, "synthetic.trace")
    with open(path, "w") as f:
        f.write(SYNTHETIC)
    audits, problems = audit_acks(path, [("rid-early", "smtp", 5001), ("rid-late", "smtp", 5002),
                                         ("rid-https", "https", 5003)], "t.sqlite")
    found = [p for p in problems if "VIOLATION" in p]
    ctx.require(len(audits) == 3 and len(found) == 1 and found[0].startswith("rid-early"),
                f"the audit checker is broken: {audits} {problems}")


@scenario(deadline=300, soak_deadline=900)
def ack_ordering_audit(ctx):
    if not strace_ok():
        raise Skip("strace is not installed")
    checker_finds_a_violation(ctx)
    n = 100 if ctx.fast else 500
    d = ctx.daemon(smtp=True, top_config='log_level = "debug"\n', start=False)
    trace = os.path.join(ctx.tmp, "audit.trace")
    d.start(wrapper=["strace", "-f", "-qq", "-ttt", "-T", "-yy", "-s", "65536", "-o", trace, "-e", "trace=" + TRACE],
            timeout=60)
    token = uuid.uuid4().hex[:8]
    ledger = Ledger()
    subs, lock = [], threading.Lock()

    def sender(channel, letter):
        for i in range(n):
            rid = f"audit-{letter}{i:04d}-{token}"
            began = time.time()
            r = submit_once(d, rid, channel, timeout=30)
            ended = time.time()
            ledger.note(rid, channel, r.status)
            if rid in ledger.acked:
                with lock:
                    subs.append((rid, channel, r.local_port, began, ended))

    threads = [threading.Thread(target=sender, args=a) for a in (("https", "h"), ("smtp", "s"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rc = d.stop()
    ctx.figure("submissions", f"{n} HTTPS + {n} SMTP")
    ctx.figure("acked", len(subs))
    ctx.figure("replies", ledger.summary())
    ctx.figure("trace_bytes", os.path.getsize(trace))
    ctx.check(rc == 0, f"exit code {rc}")
    ctx.check(len(subs) == 2 * n, f"only {len(subs)} of {2 * n} submissions acknowledged")
    audits, problems = audit_acks(trace, subs, os.path.basename(d.db))
    violations = [p for p in problems if "VIOLATION" in p or "while its commit" in p]
    ctx.figure("acks_audited", len(audits))
    ctx.figure("violations", len(violations))
    ctx.figure("unmatched", len(problems) - len(violations))
    if audits:
        gaps = sorted(a.gap * 1e6 for a in audits)
        ctx.figure("sync_end_to_ack_us_min", f"{gaps[0]:.0f}")
        ctx.figure("sync_end_to_ack_us_median", f"{statistics.median(gaps):.0f}")
        commits = {a.durable.start for a in audits}
        ctx.figure("commits", len(commits))
    for p in problems[:10]:
        ctx.log(p)
    ctx.check(not violations, f"{len(violations)} acks before their fdatasync")
    ctx.check(len(audits) == 2 * n, f"{2 * n - len(audits)} acks could not be audited")
    keep_trace(ctx, trace, "audit.trace")
    os.remove(trace)
