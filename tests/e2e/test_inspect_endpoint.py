"""End to end: the inspection endpoint and web pages on `tlsrptd serve`
(README.md#inspection-endpoint):
GET /api/v1/inspect against a real DNS server (dnsmasq), 400 before any DNS query,
403 for names outside the public suffix list,
12 requests a minute per client then 429 with Retry-After, X-Forwarded-For ignored
unless from a trusted proxy, IPv6 /64 buckets (in a private network namespace), the
pages in headless Chromium with a screenshot kept under tests/artifacts/, and nothing
about the queried domain in the daemon's log."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from support import SOURCE, Daemon, Dnsmasq, TempDirTest, curl, main

CHROMIUM = shutil.which("chromium")
ARTIFACTS = os.path.join(SOURCE, "tests", "artifacts")


class InspectEndpoint(TempDirTest):
    def setUp(self):
        super().setUp()
        self.dns = Dnsmasq([("_smtp._tls.valid.example.com", "v=TLSRPTv1; rua=mailto:tlsrpt@valid.example.com"),
                            ("_smtp._tls.typo.example.com", "v=TLSRPTV1; rua=mailto:x@typo.example.com"),
                            ("_smtp._tls.intranet.corp", "v=TLSRPTv1; rua=mailto:internal-team@intranet.corp")],
                           local=("example.com", "corp"))
        self.d = Daemon(self.tmp, sections=(f'[inspect]\nenabled = true\ntrusted_proxies = ["127.0.0.9"]\n'
                                            f'[dns]\nservers = ["{self.dns.server}"]\ntimeout = "2s"\n')).start()

    def tearDown(self):
        try:
            self.assertEqual(self.d.stop(), 0, self.d.read_log())
            log = self.d.read_log()
            # The endpoint never logs the queried domain or the result.
            for secret in ["valid.example.com", "typo.example.com", "nxdomain-here.example.com", "TLSRPTv1",
                           "intranet.corp"]:
                self.assertNotIn(secret, log)
        finally:
            self.dns.stop()
            super().tearDown()

    def api(self, domain, *extra):
        status, hdrs, body = curl(self.d.url(f"/api/v1/inspect?domain={domain}"), extra=list(extra))
        return status, hdrs, body

    def test_api_answers_and_refuses_bad_names_before_dns(self):
        status, hdrs, body = self.api("valid.example.com")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["domain"], "valid.example.com")
        self.assertTrue(doc["valid"])
        self.assertEqual(doc["records"], ["v=TLSRPTv1; rua=mailto:tlsrpt@valid.example.com"])
        self.assertIn("default-src 'none'", hdrs["content-security-policy"])
        status, _, body = self.api("typo.example.com")
        self.assertEqual(status, 200)
        self.assertFalse(json.loads(body)["valid"])
        for bad in ["192.0.2.1", "a..b", "_x.example", "x" * 64 + ".test", ("abc." * 64) + "x"]:
            status, _, body = self.api(bad)
            self.assertEqual(status, 400, (bad, body))
        # A report POST still works on the same listener.
        report = (b'{"organization-name":"O","date-range":{"start-datetime":"2026-01-01T00:00:00Z",'
                  b'"end-datetime":"2026-01-02T00:00:00Z"},"report-id":"x","policies":[]}')
        self.assertEqual(curl(self.d.url(), report, "application/json")[0], 200)

    def test_private_names_get_403_and_nothing_internal(self):
        for i, name in enumerate(["intranet.corp", "host.local", "x.internal", "nas.lan", "router.home.arpa"]):
            status, hdrs, body = self.api(name, "--interface", f"127.0.0.{40 + i}")
            self.assertEqual(status, 403, (name, body))
            self.assertIn("public domain names", json.loads(body)["error"])
            self.assertNotIn(b"internal-team", body)
        status, _, body = curl(self.d.url("/inspect?domain=intranet.corp"))
        self.assertEqual(status, 403)
        self.assertIn(b"public suffix list", body)
        self.assertNotIn(b"internal-team", body)
        # The same dnsmasq answers for it: only the daemon's refusal kept it out.
        self.assertEqual(self.api("valid.example.com", "--interface", "127.0.0.46")[0], 200)

    def test_rate_limit_twelve_then_429(self):
        for i in range(12):
            status, _, body = self.api("nxdomain-here.example.com", "--interface", "127.0.0.2")
            self.assertIn(status, (200, 502), (i, body))
        status, hdrs, body = self.api("nxdomain-here.example.com", "--interface", "127.0.0.2")
        self.assertEqual(status, 429, body)
        self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
        # Invalid names count too (they are refused after the limit check).
        self.assertEqual(self.api("a..b", "--interface", "127.0.0.2")[0], 429)
        # Another address has its own bucket.
        self.assertEqual(self.api("valid.example.com", "--interface", "127.0.0.3")[0], 200)
        # A spoofed X-Forwarded-For from an untrusted peer changes nothing.
        self.assertEqual(self.api("valid.example.com", "--interface", "127.0.0.2", "-H",
                                  "X-Forwarded-For: 198.51.100.7")[0], 429)
        # From the trusted proxy, the forwarded address is the client.
        for i in range(12):
            self.assertNotEqual(self.api("valid.example.com", "--interface", "127.0.0.9", "-H",
                                         "X-Forwarded-For: 127.0.0.2, 198.51.100.8")[0], 429)
        self.assertEqual(self.api("valid.example.com", "--interface", "127.0.0.9", "-H",
                                  "X-Forwarded-For: 198.51.100.8")[0], 429)
        # The static pages are not rate-limited.
        self.assertEqual(curl(self.d.url("/"), extra=["--interface", "127.0.0.2"])[0], 200)

    @unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/deps.sh test installs it)")
    def test_pages_in_headless_chromium(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        profile = tempfile.mkdtemp(prefix="tlsrpt-chromium-")
        try:
            def browse(path, shot):
                args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--ignore-certificate-errors", f"--user-data-dir={profile}", "--window-size=1100,1000"]
                dom = subprocess.run(args + ["--dump-dom", self.d.url(path)], capture_output=True, timeout=90)
                subprocess.run(args + [f"--screenshot={os.path.join(ARTIFACTS, shot)}", self.d.url(path)],
                               capture_output=True, timeout=90)
                return dom.stdout.decode(errors="replace")

            dom = browse("/generate?domain=example.com&rua=mailto%3Atlsrpt%40example.com&provider=cloudflare",
                         "inspect-generate.png")
            self.assertIn("v=TLSRPTv1; rua=mailto:tlsrpt@example.com", dom)
            self.assertIn("_smtp._tls.example.com", dom)
            dom = browse("/inspect?domain=valid.example.com", "inspect-result.png")
            self.assertIn("v=TLSRPTv1; rua=mailto:tlsrpt@valid.example.com", dom)
            self.assertNotIn("<script", dom)
            self.assertTrue(os.path.getsize(os.path.join(ARTIFACTS, "inspect-result.png")) > 1000)
        finally:
            shutil.rmtree(profile, ignore_errors=True)


NETNS_SCRIPT = r"""
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from support import Daemon, Dnsmasq, curl
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for a in ["2001:db8:1::1/64", "2001:db8:1::2/64", "2001:db8:2::1/64"]:
    subprocess.run(["ip", "-6", "addr", "add", a, "dev", "lo", "nodad"], check=True)
