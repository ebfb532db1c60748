#!/usr/bin/python3
"""Benchmark input: N unique, realistic, gzipped TLS-RPT reports (RFC 8460 §4) for
bench_https.sh, written as one file per wrk thread. Never used by the daemon or tests.

Each report imitates a real sender's shape from the external interop corpus
(TLSRPT_CORPUS_DIR; Google, Microsoft, Stalwart, Mail.ru: field order, id format, policy
strings, failure details), gets its own report-id (so every POST is a new report, not a
duplicate) and is 1-3 KiB of JSON.

Output: <out>/bodies.<k>.bin for k in 0..slices-1, records "<length>\\n<gzip bytes>",
report i going to slice i % slices; <out>/meta.json describes the set, so a second run
with the same parameters reuses the files.
"""
import argparse
import gzip
import json
import os
import random
import sys
from multiprocessing import Pool

FORMAT_VERSION = 2
MIN_JSON, MAX_JSON = 1024, 3072

DOMAINS = [f"{w}.example" for w in (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "mail-one", "mail-two", "shop", "news",
    "bank", "school", "city", "club", "studio", "garden", "harbour", "river", "forest", "valley")]

SENDER_NETS = {
    "google": ["209.85.{}.{}", "74.125.{}.{}", "108.177.{}.{}"],
    "microsoft": ["40.107.{}.{}", "52.100.{}.{}", "2a01:111:f403:{:x}::{:x}"],
    "stalwart": ["185.{}.{}.7"],
    "mailru": ["94.100.{}.{}", "217.69.{}.{}"],
}
RESULT_TYPES = ["certificate-expired", "validation-failure", "certificate-host-mismatch",
                "starttls-not-supported", "sts-policy-fetch-error", "certificate-not-trusted",
                "tlsa-invalid", "dnssec-invalid"]


def ip(rng, sender):
    pattern = rng.choice(SENDER_NETS[sender])
    return pattern.format(rng.randrange(1, 255), rng.randrange(1, 255))


def sts_policy(rng, domain):
    mxs = [f"mx{k}.{domain}" for k in range(1, rng.randrange(2, 5))]
    return {"policy-type": "sts",
            "policy-string": ["version: STSv1", f"mode: {rng.choice(['enforce', 'testing'])}",
                              *[f"mx: {m}" for m in mxs], f"max_age: {rng.choice([86400, 604800, 1209600])}"],
            "policy-domain": domain, "mx-host": mxs}


def tlsa_policy(rng, domain):
    return {"policy-type": "tlsa",
            "policy-string": [f"3 1 1 {rng.getrandbits(256):064X}", f"3 1 1 {rng.getrandbits(256):064X}"],
            "policy-domain": domain}


def failures(rng, sender, domain, failed):
    out = []
    left = failed
    while left > 0 and len(out) < 6:
        n = left if len(out) == 5 else rng.randrange(1, left + 1)
        left -= n
        fd = {"result-type": rng.choice(RESULT_TYPES), "sending-mta-ip": ip(rng, sender),
              "receiving-mx-hostname": f"mx1.{domain}", "receiving-ip": f"192.0.2.{rng.randrange(1, 255)}",
              "failed-session-count": n}
        if rng.random() < 0.3:
            fd["additional-information"] = f"https://{domain}/tlsrpt/failure-{rng.randrange(10**6)}"
        if rng.random() < 0.3:
            fd["failure-reason-code"] = rng.choice(["X509_V_ERR_CERT_HAS_EXPIRED", "X509_V_ERR_HOSTNAME_MISMATCH",
                                                    "TLSA_NO_MATCH"])
        out.append(fd)
    return out


