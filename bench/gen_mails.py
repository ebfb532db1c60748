#!/usr/bin/python3
"""Benchmark input for bench_smtp.sh: N unique, realistic TLS-RPT report mails
(RFC 8460 §5.3), DKIM-signed, in SMTP wire form. Never used by the daemon or tests.

Each mail wraps one report of gen_reports.py (same shapes, same seed, unique report-ids)
the way its sender mails it (see the external interop corpus, TLSRPT_CORPUS_DIR):
Google, Microsoft, Mail.ru and Stalwart-style headers, `multipart/report;
report-type=tlsrpt` with a short text part and the gzipped report as a base64
`application/tlsrpt+gzip` attachment named `submitter!domain!start!end!001.json.gz`,
TLS-Report-Domain and TLS-Report-Submitter, unique Message-IDs. Every mail carries a
DKIM signature (rsa-sha256, relaxed/relaxed, the TLS-Report-* headers signed, no l=) by
its sender's domain, made with one RSA-2048 key generated here; the key's TXT record is
written beside the mails, for a DNS server on loopback (bench_smtp.sh runs dnsmasq).
With `dkim = "off"` the daemon ignores the signature, so every run sends the same bytes.

Output in --out:
  mails.bin     records "<length> <envelope sender>\\n<message>": the message with CRLF
                line ends, dot-stuffed (RFC 5321 §4.5.2), ending in CRLF; the client
                adds ".\\r\\n"
  key.pem       the signing key;  dkim.txt  lines "<selector>._domainkey.<domain> <TXT value>"
  meta.json     what was generated; a second run with the same parameters reuses it
"""
import argparse
import base64
import datetime
import gzip
import hashlib
import json
import os
import subprocess
import sys
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reports  # noqa: E402  (the report generator of bench_https.sh)

FORMAT_VERSION = 1

# Per report shape: who mails it, as in the corpus (parsedmarc-1/mox-1 Google,
# mox-2 Microsoft, tlsrpt-rs-3 Mail.ru, mail-auth-4 RFC/Stalwart style).
SENDERS = {
    "Google Inc.": dict(
        submitter="google.com", dkim_domain="google.com", selector="20230601",
        from_="noreply-smtp-tls-reporting@google.com",
        envelope="3IDzYZhoKADcghkXier-lfmi-mel-kXihkmbgZZhhZeX.Vhf@smtp-tls-reporting.bounces.google.com",
        style="google"),
    "Microsoft Corporation": dict(
        submitter="microsoft.com", dkim_domain="microsoft.com", selector="selector2",
        from_="<tlsrpt-noreply@microsoft.com>", envelope="tlsrpt-noreply@microsoft.com", style="microsoft"),
    "Mail.Ru": dict(
        submitter="mail.ru", dkim_domain="corp.mail.ru", selector="mail4",
        from_="noreply-smtp-tls-reporting@corp.mail.ru", envelope="noreply-smtp-tls-reporting@corp.mail.ru",
        style="mailru"),
    "mail.sender.example": dict(
        submitter="mail.sender.example", dkim_domain="mail.sender.example", selector="default",
        from_="\"Report Subsystem\" <noreply-tls-reporting@mail.sender.example>",
        envelope="noreply-tls-reporting@mail.sender.example", style="rfc"),
}
# RFC 8460 §5.3: the TLS-Report-* headers SHOULD be signed (as tests/tools/dkim_tool.py).
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                  b"content-type", b"tls-report-domain", b"tls-report-submitter"]

_key = None  # (pem bytes, cryptography key), per worker process


