#!/usr/bin/python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (files named hand-*), so what
each hostile seed is stays readable here. Seeds copied from tests/corpus and from the
external interop corpus (TLSRPT_CORPUS_DIR, not part of this repository) keep their
names; they are committed, so replaying them needs neither. libFuzzer's own finds are
never written into the committed folders (tests/fuzz/run_fuzzers.sh fuzzes a scratch copy).
Usage: tests/fuzz/make_seeds.py   (rewrites the hand-* files; review the diff)"""
import base64
import gzip
import io
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def gz(data, mtime=0):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=mtime) as f:
        f.write(data)
    return buf.getvalue()


def report(**over):
    r = {
        "organization-name": "Example Sender",
        "date-range": {"start-datetime": "2026-11-27T00:00:00Z", "end-datetime": "2026-11-27T23:59:59Z"},
        "contact-info": "tlsrpt@sender.example",
        "report-id": "2026-11-27T00:00:00Z_example.com",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce",
                                                               "mx: mx1.example.com", "max_age: 86400"],
                       "policy-domain": "example.com", "mx-host": ["mx1.example.com"]},
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": 2},
            "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                                 "receiving-mx-hostname": "mx1.example.com", "receiving-ip": "198.51.100.7",
                                 "failed-session-count": 2}],
        }],
    }
    r.update(over)
    return r


def js(obj):
    return json.dumps(obj).encode()


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "hand-" + name), "wb") as f:
        f.write(data)


def ingest_seeds():
    ok = js(report())
    t = "ingest"
    write(t, "valid.json", ok)
    write(t, "valid.json.gz", gz(ok))
    write(t, "multi-member.json.gz", gz(ok[:40]) + gz(ok[40:]))
    write(t, "trailing-garbage.json.gz", gz(ok) + b"\x00garbage")
    write(t, "truncated.json.gz", gz(ok)[:-9])
    bad_crc = bytearray(gz(ok))
    bad_crc[-8] ^= 0xFF
    write(t, "bad-crc.json.gz", bytes(bad_crc))
    write(t, "gzip-in-gzip.gz", gz(gz(ok)))
    write(t, "bomb-64k-zeros.gz", gz(b"0" * 65536))
    write(t, "bomb-spaces-then-report.gz", gz(b" " * 200000 + ok))
    write(t, "deep-nesting.json", b'{"x":' * 200 + b"1" + b"}" * 200)
    write(t, "deep-array.json", b"[" * 3000)
    write(t, "count-2p53.json", ok.replace(b'"total-successful-session-count": 10',
                                           b'"total-successful-session-count": 9007199254740992'))
    write(t, "count-2p53-minus-1.json", ok.replace(b'"total-successful-session-count": 10',
                                                   b'"total-successful-session-count": 9007199254740991'))
    write(t, "count-2p64.json", ok.replace(b'"failed-session-count": 2', b'"failed-session-count": 18446744073709551616'))
    write(t, "count-negative.json", ok.replace(b'"total-failure-session-count": 2', b'"total-failure-session-count": -2'))
    write(t, "count-1e999.json", ok.replace(b'"total-failure-session-count": 2', b'"total-failure-session-count": 1e999'))
    write(t, "count-fraction.json", ok.replace(b'"total-failure-session-count": 2', b'"total-failure-session-count": 2.5'))
    write(t, "nul-escape.json", ok.replace(b"Example Sender", b"Exa\\u0000mple"))
    write(t, "lone-surrogate.json", ok.replace(b"Example Sender", b"\\ud800x"))
    write(t, "invalid-utf8.json", ok.replace(b"Example Sender", b"Ex\xc3\x28\xff"))
    write(t, "raw-control.json", ok.replace(b"Example Sender", b"Ex\x01\x1b[2J"))
    write(t, "crlf-injection.json", ok.replace(b"Example Sender", b"a\\r\\nBcc: evil@x"))
    write(t, "duplicate-key.json", b'{"report-id":"a",' + ok[1:])
    write(t, "bom.json", b"\xef\xbb\xbf" + ok)
    write(t, "bom-only.json", b"\xef\xbb\xbf")
    write(t, "top-level-array.json", b"[" + ok + b"]")
    write(t, "trailing-bytes.json", ok + b"}}")
    write(t, "empty-object.json", b"{}")
    write(t, "date-inverted.json", js(report(**{"date-range": {"start-datetime": "2026-11-28T00:00:00Z",
                                                               "end-datetime": "2026-11-27T00:00:00Z"}})))
    write(t, "date-no-zone.json", js(report(**{"date-range": {"start-datetime": "2026-11-27T00:00:00",
                                                              "end-datetime": "2026-11-27T23:59:59.999+02:00"}})))
    write(t, "unknown-types.json", js(report(policies=[{
        "policy": {"policy-type": "invalid-policy-type", "policy-domain": "EXAMPLE.COM."},
        "summary": {"total-successful-session-count": 0, "total-failure-session-count": 1},
        "failure-details": [{"result-type": "future-thing", "failed-session-count": 1,
                             "additional-information": "https://x/" + "y" * 300}]}])))
    write(t, "idn-domain.json", js(report(policies=[{
        "policy": {"policy-type": "tlsa", "policy-string": ["3 1 1 abcd"], "policy-domain": "bücher.example"},
        "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}])))
    many = report()
    many["policies"][0]["failure-details"] = [dict(many["policies"][0]["failure-details"][0],
                                                   **{"sending-mta-ip": f"192.0.2.{i}"}) for i in range(12)]
    many["policies"][0]["summary"]["total-failure-session-count"] = 24
    write(t, "many-details.json", js(many))
    write(t, "many-policies.json", js(report(policies=[report()["policies"][0]] * 6)))
    mail = (b"From: reporter@sender.example\r\nSubject: Report Domain: example.com\r\n"
            b"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: sender.example\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            b"--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=r.json.gz\r\n\r\n" +
            base64.encodebytes(gz(ok)).replace(b"\n", b"\r\n") + b"--b--\r\n")
    write(t, "mail-gzip.eml", mail)
    write(t, "mbox-mail.eml", b"From reporter@sender.example Fri Nov 27 00:00:00 2026\n" + mail.replace(b"\r\n", b"\n"))


def mail_seeds():
    t = "mail"
    ok = js(report())
    head = (b"From: reporter@sender.example\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: example.com\r\n"
            b"Message-ID: <1@sender.example>\r\nDate: Fri, 27 Nov 2026 00:00:00 +0000\r\n"
            b"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: sender.example\r\nMIME-Version: 1.0\r\n")

    def part(ctype, body, extra=b"", cte=b"base64"):
        enc = base64.encodebytes(body).replace(b"\n", b"\r\n") if cte == b"base64" else body
        return (b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n" + extra +
                b"\r\n" + enc)

    def multipart(parts, boundary=b"b", ctype=b"multipart/report; report-type=tlsrpt"):
        out = b"Content-Type: " + ctype + b"; boundary=" + boundary + b"\r\n\r\n"
        for p in parts:
            out += b"--" + boundary + b"\r\n" + p + b"\r\n"
        return out + b"--" + boundary + b"--\r\n"

    write(t, "gzip-part.eml", head + multipart([part(b"text/plain", b"hi", cte=b"7bit"),
                                                part(b"application/tlsrpt+gzip", gz(ok),
                                                     b"Content-Disposition: attachment; filename=\"r.json.gz\"\r\n")]))
    write(t, "json-part-qp.eml", head + multipart([part(b"application/tlsrpt+json", ok.replace(b",", b",=\r\n"),
                                                        cte=b"quoted-printable")]))
    write(t, "label-mismatch.eml", head + multipart([part(b"application/tlsrpt+gzip", ok)]))
    write(t, "octet-stream-named.eml", head + multipart([part(b"application/octet-stream", gz(ok),
                                                              b"Content-Disposition: attachment; filename=x.json.gz\r\n")],
                                                        ctype=b"multipart/mixed"))
    write(t, "two-reports.eml", head + multipart([part(b"application/json", ok), part(b"application/tlsrpt+json", ok)]))
    write(t, "path-filename.eml", head + multipart([part(b"application/tlsrpt+json", ok,
                                                         b"Content-Disposition: attachment; filename=\"../../etc/x\"\r\n")]))
    write(t, "not-gzip.eml", head + multipart([part(b"application/tlsrpt+gzip", b"\x1f\x8bnot really gzip")]))
    write(t, "broken-base64.eml", head + multipart([part(b"application/tlsrpt+gzip", b"", cte=b"base64") +
                                                    b"!!!!====****\r\nAAAA=AAA\r\n"]))
    write(t, "no-closing-boundary.eml", head + multipart([part(b"application/tlsrpt+json", ok)])[:-9])
    write(t, "feedback-report.eml", head + multipart([part(b"message/feedback-report", b"Feedback-Type: abuse\r\n",
                                                           cte=b"7bit"), part(b"application/json", ok)],
                                                     ctype=b"multipart/report; report-type=feedback-report"))
    inner = head + multipart([part(b"application/tlsrpt+json", ok)], boundary=b"inner")
    write(t, "forwarded-rfc822.eml", head + multipart([part(b"text/plain", b"fwd", cte=b"7bit"),
                                                       b"Content-Type: message/rfc822\r\n\r\n" + inner],
                                                      ctype=b"multipart/mixed"))
    nested = part(b"application/tlsrpt+json", ok)
    for i in range(12):
        nested = multipart([nested], boundary=b"n%d" % i, ctype=b"multipart/mixed")
    write(t, "nested-12.eml", head + nested)
    write(t, "many-parts.eml", head + multipart([part(b"text/plain", b"x", cte=b"7bit")] * 120 +
                                                [part(b"application/tlsrpt+json", ok)], ctype=b"multipart/mixed"))
    write(t, "encoded-words.eml",
          b"From: =?UTF-8?Q?evil=0ABcc=3A_x=40y?= <a@b>\r\nSubject: =?UTF-8?B?" +
          base64.b64encode("r\u00e9port\x1b[2J\r\nBcc: x".encode()) + b"?=\r\n"
          b"TLS-Report-Domain: =?UTF-8?Q?b=C3=BCcher=00.example?=\r\nTLS-Report-Submitter: \t folded\r\n  value\r\n"
          b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=tlsrpt;\r\n\tb=abc\r\n"
          b"Authentication-Results: mx.example.com; dkim=pass header.d=sender.example header.s=tlsrpt\r\n"
          b"MIME-Version: 1.0\r\n" + multipart([part(b"application/tlsrpt+json", ok)]))
    write(t, "long-content-type.eml", head + multipart([part(b"application/tlsrpt+" + b"x" * 300 + b"; name=a.json", ok)]))
    write(t, "weird-content-type.eml", head + multipart([part(b"application/tlsrpt\x01+json", ok)]))
    write(t, "no-body.eml", head)
    write(t, "header-only-no-colon.eml", b"not a mail at all\r\n\r\n" + ok)
    write(t, "mbox.eml", b"From x@y Thu Jan  1 00:00:00 1970\n" + (head + multipart([part(b"application/tlsrpt+json", ok)])).replace(b"\r\n", b"\n"))
    write(t, "single-part.eml", head + b"Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
          base64.encodebytes(gz(ok)))
    write(t, "bare-lf-cr.eml", (head + multipart([part(b"application/tlsrpt+json", ok)])).replace(b"\r\n", b"\r"))


def record_seeds():
    t = "record"
    for name, text in [
        ("valid", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"),
        ("valid-two", "v=TLSRPTv1;rua=mailto:a@example.com,https://reports.example.com/v1/tlsrpt"),
        ("wsp-version", "v=TLSRPTv1 ; rua=mailto:a@example.com"),
        ("repeated-rua", "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.net/"),
        ("trailing-semicolon", "v=TLSRPTv1; rua=mailto:a@example.com;"),
        ("double-semicolon", "v=TLSRPTv1;; rua=mailto:a@example.com"),
        ("http-and-mailto", "v=TLSRPTv1; rua=http://r.example.com/,mailto:a@example.com"),
        ("only-http", "v=TLSRPTv1; rua=http://r.example.com/"),
        ("upper-scheme", "v=TLSRPTv1; rua=MAILTO:a@example.com"),
        ("ext", "v=TLSRPTv1; rua=mailto:a@example.com; foo=bar"),
        ("raw-semicolon-uri", "v=TLSRPTv1; rua=mailto:a@example.com;x@example.com"),
        ("percent", "v=TLSRPTv1; rua=mailto:a%2Cb%3B@example.com,https://r.example.com/a%20b?x=1%21"),
        ("quoted", "\"v=TLSRPTv1; rua=mailto:a@example.com\""),
        ("version-not-first", "rua=mailto:a@example.com; v=TLSRPTv1"),
        ("version-only", "v=TLSRPTv1;"),
        ("tab", "v=TLSRPTv1;\trua=mailto:a@example.com\t,\tmailto:b@example.com"),
        ("ip-literal", "v=TLSRPTv1; rua=mailto:a@[192.0.2.1],https://[2001:db8::1]/"),
        ("long", "v=TLSRPTv1; rua=" + ",".join(f"mailto:r{i}@example.com" for i in range(20))),
        ("set-two", "v=TLSRPTv1; rua=mailto:a@example.com\nv=TLSRPTv1; rua=mailto:b@example.com\nv=spf1 -all"),
        ("set-lookalike", "v=spf1 -all\nv=tlsrptv1; rua=mailto:a@example.com\nV=TLSRPTv1;rua=mailto:x@example.com"),
        ("gen-basic", "example.com\nmailto:tlsrpt@example.com\nhttps://reports.example.com/tlsrpt"),
        ("gen-bare-address", "_smtp._tls.Example.COM.\ntls-reports@example.com\nmailto:a,b@example.com"),
        ("gen-idn", "bücher.example\nmailto:rép@bücher.example?subject=TLS report;x\nhttps://bücher.example:8443/a b/ü"),
        ("gen-bad", "192.0.2.1\nhttp://x.example/\nftp://y\nhttps://u:p@h.example/\nhttps://h.example:0/"),
        ("gen-quoted-local", "example.org\nmailto:\"a b\"@example.org\nmailto:%22x%40y%22@example.org"),
    ]:
        write(t, name, text.encode())
    write(t, "nonascii", "v=TLSRPTv1; rua=mailto:ü@example.com\x00".encode())


def http_seeds():
    t = "http_request"
    ok = js(report())
    gzok = gz(ok)

    def post(body, ctype=b"application/tlsrpt+json", path=b"/", extra=b"", length=True):
        h = b"POST " + path + b" HTTP/1.1\r\nHost: mx.example.com\r\nContent-Type: " + ctype + b"\r\n" + extra
        if length:
            h += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        return h + b"\r\n" + body

    def chunked(body, n=100):
        out = b""
        for i in range(0, len(body), n):
            c = body[i:i + n]
            out += b"%x;ext=1\r\n" % len(c) + c + b"\r\n"
        return out + b"0\r\nTrailer: x\r\n\r\n"

    # flags byte: 0x01 admin, 0x02 served domains, 0x04 small limits, 0x08 report path /tlsrpt
    write(t, "post-json", b"\x00" + post(ok))
    write(t, "post-gzip", b"\x00" + post(gzok, b"application/tlsrpt+gzip"))
    write(t, "post-content-encoding", b"\x00" + post(gz(gzok), b"application/tlsrpt+gzip", extra=b"Content-Encoding: gzip\r\n"))
    write(t, "post-chunked", b"\x00" + post(chunked(gzok), b"application/tlsrpt+gzip",
                                             extra=b"Transfer-Encoding: chunked\r\n", length=False))
    write(t, "post-domains", b"\x02" + post(ok))
    write(t, "post-other-domain", b"\x02" + post(ok.replace(b"example.com", b"example.net")))
    write(t, "post-small-too-large", b"\x04" + post(ok + b" " * 3000))
    write(t, "post-path", b"\x08" + post(ok, path=b"/tlsrpt?x=1"))
    write(t, "post-wrong-path", b"\x08" + post(ok))
    write(t, "pipelined", b"\x10" + post(ok) + post(gzok, b"application/gzip") +
          b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post(ok, b"text/plain"))
    write(t, "huge-length", b"\x00POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n")
    write(t, "expect-continue", b"\x00" + post(ok, extra=b"Expect: 100-continue\r\n"))
    write(t, "get-report", b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write(t, "admin-metrics", b"\x01GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nPOST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    write(t, "bad-encoding", b"\x00" + post(ok, extra=b"Content-Encoding: br\r\n"))
    write(t, "gzip-encoding-not-gzip", b"\x00" + post(ok, extra=b"Content-Encoding: gzip\r\n"))
    write(t, "both-length-and-chunked", b"\x00" + post(chunked(ok), extra=b"Transfer-Encoding: chunked\r\n"))
    write(t, "many-headers", b"\x04POST / HTTP/1.1\r\n" + b"X: y\r\n" * 400 + b"\r\n")
    write(t, "http10-keepalive", b"\x20" + post(ok).replace(b"HTTP/1.1", b"HTTP/1.0", 1) + post(ok))
    write(t, "bad-chunk", b"\x00" + post(b"fffffffffffffffff\r\nx", extra=b"Transfer-Encoding: chunked\r\n", length=False))
    write(t, "short-body", b"\x00POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\"")
    write(t, "mail-body", b"\x40" + post(b"From: a@b\r\nContent-Type: application/tlsrpt+json\r\n\r\n" + ok,
                                           b"application/octet-stream"))


if __name__ == "__main__":
    ingest_seeds()
    mail_seeds()
    record_seeds()
    http_seeds()