def policy_entry(rng, sender, domain):
    kind = rng.random()
    if kind < 0.55:
        pol = sts_policy(rng, domain)
    elif kind < 0.85:
        pol = tlsa_policy(rng, domain)
    else:
        pol = {"policy-type": "no-policy-found", "policy-domain": domain}
    ok = rng.randrange(0, 5000)
    failed = rng.randrange(1, 40) if rng.random() < 0.45 else 0
    entry = {"policy": pol, "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failed:
        entry["failure-details"] = failures(rng, sender, domain, failed)
    return entry


def report(i, seed):
    rng = random.Random(seed * 1_000_003 + i)
    sender = rng.choice(["google", "google", "microsoft", "microsoft", "stalwart", "mailru"])
    domain = rng.choice(DOMAINS)
    day = 1 + i % 28
    start, end = f"2025-02-{day:02d}T00:00:00Z", f"2025-02-{day:02d}T23:59:59Z"
    while True:
        policies = [policy_entry(rng, sender, domain) for _ in range(rng.randrange(1, 4))]
        if sender == "google":
            # Google's ids are "<start>_<domain>"; the suffix keeps every report unique.
            r = {"organization-name": "Google Inc.", "date-range": {"start-datetime": start, "end-datetime": end},
                 "contact-info": "smtp-tls-reporting@google.com", "report-id": f"{start}_{domain}_{i}",
                 "policies": policies}
        elif sender == "microsoft":
            r = {"organization-name": "Microsoft Corporation",
                 "date-range": {"start-datetime": start, "end-datetime": end},
                 "contact-info": "tlsrpt-noreply@microsoft.com",
                 "report-id": f"{133316476496435051 + i}+{domain}", "policies": policies}
        elif sender == "stalwart":
            r = {"organization-name": "mail.sender.example", "date-range": {"start-datetime": start, "end-datetime": end},
                 "contact-info": "postmaster@mail.sender.example", "report-id": f"{rng.getrandbits(64)}{i}@mail.sender.example",
                 "policies": policies}
        else:
            r = {"organization-name": "Mail.Ru", "date-range": {"start-datetime": start, "end-datetime": end},
                 "contact-info": "tlsrpt@mail.ru", "report-id": f"{i}{rng.getrandbits(40)}.{domain}",
                 "policies": policies}
        text = json.dumps(r, separators=(",", ":")).encode()
        if MIN_JSON <= len(text) <= MAX_JSON:
            return gzip.compress(text, compresslevel=6, mtime=0), len(text)


def chunk(args):
    lo, hi, seed = args
    return [report(i, seed) for i in range(lo, hi)]


def main():
    # zlib allocates ~256 KiB per stream; above glibc's mmap threshold each one is a
    # fresh mmap with page faults, which makes gzip 10x slower here: keep them on the heap.
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "4194304"
        os.environ["MALLOC_TRIM_THRESHOLD_"] = "16777216"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--slices", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=8460)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    meta = {"format": FORMAT_VERSION, "count": a.count, "slices": a.slices, "seed": a.seed}
    meta_path = os.path.join(a.out, "meta.json")
    try:
        with open(meta_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in meta} == meta:
            print(f"reports: reusing {a.count} reports in {a.out}", file=sys.stderr)
            return
    except (OSError, ValueError):
        pass
    os.makedirs(a.out, exist_ok=True)
    step = 2000
    ranges = [(lo, min(lo + step, a.count), a.seed) for lo in range(0, a.count, step)]
    files = [open(os.path.join(a.out, f"bodies.{k}.bin"), "wb") for k in range(a.slices)]
    json_bytes = gz_bytes = 0
    i = 0
    with Pool(max(1, a.jobs)) as pool:
        for part in pool.imap(chunk, ranges):
            for body, n in part:
                files[i % a.slices].write(b"%d\n" % len(body) + body)
                json_bytes += n
                gz_bytes += len(body)
                i += 1
    for f in files:
        f.close()
    meta.update(avg_json_bytes=round(json_bytes / a.count), avg_gzip_bytes=round(gz_bytes / a.count))
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    print(f"reports: generated {a.count} reports in {a.out} (JSON {meta['avg_json_bytes']} B, "
          f"gzip {meta['avg_gzip_bytes']} B on average)", file=sys.stderr)


if __name__ == "__main__":
    main()
