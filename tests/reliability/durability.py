"""Helpers of the durability scenarios (test_durability_*.py): senders that retry until
acknowledged, as RFC 8460 §5.5 senders do, a ledger of what was acknowledged, the
database checks after a crash, and an strace log parser. Sends to loopback only."""
import collections
import os
import re
import threading
import time

from common import ORG, db_rows, https_post, report_json, report_mail, smtp_send

SUCCESS = {"https": (200,), "smtp": (250,)}
# What a sender may be told while storage cannot commit: try again later.
TEMPFAIL = {"https": (503,), "smtp": (451, 452, 421)}


class Ledger:
    """Every submission attempt and acknowledgement, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}                      # report id -> (channel, monotonic time of the ack)
        self.replies = collections.Counter()  # (channel, status or None) -> n
        self.attempts = collections.Counter()  # report id -> n
        self.history = collections.defaultdict(list)  # report id -> [(status, monotonic time, channel)]
        self.submitted = set()

    def note(self, rid, channel, status):
        with self.lock:
            self.submitted.add(rid)
            self.attempts[rid] += 1
            self.replies[(channel, status)] += 1
            self.history[rid].append((status, time.monotonic(), channel))
            if status in SUCCESS[channel] and rid not in self.acked:
                self.acked[rid] = (channel, time.monotonic())

    def summary(self):
        with self.lock:
            return ", ".join(f"{c} {s}: {n}" for (c, s), n in sorted(self.replies.items(), key=str))


def submit_once(d, rid, channel, timeout=15):
    """One attempt; returns the Reply (status None: no answer)."""
    body = report_json(rid)
    if channel == "https":
        return https_post(d.port, body, timeout=timeout)
    return smtp_send(d.smtp_port, report_mail(body, rid), timeout=timeout)


def deliver(d, rid, channel, ledger, deadline, retry=0.2, honour_retry_after=False):
    """Submits until acknowledged or the deadline (monotonic) passes. True when acked."""
    while time.monotonic() < deadline:
        r = submit_once(d, rid, channel, timeout=max(1.0, min(15.0, deadline - time.monotonic())))
        ledger.note(rid, channel, r.status)
        if r.status in SUCCESS[channel]:
            return True
        wait = retry
        if honour_retry_after and r.headers.get("retry-after", "").isdigit():
            wait = float(r.headers["retry-after"])
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
    return False


def stored_state(db):
    """What the database holds: counted rows per report id and incomplete rows."""
    rows = db_rows(db, "SELECT r.id, r.report_id, r.status, r.organization_name, "
                       "(SELECT count(*) FROM policy p WHERE p.report = r.id) AS policies, "
                       "(SELECT count(*) FROM report_raw w WHERE w.report = r.id) AS raws, "
                       "(SELECT count(*) FROM report_auth a WHERE a.report = r.id) AS auths FROM report r")
    counted = collections.Counter(r["report_id"] for r in rows if r["status"] == "counted")
    # Each test report has one policy; a row without it (or its raw bytes) is half-stored.
    half = [r["report_id"] for r in rows if (r["policies"], r["raws"], r["auths"]) != (1, 1, 1)]
    integrity = ",".join(r["integrity_check"] for r in db_rows(db, "PRAGMA integrity_check"))
    return {"rows": len(rows), "counted": counted, "half": half, "integrity": integrity,
            "orgs": {r["organization_name"] for r in rows}}


def verify(ctx, db, ledger, prefix=""):
    """The exactly-once checks; prints the figures; returns the state."""
    st = stored_state(db)
    acked = set(ledger.acked)
    lost = sorted(acked - set(st["counted"]))
    doubled = sorted(k for k, n in st["counted"].items() if n > 1)
    phantom = sorted(set(st["counted"]) - ledger.submitted)
    ctx.figure(prefix + "acked", len(acked))
    ctx.figure(prefix + "stored", len(st["counted"]))
    ctx.figure(prefix + "stored_unacked", len(set(st["counted"]) - acked))
    ctx.figure(prefix + "lost", len(lost))
    ctx.figure(prefix + "doubled", len(doubled))
    ctx.figure(prefix + "half_stored", len(st["half"]))
    ctx.figure(prefix + "integrity_check", st["integrity"])
    ctx.check(not lost, f"{prefix}acknowledged but not stored: {lost[:10]}")
    ctx.check(not doubled, f"{prefix}counted more than once: {doubled[:10]}")
    ctx.check(not st["half"], f"{prefix}half-stored reports: {st['half'][:10]}")
    ctx.check(not phantom, f"{prefix}stored but never submitted: {phantom[:10]}")
    ctx.check(st["integrity"] == "ok", f"{prefix}integrity_check: {st['integrity']}")
    return st


# --- strace logs -------------------------------------------------------------------

_CALL = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(\w+)\((.*)$")
_RESUMED = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_RET = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:\s+(\w+))?[^<]*?(?:<(\d+\.\d+)>)?\s*$")
_FD = re.compile(r"^(\d+)<(.+?)>(?=[,)\s]|$)")  # a TCP descriptor holds "->"

Call = collections.namedtuple("Call", "tid start end name fd desc args ret err")


def parse_strace(path):
    """Calls of an `strace -f -ttt -T -yy -o path` log, in start order, with their
    end times (an interrupted call's start line and its `resumed` line are joined)."""
    calls, pending = [], {}
    with open(path, "r", encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            m = _RESUMED.match(line)
            if m:
                tid, ts, name, rest = m.groups()
                start = pending.pop((tid, name), None)
                if start is None:
                    continue
                r = _RET.search(rest)
                ret, err, dur = (r.group(1), r.group(2), r.group(3)) if r else ("?", None, None)
                end = float(ts) if dur is None else start[1] + float(dur)
                calls.append(Call(tid, start[1], max(end, float(ts)), name, start[2], start[3], start[4] + rest,
                                  ret, err))
                continue
            m = _CALL.match(line)
            if not m:
                continue
            tid, ts, name, args = m.groups()
            fdm = _FD.match(args)
            fd, desc = (int(fdm.group(1)), fdm.group(2)) if fdm else (None, "")
            if args.endswith("<unfinished ...>"):
                pending[(tid, name)] = (tid, float(ts), fd, desc, args)
                continue
            r = _RET.search(args)
            ret, err, dur = (r.group(1), r.group(2), r.group(3)) if r else ("?", None, None)
            start = float(ts)
            calls.append(Call(tid, start, start + (float(dur) if dur else 0.0), name, fd, desc, args, ret, err))
    calls.sort(key=lambda c: c.start)
    return calls


def peer_port(desc):
    """The remote port of a `TCP:[local->remote]` descriptor, else None."""
    m = re.match(r"TCP:\[[^\]]*->[^\]]*:(\d+)\]$", desc) or re.match(r"TCPv6:\[[^\]]*->\[?[^\]]*\]?:(\d+)\]$", desc)
    return int(m.group(1)) if m else None


def strace_ok():
    from shutil import which
    return which("strace") is not None


WRITES = ("write", "writev", "sendmsg", "sendto", "pwrite64", "pwritev", "pwritev2")
SYNCS = ("fdatasync", "fsync")


Audit = collections.namedtuple("Audit", "rid channel wal_write durable ack log gap")


def audit_acks(trace_path, subs, db_basename):
    """For every acknowledged submission (rid, channel, client port[, wall-clock start,
    end of the client's connection]): the first WAL
    write holding its report id that a successful WAL fdatasync/fsync follows, that
    sync (what made it durable), and the ack: for SMTP the write of
    "250 2.0.0 report" on the client's socket, for HTTPS (TLS: opaque bytes) the
    first write on the client's socket after the daemon's debug line for the report.
    Returns (audits, problems); a violation is an ack that starts before its
    durable sync ended, or any write to the client while the commit was pending."""
    calls = parse_strace(trace_path)
    wal = db_basename + "-wal"
    wal_writes = [c for c in calls if c.name in WRITES and c.desc.endswith(wal)]
    syncs = [c for c in calls if c.name in SYNCS and c.desc.endswith(wal)]
    logs = [c for c in calls if c.name == "write" and c.fd == 2]
    sock = collections.defaultdict(list)
    for c in calls:
        if c.name in WRITES and c.desc.startswith("TCP"):
            port = peer_port(c.desc)
            if port:
                sock[port].append(c)
    audits, problems = [], []
    for sub in subs:
        rid, channel, port = sub[:3]
        # Its transaction's WAL write and sync; a transaction whose sync failed was
        # not committed, so the write of the retry counts (its sync succeeded).
        w = dsync = None
        for c in (c for c in wal_writes if rid in c.args):
            s = next((x for x in syncs if x.start >= c.end), None)
            if s is not None and s.ret == "0":
                w, dsync = c, s
                break
        if w is None:
            problems.append(f"{rid}: no WAL write holding it was followed by a successful sync")
            continue
        # The daemon's line for the report names it quoted (strace shows \"rid\").
        log = next((c for c in logs if f"report {rid}" in c.args or f'report \\"{rid}\\"' in c.args), None)
        writes = sock.get(port, [])
        if len(sub) >= 5:
            # The client's port is reused by later connections (200 connections in a
            # few seconds from a 28 000-port range): only this connection's writes,
            # by the client's wall clock (strace -ttt is the same clock).
            began, ended = sub[3], sub[4]
            writes = [c for c in writes if began - 0.001 <= c.start <= ended + 0.001]
        if channel == "smtp":
            ack = next((c for c in writes if "250 2.0.0 report" in c.args), None)
        else:
            ack = next((c for c in writes if log and c.start >= log.start), None)
        if ack is None:
            problems.append(f"{rid}: no ack write found on the client's socket (port {port})")
            continue
        early = [c for c in writes if w.start <= c.start < dsync.end]
        if early:
            problems.append(f"{rid}: {len(early)} write(s) to the client while its commit was pending")
        if ack.start < dsync.end:
            problems.append(f"{rid}: VIOLATION ack at {ack.start:.6f} before the sync ended at {dsync.end:.6f}")
        audits.append(Audit(rid, channel, w, dsync, ack, log, ack.start - dsync.end))
    return audits, problems


def keep_trace(ctx, path, name):
    """Copies a trace to $TLSRPT_RELIABILITY_KEEP (when set) for a failing scenario."""
    keep = os.environ.get("TLSRPT_RELIABILITY_KEEP")
    if keep and ctx.failures and os.path.exists(path):
        import shutil
        shutil.copy(path, os.path.join(keep, name))
        ctx.log(f"trace kept in {keep}/{name}")


# --- report import -------------------------------------------------------------------

def import_folder(folder, tag):
    """A folder an admin would hand to `tlsrptd report import`: report files (JSON and
    gzipped JSON), report mails (.eml, RFC 8460 §5.3) and an mbox of three report
    mails. Returns {label the import prints: report id} (an mbox message's label is
    PATH#N)."""
    import gzip
    from common import report_mbox
    os.makedirs(folder)
    labels = {}

    def put(name, data, rid):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        labels[path] = rid

    for i in range(2):
        put(f"{tag}-json{i}.json", report_json(f"{tag}-j{i}"), f"{tag}-j{i}")
        put(f"{tag}-gz{i}.json.gz", gzip.compress(report_json(f"{tag}-z{i}"), mtime=0), f"{tag}-z{i}")
        put(f"{tag}-mail{i}.eml", report_mail(report_json(f"{tag}-e{i}"), f"{tag}-e{i}"), f"{tag}-e{i}")
    mbox_ids = [f"{tag}-x{i}" for i in range(3)]
    mbox = os.path.join(folder, f"{tag}-reports.mbox")
    with open(mbox, "wb") as f:
        f.write(report_mbox([report_mail(report_json(r), r) for r in mbox_ids]))
    for n, rid in enumerate(mbox_ids, 1):
        labels[f"{mbox}#{n}"] = rid
    return labels


_OUTCOME = re.compile(r"^(.*): (stored|duplicate|conflict|held, not counted|rejected|failed)\b")


def import_outcomes(text):
    """{label: outcome word} of `report import`'s per-file lines (a line cut short by a
    kill is not an outcome)."""
    out = {}
    for line in text.split("\n")[:-1]:  # the last piece has no newline: not a whole line
        m = _OUTCOME.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def channel_mismatches(db, channels, mails):
    """Rows that did not come the way they were sent: `channels` is {report id: the
    transport it was sent by}; those in `mails` were report mails, whose row must carry
    the mail's headers (TLS-Report-Domain, Message-ID) and its raw bytes as
    message/rfc822, i.e. they went through the mail intake."""
    rows = db_rows(db, "SELECT r.report_id, r.transport, r.tls_report_domain, r.mail_message_id, "
                       "(SELECT w.media_type FROM report_raw w WHERE w.report = r.id) AS media FROM report r "
                       "WHERE r.status = 'counted'")
    by_id = {r["report_id"]: r for r in rows}
    bad = []
    for rid, channel in channels.items():
        r = by_id.get(rid)
        if r is None:
            continue  # not stored: the exactly-once checks say so
        if r["transport"] != channel:
            bad.append(f"{rid}: transport {r['transport']}, sent by {channel}")
        elif rid in mails and not (r["tls_report_domain"] and r["mail_message_id"] and r["media"] == "message/rfc822"):
            bad.append(f"{rid}: a report mail stored without its mail ({r['media']}, "
                       f"TLS-Report-Domain {r['tls_report_domain']!r}, Message-ID {r['mail_message_id']!r})")
    return bad
