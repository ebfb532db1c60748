"""End to end: `tlsrptd serve` on loopback, driven by curl (and Python's ssl sockets
for what curl cannot do): RFC 8460 §5.4 POSTs, every status of the reply table,
keep-alive, HTTP/1.0, kill -9 right after a 200, SIGTERM under load.

The reports posted are this repository's own (tests/corpus). Extra run (InteropHttps,
`--interop`, ctest e2e.test_https.interop): every report of the external interop
corpus (TLSRPT_CORPUS_DIR, not part of this repository); skipped, saying so, where it
is not set or absent."""
import gzip
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

from support import CORPUS, QUIRKS, Daemon, TempDirTest, curl, main, sql, tlsrptd


def read(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


def quirk(name):
    """A file of tests/corpus (support.QUIRKS), this repository's own reports."""
    return read(QUIRKS, name)


def report(report_id, ok=5, failed=0, domain="example.com", org="Sender Inc."):
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
        "contact-info": "tlsrpt@sender.example", "report-id": report_id,
        "policies": [{"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce",
                                                                           f"mx: mx.{domain}", "max_age: 86400"],
                                 "policy-domain": domain},
                      "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}],
    }).encode()


def tls_client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HttpsDaemonTest(TempDirTest):
    """A daemon with short deadlines and a per-client connection cap, per test."""

    def setUp(self):
        super().setUp()
        self.d = Daemon(self.tmp, extra_config='header_timeout = "1s"\nrequest_timeout = "2s"\nidle_timeout = "2s"\n'
                                              'max_connections_per_client = 6\n').start()

    def tearDown(self):
        self.assertEqual(self.d.stop(), 0, self.d.read_log())
        super().tearDown()

    def count(self, where="1=1"):
        return sql(self.d.db, f"SELECT count(*) AS n FROM reports WHERE {where}", service=True)[0]["n"]

    def post_every_report(self, folder, rejected):
        """Every .json and .json.gz of `folder` as application/octet-stream (sniffed):
        200 (stored, duplicate or conflict), 400 for the one file `rejected`."""
        names = sorted(f for f in os.listdir(folder) if f.endswith(".json") or f.endswith(".json.gz"))
        self.assertIn(rejected, names)
        for name in names:
            status, _, body = curl(self.d.url(), read(folder, name), "application/octet-stream")
            want = 400 if name == rejected else 200
            self.assertEqual(status, want, (name, body))


