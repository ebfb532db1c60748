#!/usr/bin/python3
"""Where tlsrptd's CPU time goes, from a `perf record --call-graph dwarf` profile:
reads `perf script -F tid,ip,sym` text on stdin and puts every sample into one
category by the outermost matching frame rule below (first rule that matches any frame
of the stack wins). Profiling aid for bench/README.md; decides nothing.

Usage: perf script -i perf.data -F tid,ip,sym | bench/perf_breakdown.py [--us-per-request X]
"""
import argparse
import collections
import sys

# (category, substrings of frame symbols); first rule with a matching frame wins.
RULES = [
    ("store: WAL checkpoint (in the writer)", ("sqlite3WalCheckpoint", "walCheckpoint")),
    ("store: fsync", ("fdatasync", "fsync")),
    ("store: COMMIT writing WAL frames", ("sqlite3WalFrames", "sqlite3PagerCommitPhaseOne")),
    ("store: inserts and lookups (store_one)", ("Store::store_one",)),
    ("store: queue, BEGIN, batching", ("StoreWriter::",)),
    ("ingest: gunzip", ("gunzip", "inflate")),
    ("ingest: SHA-256 of the content", ("sha256_hex",)),
    ("ingest: JSON parse, checks, model", ("Ingestor", "ReportParser", "simdjson", "accept_body")),
    ("TLS handshake", ("SSL_do_handshake", "ossl_statem", "tls_process_", "tls_construct_", "async_handshake",
                       "handshake_op")),
    ("TLS records (SSL_read/SSL_write, AES-GCM)", ("SSL_read", "SSL_write", "ssl3_read", "ssl3_write", "SSL_shutdown",
                                                   "engine::perform")),
    ("metrics", ("Metrics::", "count_report", "count_sessions")),
    ("logging", ("log_line", "log_info", "log_debug", "log_warning", "log_notice", "log_error")),
    ("socket send/recv", ("sendmsg", "recvmsg", "sys_sendto", "sys_recvfrom", "__libc_send", "__libc_recv",
                          "sys_read", "sys_write")),
    ("accept, close, connection setup (incl. asio's per-connection TLS buffers)",
     ("accept", "sys_close", "__close", "accept_loop", "set_option", "shutdown", "stream_core::stream_core",
      "stream_core::~stream_core", "engine::engine", "engine::~engine")),
    ("HTTP parse/serialize (Beast)", ("basic_parser", "serializer", "http::detail", "reply_for_outcome",
                                      "check_head", "SessionRunner")),
    ("event loop (epoll, futex, scheduler)", ("epoll", "futex", "scheduler::", "strand_executor",
                                              "pthread_cond", "__schedule")),
    ("malloc/free elsewhere", ("malloc", "free", "madvise")),
]


def samples(stream):
    tid, frames = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if tid is not None:
                yield tid, frames
            tid, frames = None, []
        elif not line.startswith("\t") and not line.startswith(" " * 4):
            tid, frames = line.split()[0], []
        else:
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else "")
    if tid is not None:
        yield tid, frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--us-per-request", type=float, default=0,
                    help="the daemon's CPU µs per request in the profiled run, to print µs per category")
    a = ap.parse_args()
    cats = collections.Counter()
    threads = collections.defaultdict(collections.Counter)
    total = 0
    for tid, frames in samples(sys.stdin):
        total += 1
        cat = "other"
        for name, keys in RULES:
            if any(k in f for f in frames for k in keys):
                cat = name
                break
        cats[cat] += 1
        role = "store writer" if any("StoreWriter::run" in f for f in frames) else "network threads"
        threads[role][cat] += 1
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{total} samples")
    print("| where | share |" + (" µs/request |" if a.us_per_request else ""))
    print("|---|---:|" + ("---:|" if a.us_per_request else ""))
    for cat, n in cats.most_common():
        us = f" {a.us_per_request * n / total:.0f} |" if a.us_per_request else ""
        print(f"| {cat} | {100 * n / total:.1f}% |{us}")
    for role, c in sorted(threads.items()):
        print(f"{role}: {100 * sum(c.values()) / total:.1f}% of samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