work = sys.argv[2]
dns = Dnsmasq([("_smtp._tls.valid.example.com", "v=TLSRPTv1; rua=mailto:tlsrpt@valid.example.com")], local=("example.com",))
d = Daemon(work, sections=f'[inspect]\nenabled = true\n[dns]\nservers = ["{dns.server}"]\n')
with open(d.config) as f:
    cfg = f.read().replace(f'listen = ["127.0.0.1:{d.port}"]', f'listen = ["127.0.0.1:{d.port}", "[::]:{d.port}"]')
with open(d.config, "w") as f:
    f.write(cfg)
d.start()
url = f"https://[2001:db8:1::1]:{d.port}/api/v1/inspect?domain=valid.example.com"
codes = {}
try:
    codes["first_12"] = [curl(url, extra=["--interface", "2001:db8:1::1"])[0] for _ in range(6)] + \
                        [curl(url, extra=["--interface", "2001:db8:1::2"])[0] for _ in range(6)]
    codes["same_64"] = curl(url, extra=["--interface", "2001:db8:1::2"])[0]
    codes["other_64"] = curl(url, extra=["--interface", "2001:db8:2::1"])[0]
finally:
    d.stop()
    dns.stop()
print(json.dumps(codes))
"""


class Ipv6Buckets(unittest.TestCase):
    def test_two_addresses_of_one_64_share_a_bucket(self):
        if os.geteuid() != 0 or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
            self.skipTest("needs a private network namespace (unshare -n as root)")
        work = tempfile.mkdtemp(prefix="tlsrpt-netns-")
        try:
            p = subprocess.run(["unshare", "-n", sys.executable, "-c", NETNS_SCRIPT, os.path.dirname(__file__), work],
                               capture_output=True, timeout=180, env=os.environ)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            codes = json.loads(p.stdout.decode().strip().splitlines()[-1])
            self.assertEqual(codes["first_12"], [200] * 12)
            self.assertEqual(codes["same_64"], 429)
            self.assertEqual(codes["other_64"], 200)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