class HttpsEndpoint(HttpsDaemonTest):
    def test_corpus_reports_gzip_and_json(self):
        # microsoft-gzip-file.json.gz: example.com sts 2/0; microsoft-tlsa-packed-in-string.json:
        # example.net sts 12/0 and mx.example.net tlsa 12/0; socketlabs-receiving-mx-host-name.json:
        # example.org sts 0/2; rfc8460-tlsa-semicolon-list.json: mx.example.com tlsa 5/0.
        for name in ["microsoft-gzip-file.json.gz", "microsoft-tlsa-packed-in-string.json",
                     "socketlabs-receiving-mx-host-name.json", "rfc8460-tlsa-semicolon-list.json"]:
            ctype = "application/tlsrpt+gzip" if name.endswith(".gz") else "application/tlsrpt+json"
            status, hdrs, body = curl(self.d.url(), quirk(name), ctype)
            self.assertEqual(status, 200, (name, body))
            self.assertEqual(json.loads(body)["status"], "stored")
        rows = sql(self.d.db, "SELECT policy_domain, policy_type, successful_sessions, failed_sessions FROM policy_daily "
                              "ORDER BY 1, 2", service=True)
        self.assertEqual(rows, [
            {"policy_domain": "example.com", "policy_type": "sts", "successful_sessions": 2, "failed_sessions": 0},
            {"policy_domain": "example.net", "policy_type": "sts", "successful_sessions": 12, "failed_sessions": 0},
            {"policy_domain": "example.org", "policy_type": "sts", "successful_sessions": 0, "failed_sessions": 2},
            {"policy_domain": "mx.example.com", "policy_type": "tlsa", "successful_sessions": 5, "failed_sessions": 0},
            {"policy_domain": "mx.example.net", "policy_type": "tlsa", "successful_sessions": 12, "failed_sessions": 0}])
        self.assertEqual(sql(self.d.db, "SELECT DISTINCT transport FROM reports", service=True), [{"transport": "https"}])

    def test_every_quirk_report_over_https(self):
        # tests/corpus holds copies (duplicates) and an edited copy (a conflict): both 200.
        self.post_every_report(QUIRKS, rejected="generic-start-after-end.json")

    def test_duplicate_is_a_success_counted_once(self):
        body = report("dup-1", ok=7)
        for want in ["stored", "duplicate", "duplicate"]:
            status, _, resp = curl(self.d.url(), body, "application/tlsrpt+json")
            self.assertEqual((status, json.loads(resp)["status"]), (200, want))
        status, _, resp = curl(self.d.url(), gzip.compress(body), "application/tlsrpt+gzip")
        self.assertEqual((status, json.loads(resp)["status"]), (200, "duplicate"))
        self.assertEqual(self.count(), 1)
        self.assertEqual(sql(self.d.db, "SELECT successful_sessions FROM policy_daily", service=True)[0]["successful_sessions"], 7)

    def test_status_table(self):
        # 400 with the field path.
        bad = json.dumps({"organization-name": "O", "date-range": {"start-datetime": "2026-01-01T00:00:00Z",
                          "end-datetime": "2026-01-02T00:00:00Z"}, "report-id": "x",
                          "policies": [{"policy": {"policy-type": "sts"}}]}).encode()
        status, _, body = curl(self.d.url(), bad, "application/tlsrpt+json")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body), {"status": "malformed", "error": "missing \"summary\"", "where": "policies[0]"})
        status, _, body = curl(self.d.url(), b"not json at all", "application/json")
        self.assertEqual(status, 400)
        # 415: other media types and encodings.
        status, _, body = curl(self.d.url(), report("m1"), "text/html")
        self.assertEqual(status, 415, body)
        status, _, body = curl(self.d.url(), report("m1"), "application/json", headers=["Content-Encoding: br"])
        self.assertEqual(status, 415, body)
        # 405 with Allow, 404.
        status, hdrs, _ = curl(self.d.url())
        self.assertEqual((status, hdrs.get("allow")), (405, "POST"))
        status, hdrs, _ = curl(self.d.url(), report("m1"), "application/json", method="PUT")
        self.assertEqual(status, 405)
        status, _, _ = curl(self.d.url("/other"), report("m1"), "application/json")
        self.assertEqual(status, 404)
        # 413: by the decompression cap (a gzip bomb: 64 MiB of zeros).
        bomb = gzip.compress(b"\0" * (64 << 20), 9)
        status, _, body = curl(self.d.url(), bomb, "application/tlsrpt+gzip")
        self.assertEqual(status, 413, body)
        # Missing Content-Type and application/octet-stream are sniffed.
        status, _, body = curl(self.d.url(), gzip.compress(report("sniff-1")), None, headers=["Content-Type:"])
        self.assertEqual(status, 200, body)
        status, _, body = curl(self.d.url(), report("sniff-2"), "application/octet-stream")
        self.assertEqual(status, 200, body)
        # Content-Encoding: gzip over tlsrpt+json and over tlsrpt+gzip.
        status, _, body = curl(self.d.url(), gzip.compress(report("ce-1")), "application/tlsrpt+json",
                               headers=["Content-Encoding: gzip"])
        self.assertEqual(status, 200, body)
        status, _, body = curl(self.d.url(), gzip.compress(gzip.compress(report("ce-2"))), "application/tlsrpt+gzip",
                               headers=["Content-Encoding: gzip"])
        self.assertEqual(status, 200, body)
        self.assertEqual(self.count(), 4)
        # Nothing partial from the failures.
        self.assertEqual(self.count("report_id IN ('x', 'm1')"), 0)

    def test_oversized_content_length_is_refused_before_the_body(self):
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with tls_client_context().wrap_socket(raw) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+gzip\r\n"
                          b"Content-Length: 2147483648\r\n\r\n")
                s.settimeout(5)
                reply = s.recv(4096)
                self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply)
                self.assertIn(b"Connection: close", reply)

    def test_expect_100_continue_with_a_huge_length_gets_413_not_100(self):
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with tls_client_context().wrap_socket(raw) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Expect: 100-continue\r\nContent-Length: 50000000\r\n\r\n")
                s.settimeout(5)
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 413 "))

    def test_keep_alive_several_reports_on_one_connection(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, context=tls_client_context(), timeout=10)
        for i in range(5):
            conn.request("POST", "/", body=report(f"ka-{i}"), headers={"Content-Type": "application/tlsrpt+json"})
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["status"], "stored")
        self.assertEqual(conn.sock is not None, True)
        conn.close()
        self.assertEqual(self.count(), 5)
        m = curl(self.d.admin("/metrics"))[2].decode()
        self.assertIn('tlsrptd_connections_total{listener="https"} 1', m)

    def test_http_1_0(self):
        status, hdrs, body = curl(self.d.url(), report("h10"), "application/tlsrpt+json", extra=["--http1.0"])
        self.assertEqual(status, 200, body)
        self.assertEqual(self.count(), 1)

    def test_slow_headers_are_cut_off(self):
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with tls_client_context().wrap_socket(raw) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
                s.settimeout(10)
                t0 = time.monotonic()
                data = s.recv(100)  # closed by the 1 s header deadline
                self.assertLess(time.monotonic() - t0, 8)
                self.assertEqual(data, b"")
        self.assertEqual(curl(self.d.url(), report("after-slow"), "application/json")[0], 200)

    def test_slow_body_is_cut_off_and_nothing_stored(self):
        body = report("slow-body")
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with tls_client_context().wrap_socket(raw) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                          str(len(body)).encode() + b"\r\n\r\n" + body[:10])
                s.settimeout(10)
                t0 = time.monotonic()
                for _ in range(8):  # a byte now and then does not extend the deadline
                    try:
                        s.sendall(body[10:11])
                    except OSError:
                        break
                    time.sleep(0.4)
                data = s.recv(100)
                self.assertEqual(data, b"")
                self.assertLess(time.monotonic() - t0, 9)
        self.assertEqual(self.count(), 0)

    def test_tls_garbage_and_old_protocols(self):
        for junk in [b"\x16\x03\x01\x00\x05hello", os.urandom(2048), b"GET / HTTP/1.1\r\n\r\n",
                     b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"]:  # SSLv2-style hello
            with socket.create_connection(("127.0.0.1", self.d.port)) as s:
                s.settimeout(5)
                try:
                    s.sendall(junk)
                    s.recv(100)
                except OSError:
                    pass
        for proto in ["-tls1", "-tls1_1"]:
            p = subprocess.run(["openssl", "s_client", proto, "-connect", f"127.0.0.1:{self.d.port}"],
                               input=b"", capture_output=True, timeout=20)
            self.assertNotEqual(p.returncode, 0, proto)
        p = subprocess.run(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{self.d.port}"],
                           input=b"", capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        # TLS 1.2 renegotiation ("R" in s_client) is refused.
        p = subprocess.run(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{self.d.port}"],
                           input=b"R\n", capture_output=True, timeout=20)
        self.assertNotIn(b"RENEGOTIATING\nverify return", p.stdout + p.stderr)
        self.assertEqual(curl(self.d.url(), report("after-garbage"), "application/json")[0], 200)

    def test_per_client_connection_cap(self):
        held = []
        try:
            for _ in range(6):
                held.append(socket.create_connection(("127.0.0.1", self.d.port)))
            time.sleep(0.3)
            extra = socket.create_connection(("127.0.0.1", self.d.port))
            extra.settimeout(5)
            self.assertEqual(extra.recv(10), b"")  # closed at accept
            extra.close()
            # Another client address is not affected.
            status, _, _ = curl(self.d.url(), report("other-client"), "application/json",
                                extra=["--interface", "127.0.0.2"])
            self.assertEqual(status, 200)
        finally:
            for s in held:
                s.close()
        m = curl(self.d.admin("/metrics"))[2].decode()
        self.assertIn('tlsrptd_connections_refused_total{listener="https",reason="max_connections_per_client"}', m)

    def test_healthz_and_metrics(self):
        self.assertEqual(curl(self.d.url("/healthz"))[0], 404)  # the admin listener only
        status, hdrs, body = curl(self.d.admin("/healthz"))
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
        curl(self.d.url(), report("m-1", ok=11, failed=2), "application/json")
        curl(self.d.url(), b"{}", "application/json")
        status, hdrs, body = curl(self.d.admin("/metrics"))
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        self.assertIn('tlsrptd_reports_total{channel="https",outcome="stored",reason="stored"} 1', text)
        self.assertIn('tlsrptd_reports_total{channel="https",outcome="rejected",reason="malformed"} 1', text)
        self.assertIn('tlsrptd_sessions_total{policy_domain="example.com",result="successful"} 11', text)
        self.assertIn('tlsrptd_sessions_total{policy_domain="example.com",result="failed"} 2', text)
        self.assertIn("tlsrptd_store_commit_duration_seconds_count", text)
        self.assertIn('tlsrptd_open_connections{listener="https"}', text)
        self.assertEqual(curl(self.d.url("/metrics"))[0], 404)  # not on the public listener


class Domains(TempDirTest):
    def test_422_for_reports_of_other_domains(self):
        d = Daemon(self.tmp, top_config='domains = ["example.com"]').start()
        try:
            status, _, body = curl(d.url(), report("d1", domain="other.example"), "application/json")
            self.assertEqual(status, 422, body)
            self.assertEqual(curl(d.url(), report("d2", domain="example.com"), "application/json")[0], 200)
            self.assertEqual(curl(d.url(), report("d3", domain="mx1.example.com"), "application/json")[0], 200)
            self.assertEqual(curl(d.url(), report("d4", domain="badexample.com"), "application/json")[0], 422)
        finally:
            self.assertEqual(d.stop(), 0)


class StorageUnavailable(TempDirTest):
    def test_503_with_retry_after_while_the_database_is_locked(self):
        import sqlite3
        d = Daemon(self.tmp, top_config='[store]\nbusy_timeout = "200ms"\n').start()
        try:
            self.assertEqual(curl(d.url(), report("before-lock"), "application/json")[0], 200)
            holder = sqlite3.connect(d.db, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            status, hdrs, body = curl(d.url(), report("during-lock"), "application/json")
            self.assertEqual(status, 503, body)
            self.assertEqual(hdrs.get("retry-after"), "60")
            self.assertEqual(json.loads(body)["status"], "storage-unavailable")
            self.assertEqual(curl(d.admin("/healthz"))[0], 503)
            holder.execute("ROLLBACK")
            holder.close()
            # The sender retries and it is stored, once.
            self.assertEqual(curl(d.url(), report("during-lock"), "application/json")[0], 200)
            self.assertEqual(curl(d.admin("/healthz"))[0], 200)
            ids = [r["report_id"] for r in sql(d.db, "SELECT report_id FROM reports ORDER BY 1", service=True)]
            self.assertEqual(ids, ["before-lock", "during-lock"])
        finally:
            self.assertEqual(d.stop(), 0)


class Durability(TempDirTest):
    def test_kill_9_right_after_200_loses_nothing(self):
        d = Daemon(self.tmp).start()
        acked = []
        for i in range(20):
            status, _, _ = curl(d.url(), report(f"k9-{i}"), "application/tlsrpt+json")
            if status == 200:
                acked.append(f"k9-{i}")
        d.stop(signal.SIGKILL)
        self.assertEqual(len(acked), 20)
        d2 = Daemon.__new__(Daemon)
        d2.__dict__.update(d.__dict__)
        d2.start()  # restart needs no manual step
        try:
            ids = {r["report_id"] for r in sql(d2.db, "SELECT report_id FROM reports", service=True)}
            self.assertEqual(ids, set(acked))
            self.assertEqual(sql(d2.db, "PRAGMA integrity_check", service=True), [{"integrity_check": "ok"}])
            self.assertEqual(curl(d2.url(), report("k9-0"), "application/json")[2].count(b"duplicate"), 1)
        finally:
            self.assertEqual(d2.stop(), 0)

    def test_sigterm_under_load_acks_only_what_is_stored(self):
        d = Daemon(self.tmp).start()
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                rid = f"load-{n}-{i}"
                i += 1
                try:
                    conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=tls_client_context(), timeout=10)
                    conn.request("POST", "/", body=report(rid), headers={"Content-Type": "application/tlsrpt+json"})
                    r = conn.getresponse()
                    if r.status == 200:
                        with lock:
                            acked.append(rid)
                    conn.close()
                except (OSError, http.client.HTTPException):
                    time.sleep(0.01)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        time.sleep(2)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=30)
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join()
        d.logf.close()
        self.assertEqual(rc, 0, d.read_log())
        self.assertLess(elapsed, 12)
        self.assertGreater(len(acked), 5)
        stored = {r["report_id"] for r in sql(d.db, "SELECT report_id FROM reports", service=True)}
        self.assertTrue(set(acked) <= stored, set(acked) - stored)


class Startup(TempDirTest):
    def test_refuses_root_without_a_user(self):
        if os.geteuid() != 0:
            self.skipTest("only meaningful as root")
        p = tlsrptd("serve", "--db", self.path("x.sqlite"), cwd=self.tmp, timeout=20)
        self.assertEqual(p.returncode, 78)
        self.assertIn("refusing to run as root", p.stderr)

    def test_config_check_and_defaults(self):
        good = self.path("good.toml")
        with open(good, "w") as f:
            f.write('[https]\nlisten = ["[::1]:8443", "127.0.0.1:8443"]\npath = "/tlsrpt"\n')
        p = tlsrptd("config", "check", "--config", good)
        self.assertEqual((p.returncode, p.stdout), (0, f"using {good} (from --config)\nconfiguration OK\n"))
        bad = self.path("bad.toml")
        with open(bad, "w") as f:
            f.write('[https]\nlisten = ["localhost"]\n\npath = "no-slash"\nbogus = 1\n')
        p = tlsrptd("config", "check", "--config", bad)
        self.assertEqual(p.returncode, 78)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 3, p.stderr)
        self.assertTrue(lines[0].startswith(f"{bad}:2:"), lines[0])
        self.assertIn("is not an address:port", lines[0])
        self.assertTrue(lines[1].startswith(f"{bad}:4:"), lines[1])
        self.assertIn('unknown key "https.bogus"', lines[2])
        defaults = tlsrptd("config", "defaults", check=True).stdout
        for key in ["database = ", "[https]", "listen = [\"127.0.0.1:8443\"]", "certificate = \"var/tls/cert.pem\"",
                    "private_key = \"var/tls/key.pem\"", "path = \"/\"", "domains = []", "[admin]"]:
            self.assertIn(key, defaults)
        rt = self.path("defaults.toml")
        with open(rt, "w") as f:
            f.write(defaults)
        self.assertEqual(tlsrptd("config", "check", "--config", rt).returncode, 0)

    def test_port_in_use_is_a_clear_startup_error(self):
        d = Daemon(self.tmp).start()
        try:
            os.makedirs(self.path("second"))
            d2 = Daemon(self.path("second"), extra_config="")
            with open(d2.config) as f:
                cfg = f.read().replace(f"127.0.0.1:{d2.port}", f"127.0.0.1:{d.port}")
            with open(d2.config, "w") as f:
                f.write(cfg)
            p = tlsrptd("serve", "--config", d2.config, timeout=20)
            self.assertEqual(p.returncode, 71, p.stderr)
            self.assertIn(f"cannot listen on 127.0.0.1:{d.port}", p.stderr)
        finally:
            d.stop()


class InteropHttps(HttpsDaemonTest):
    interop = True

    def test_every_corpus_report_over_https(self):
        self.post_every_report(CORPUS, rejected="unattributed-4.json")  # start after end (publisher's edit)


if __name__ == "__main__":
    main()