def fast_rsa_sign(hash_obj, _parsed_key):
    """dkimpy's RSASSA-PKCS1-v1_5 in pure Python takes ~20 ms per signature here;
    the same signature (PKCS#1 v1.5 is deterministic) from OpenSSL takes ~1 ms."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils
    algo = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}[hash_obj.name]
    return _key[1].sign(hash_obj.digest(), padding.PKCS1v15(), utils.Prehashed(algo))


def init_worker(key_path):
    global _key
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    import dkim
    pem = open(key_path, "rb").read()
    _key = (pem, load_pem_private_key(pem, password=None))
    dkim.RSASSA_PKCS1_v1_5_sign = fast_rsa_sign


def wrap76(b64):
    return [b64[i:i + 76] for i in range(0, len(b64), 76)]


def build_mail(i, seed, recipient):
    import dkim
    gz, _ = gen_reports.report(i, seed)
    r = json.loads(gzip.decompress(gz))
    s = SENDERS[r["organization-name"]]
    domain = r["policies"][0]["policy"]["policy-domain"]
    start = r["date-range"]["start-datetime"]
    end = r["date-range"]["end-datetime"]
    t0 = int(datetime.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp())
    t1 = int(datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp())
    sent = datetime.datetime.fromtimestamp(t1 + 3600 + i % 7200, datetime.timezone.utc)
    date = sent.strftime("%a, %d %b %Y %H:%M:%S +0000")
    h = hashlib.sha256(f"{seed}/{i}".encode()).hexdigest()
    rid = r["report-id"]
    filename = f"{s['submitter']}!{domain}!{t0}!{t1}!001.json.gz"
    attachment = wrap76(base64.b64encode(gz).decode())

    if s["style"] == "google":
        boundary = "000000000000" + h[:16]
        head = [
            f"Date: {date}",
            f"TLS-Report-Domain: {domain}",
            "TLS-Report-Submitter: google.com",
            f"Message-ID: <{h[:8]}.050a0220.{h[8:13]}.{h[13:17]}tls@google.com>",
            f"Subject: Report Domain: {domain} Submitter: google.com Report-ID: <{rid}@google.com>",
            f"From: {s['from_']}",
            f"To: {recipient}",
            f"Content-Type: multipart/report; boundary=\"{boundary}\"; report-type=tlsrpt",
            "MIME-Version: 1.0",
        ]
        text = ["Content-Type: text/plain; charset=\"UTF-8\"; format=flowed; delsp=yes",
                "Content-Transfer-Encoding: base64", "",
                *wrap76(base64.b64encode(b"This is an aggregate TLS report from google.com\r\n").decode())]
        part = ["Content-Type: application/tlsrpt+gzip; ", f"\tname=\"{filename}\"",
                "Content-Disposition: attachment; ", f"\tfilename=\"{filename}\"",
                "Content-Transfer-Encoding: base64"]
        preamble = []
    elif s["style"] == "microsoft":
        boundary = f"_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}_"
        head = [
            f"From: {s['from_']}",
            f"To: \"{recipient}\" <{recipient}>",
            f"Date: {sent.strftime('%a, %-d %b %Y %H:%M:%S +0000')}",
            f"Subject: Report Domain: {domain} Submitter: microsoft.com Report-ID:",
            f" {rid}",
            f"TLS-Report-Domain: {domain}",
            "TLS-Report-Submitter: microsoft.com",
            "MIME-Version: 1.0",
            f"Message-ID: <{rid}@{domain}>",
            "Content-Type: multipart/report;",
            f"\tboundary=\"{boundary}\"; report-type=tlsrpt",
            "Return-Path: tlsrpt-noreply@microsoft.com",
            "X-MS-PublicTrafficType: Email",
            f"X-MS-Exchange-CrossTenant-Network-Message-Id: {h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:64]}",
            "X-OriginatorOrg: microsoft.com",
        ]
        text = ["Content-Type: text/plain; charset=\"us-ascii\"", "Content-Transfer-Encoding: quoted-printable", "",
                "This is an aggregate TLS report from microsoft.com"]
        part = [f"Content-Type: application/tlsrpt+gzip; name=\"{filename}\"",
                "Content-Description: TLS report", f"Content-Disposition: attachment; filename=\"{filename}\";",
                f"\tsize={len(gz)}; creation-date=\"{date}\"; modification-date=\"{date}\"",
                "Content-Transfer-Encoding: base64"]
        preamble = []
    else:  # Mail.ru and the RFC 8460 §5.3 layout Stalwart follows
        boundary = f"----=_NextPart_{int(h[:15], 16)}"
        head = [
            f"From: {s['from_']}",
            f"Date: {date}",
            f"To: {recipient}",
            "Subject: Report", f" Domain: {domain}", f" Submitter: {s['submitter']}", f" Report-ID: <{rid}>",
            "Auto-Submitted: auto-generated",
            f"TLS-Report-Domain: {domain}",
            f"TLS-Report-Submitter: {s['submitter']}",
            f"Message-Id: <{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}@{s['submitter']}>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=\"tlsrpt\";",
            f" boundary=\"{boundary}\"",
        ]
        text = ["Content-Type: text/plain; charset=\"us-ascii\"", "Content-Transfer-Encoding: 7bit", "",
                f"This is an aggregate TLS report from {s['submitter']}"]
        part = ["Content-Type: application/tlsrpt+gzip", "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment;", f"    filename=\"{filename}\""]
        preamble = ["This is a multipart message in MIME format.", ""]

    lines = head + [""] + preamble + [f"--{boundary}"] + text + ["", f"--{boundary}"] + part + [""] + \
        attachment + ["", f"--{boundary}--", ""]
    message = "\r\n".join(lines).encode()
    sig = dkim.sign(message, s["selector"].encode(), s["dkim_domain"].encode(), _key[0],
                    include_headers=[x for x in SIGNED_HEADERS], canonicalize=(b"relaxed", b"relaxed"))
    message = sig + message
    # RFC 5321 §4.5.2: a line starting with "." gets another one.
    wire = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in message.split(b"\r\n"))
    return s["envelope"], wire, len(gz)


def chunk(args):
    lo, hi, seed, recipient = args
    return [build_mail(i, seed, recipient) for i in range(lo, hi)]


def main():
    # As gen_reports.py: keep zlib's buffers on the heap (gzip is 10x slower otherwise).
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "4194304"
        os.environ["MALLOC_TRIM_THRESHOLD_"] = "16777216"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--recipient", default="tlsrpt@bench.example")
    ap.add_argument("--seed", type=int, default=8460)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    meta = {"format": FORMAT_VERSION, "report_format": gen_reports.FORMAT_VERSION, "count": a.count,
            "seed": a.seed, "recipient": a.recipient}
    meta_path = os.path.join(a.out, "meta.json")
    try:
        with open(meta_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in meta} == meta:
            print(f"mails: reusing {a.count} mails in {a.out}", file=sys.stderr)
            return
    except (OSError, ValueError):
        pass
    os.makedirs(a.out, exist_ok=True)
    key = os.path.join(a.out, "key.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    txt = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    with open(os.path.join(a.out, "dkim.txt"), "w") as f:
        for s in SENDERS.values():
            f.write(f"{s['selector']}._domainkey.{s['dkim_domain']} {txt}\n")

    step = 1000
    ranges = [(lo, min(lo + step, a.count), a.seed, a.recipient) for lo in range(0, a.count, step)]
    total = gz_total = 0
    lo_size, hi_size = 1 << 30, 0
    with open(os.path.join(a.out, "mails.bin.tmp"), "wb") as out, \
            Pool(max(1, a.jobs), initializer=init_worker, initargs=(key,)) as pool:
        for part in pool.imap(chunk, ranges):
            for envelope, wire, gz_len in part:
                out.write(b"%d %s\n" % (len(wire), envelope.encode()) + wire)
                total += len(wire)
                gz_total += gz_len
                lo_size, hi_size = min(lo_size, len(wire)), max(hi_size, len(wire))
    os.replace(os.path.join(a.out, "mails.bin.tmp"), os.path.join(a.out, "mails.bin"))
    meta.update(avg_mail_bytes=round(total / a.count), min_mail_bytes=lo_size, max_mail_bytes=hi_size,
                avg_gzip_bytes=round(gz_total / a.count))
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    print(f"mails: generated {a.count} signed mails in {a.out} ({meta['avg_mail_bytes']} B on average, "
          f"{lo_size}-{hi_size})", file=sys.stderr)


if __name__ == "__main__":
    main()
