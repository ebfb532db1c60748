"""`tlsrptd record inspect` against real DNS servers on loopback.

dnsmasq (Debian's dnsmasq-base, started here with --txt-record, --mx-host, --dns-rr
and --cname) serves the zone; a few cases need answers dnsmasq cannot give (SERVFAIL,
silence, control bytes in a TXT string), for which a minimal UDP DNS responder runs
in a thread. Expected values were worked out by hand from RFC 8460 §3.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import free_udp_tcp_port  # noqa: E402  (ports outside the ephemeral range, locked per test)

TLSRPTD = os.environ.get("TLSRPTD", "tlsrptd")
DNSMASQ = "/usr/sbin/dnsmasq"

TLSA_HEX = "3F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D"

# (name, character-strings of one TXT record). dnsmasq splits its argument at commas
# into strings and keeps quotes literally, so no string here holds a comma, and the
# "quoted" case publishes literal quote characters on purpose.
ZONE_TXT = [
    ("_smtp._tls.valid.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@valid.test"]),
    ("_smtp._tls.two.test", ["v=TLSRPTv1; rua=mailto:a@two.test"]),
    ("_smtp._tls.two.test", ["v=TLSRPTv1;rua=https://reports.two.test/tlsrpt"]),
    ("_smtp._tls.multi.test", ["v=TLSRPTv1; rua=mailto:tls", "rpt@multi.test;", " rua=https://reports.multi.test/x"]),
    ("_smtp._tls.quoted.test", ['"v=TLSRPTv1; rua=mailto:tlsrpt@quoted.test"']),
    ("_smtp._tls.beside.test", ["v=spf1 -all"]),
    ("_smtp._tls.beside.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@beside.test"]),
    ("_smtp._tls.typo.test", ["v=TLSRPTV1; rua=mailto:tlsrpt@typo.test"]),
    ("_smtp._tls.full.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@full.test"]),
    ("_mta-sts.full.test", ["v=STSv1; id=20240601T000000"]),
    ("apex.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@apex.test"]),
    ("_smtp-tlsrpt.draft.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@draft.test"]),
    ("_smtp._tls.parent.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@parent.test"]),
    ("_smtp._tls.provider.test", ["v=TLSRPTv1; rua=https://provider.test/r"]),
    ("_smtp._tls.bang.test", ["v=TLSRPTv1; rua=mailto:tlsrpt@bang.test!10m"]),
    ("sub.parent.test", ["v=spf1 -all"]),  # makes sub.parent.test exist
]
ZONE_ARGS = [
    "--mx-host=valid.test,mx.valid.test,10",
    "--mx-host=full.test,mx1.full.test,10",
    "--mx-host=full.test,mx2.full.test,20",
    "--dns-rr=_25._tcp.mx1.full.test,52,030101" + TLSA_HEX,
    "--cname=_smtp._tls.cname.test,_smtp._tls.provider.test",
]


def closed_port():
    """A UDP port with nothing listening (ICMP port unreachable on loopback)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dns_query(name, qtype=16):
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


class MiniDns(threading.Thread):
    """A real, minimal UDP DNS server: mode "servfail" answers every query with
    SERVFAIL, "silent" never answers, "txt" answers TXT queries for `name` with
    `strings` (one record) and NXDOMAIN for everything else. Counts queries."""

    def __init__(self, mode, name=None, strings=None):
        super().__init__(daemon=True)
        self.mode, self.name, self.strings = mode, name, strings or []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            if self.mode == "silent" or len(data) < 12:
                continue
            self.sock.sendto(self.answer(data), peer)

    def answer(self, q):
        qid, flags = struct.unpack(">HH", q[:4])
        pos, labels = 12, []
        while q[pos] != 0:
            labels.append(q[pos + 1:pos + 1 + q[pos]].decode("ascii", "replace"))
            pos += 1 + q[pos]
        qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
        question = q[12:pos + 5]
        qname = ".".join(labels).lower()
        rd = flags & 0x0100
        if self.mode == "servfail":
            return struct.pack(">HHHHHH", qid, 0x8080 | rd | 2, 1, 0, 0, 0) + question
        if qtype == 16 and qname == self.name:
            rdata = b"".join(bytes([len(s)]) + s for s in self.strings)
            rr = struct.pack(">HHHIH", 0xC00C, 16, 1, 60, len(rdata)) + rdata
            return struct.pack(">HHHHHH", qid, 0x8480 | rd, 1, 1, 0, 0) + question + rr
        return struct.pack(">HHHHHH", qid, 0x8480 | rd | 3, 1, 0, 0, 0) + question

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


def run(*args, config=None):
    cmd = [TLSRPTD]
    if config:
        cmd += ["--config", config]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, timeout=60)


class RecordInspect(unittest.TestCase):
    dnsmasq = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(DNSMASQ):
            raise RuntimeError("dnsmasq is missing: scripts/deps.sh test installs dnsmasq-base")
        for _attempt in range(3):
            cls.port = free_udp_tcp_port()
            args = [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", f"--port={cls.port}",
                    "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                    "--pid-file=", "--local=/test/"]
            if os.geteuid() == 0:
                args += ["--user=root", "--group=root"]  # nothing to drop to in a minimal container
            for name, strings in ZONE_TXT:
                args.append("--txt-record=" + name + "," + ",".join(strings))
            args += ZONE_ARGS
            cls.dnsmasq = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if cls.wait_ready():
                return
            cls.dnsmasq.kill()
            cls.dnsmasq.wait()
        raise RuntimeError("dnsmasq did not start: " + cls.dnsmasq.stderr.read().decode(errors="replace"))

    @classmethod
    def wait_ready(cls):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            for _ in range(50):
                if cls.dnsmasq.poll() is not None:
                    return False
                s.sendto(dns_query("_smtp._tls.valid.test"), ("127.0.0.1", cls.port))
                try:
                    s.recvfrom(4096)
                    return True
                except socket.timeout:
                    continue
            return False
        finally:
            s.close()

    @classmethod
    def tearDownClass(cls):
        if cls.dnsmasq:
            cls.dnsmasq.terminate()
            try:
                cls.dnsmasq.wait(5)
            except subprocess.TimeoutExpired:
                cls.dnsmasq.kill()
                cls.dnsmasq.wait()
            cls.dnsmasq.stderr.close()

    def inspect(self, domain, *extra, resolver=None, config=None):
        args = ["record", "inspect", domain, "--format", "json"]
        if resolver is not False:
            args += ["--resolver", resolver or f"127.0.0.1:{self.port}"]
        p = run(*args, *extra, config=config)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            self.fail(f"not JSON (rc {p.returncode}): {p.stdout!r} {p.stderr!r}")
        return p.returncode, doc

    def assertHas(self, messages, needle):
        self.assertTrue(any(needle in m for m in messages), f"{needle!r} not in {messages!r}")

    # --- the record itself ------------------------------------------------------

    def test_valid(self):
        rc, d = self.inspect("valid.test")
        self.assertEqual(rc, 0, d)
        self.assertEqual(d["domain"], "valid.test")
        self.assertEqual(d["name"], "_smtp._tls.valid.test")
        self.assertEqual(d["status"], "answer")
        self.assertTrue(d["valid"])
        self.assertEqual(d["records"], ["v=TLSRPTv1; rua=mailto:tlsrpt@valid.test"])
        self.assertEqual([u["uri"] for u in d["rua"]], ["mailto:tlsrpt@valid.test"])
        self.assertEqual(d["rua"][0]["scheme"], "mailto")
        self.assertEqual(d["errors"], [])
        # The only warning: .test is not reachable from the internet.
        self.assertEqual(len(d["warnings"]), 1, d["warnings"])
        self.assertHas(d["warnings"], "top-level domain .test")
        self.assertEqual(d["rollout"]["stage"], "tlsrpt")
        self.assertEqual([h["host"] for h in d["mx"]["hosts"]], ["mx.valid.test"])

    def test_none_is_nxdomain(self):
        rc, d = self.inspect("none.test")
        self.assertEqual(rc, 65)
        self.assertEqual(d["status"], "nxdomain")
        self.assertFalse(d["valid"])
        self.assertEqual(d["records"], [])
        self.assertHas(d["errors"], "_smtp._tls.none.test does not exist (NXDOMAIN)")
        self.assertHas(d["errors"], "send no reports")
        self.assertEqual(d["rollout"]["stage"], "none")

    def test_two_records_mean_none(self):
        rc, d = self.inspect("two.test")
        self.assertEqual(rc, 65)
        self.assertEqual(d["status"], "answer")
        self.assertEqual(len(d["tlsrpt_records"]), 2)
        self.assertEqual(sorted(d["records"]), ["v=TLSRPTv1; rua=mailto:a@two.test",
                                                "v=TLSRPTv1;rua=https://reports.two.test/tlsrpt"])
        self.assertHas(d["errors"], "2 TXT records begin with \"v=TLSRPTv1;\"")
        self.assertEqual(d["rua"], [])

    def test_multi_string_record_is_joined_without_spaces(self):
        rc, d = self.inspect("multi.test")
        self.assertEqual(rc, 0, d)
        self.assertEqual(d["records"], ["v=TLSRPTv1; rua=mailto:tlsrpt@multi.test; rua=https://reports.multi.test/x"])
        self.assertEqual(d["strings"], [["v=TLSRPTv1; rua=mailto:tls", "rpt@multi.test;", " rua=https://reports.multi.test/x"]])
        self.assertEqual([u["uri"] for u in d["rua"]],
                         ["mailto:tlsrpt@multi.test", "https://reports.multi.test/x"])
        self.assertHas(d["warnings"], "rua= appears 2 times")

    def test_quotes_typed_into_the_record(self):
        rc, d = self.inspect("quoted.test")
        self.assertEqual(rc, 65)
        self.assertEqual(d["records"], ['"v=TLSRPTv1; rua=mailto:tlsrpt@quoted.test"'])
        self.assertHas(d["errors"], "begins with a quote character")

    def test_other_txt_beside_the_record_is_discarded(self):
        rc, d = self.inspect("beside.test")
        self.assertEqual(rc, 0, d)
        self.assertTrue(d["valid"])
        self.assertEqual(d["discarded"], ["v=spf1 -all"])
        self.assertEqual(d["tlsrpt_records"], ["v=TLSRPTv1; rua=mailto:tlsrpt@beside.test"])

    def test_version_typo(self):
        rc, d = self.inspect("typo.test")
        self.assertEqual(rc, 65)
        self.assertEqual(d["tlsrpt_records"], [])
        self.assertEqual(d["discarded"], ["v=TLSRPTV1; rua=mailto:tlsrpt@typo.test"])
        self.assertHas(d["errors"], "no TXT record begins with \"v=TLSRPTv1;\"")
        self.assertHas(d["errors"], "looks like TLS-RPT")
        self.assertHas(d["errors"], "case-sensitive")

    def test_invalid_single_record(self):
        rc, d = self.inspect("bang.test")
        self.assertEqual(rc, 65)
        self.assertEqual(len(d["tlsrpt_records"]), 1)
        self.assertHas(d["errors"], "must be written %21")
        self.assertEqual(d["rollout"]["stage"], "none")

    def test_cname_is_followed(self):  # RFC 8460 §3: a TXT lookup, so a CNAME is followed
        rc, d = self.inspect("cname.test")
        self.assertEqual(rc, 0, d)
        self.assertEqual(d["records"], ["v=TLSRPTv1; rua=https://provider.test/r"])

    def test_record_in_the_wrong_place(self):  # RFC 8460 §3: only _smtp._tls.<domain>
        rc, d = self.inspect("apex.test")
        self.assertEqual(rc, 65)
        self.assertHas(d["errors"], "a TLS-RPT record is published at apex.test itself")
        rc, d = self.inspect("draft.test")
        self.assertEqual(rc, 65)
        self.assertHas(d["errors"], "_smtp-tlsrpt.draft.test, the name of an early draft")

    def test_no_inheritance_from_the_parent(self):  # RFC 8460 §3: no fallback to a parent
        rc, d = self.inspect("sub.parent.test")
        self.assertEqual(rc, 65)
        self.assertHas(d["errors"], "records are not inherited")

    # --- the look-around ------------------------------------------------------------

    def test_mta_sts_mx_and_tlsa(self):
        rc, d = self.inspect("full.test")
        self.assertEqual(rc, 0, d)
        self.assertEqual(d["mta_sts"]["name"], "_mta-sts.full.test")
        self.assertTrue(d["mta_sts"]["valid"])
        self.assertEqual(d["mta_sts"]["id"], "20240601T000000")
        self.assertEqual(d["mx"]["status"], "answer")
        hosts = d["mx"]["hosts"]
        self.assertEqual([(h["preference"], h["host"]) for h in hosts], [(10, "mx1.full.test"), (20, "mx2.full.test")])
        self.assertEqual(hosts[0]["tlsa_name"], "_25._tcp.mx1.full.test")
        self.assertEqual(hosts[0]["tlsa"], ["3 1 1 " + TLSA_HEX])
        self.assertEqual(hosts[1]["tlsa"], [])
        self.assertEqual(hosts[1]["tlsa_status"], "nxdomain")
        self.assertEqual(d["rollout"]["stage"], "tlsrpt+mta-sts+dane")
        self.assertIn("1 of 2 MX hosts", d["rollout"]["summary"])

    def test_text_output(self):
        p = run("record", "inspect", "full.test", "--resolver", f"127.0.0.1:{self.port}")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertTrue(out.startswith("_smtp._tls.full.test: valid TLS-RPT record\n"), out)
        self.assertIn("mailto:tlsrpt@full.test  (reports by mail)", out)
        self.assertIn("MTA-STS  _mta-sts.full.test: announced, id 20240601T000000", out)
        self.assertIn("10 mx1.full.test  DANE: 1 TLSA record at _25._tcp.mx1.full.test", out)
        self.assertIn("Where you are: TLS-RPT with MTA-STS and DANE", out)
        p = run("record", "inspect", "none.test", "--resolver", f"127.0.0.1:{self.port}")
        self.assertEqual(p.returncode, 65)
        self.assertIn("Where you are: no TLS-RPT yet", p.stdout.decode())

    def test_servers_from_the_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(f'[dns]\nservers = ["127.0.0.1:{self.port}"]\ntimeout = "2s"\n')
        try:
            rc, d = self.inspect("valid.test", resolver=False, config=f.name)
            self.assertEqual(rc, 0, d)
            self.assertTrue(d["valid"])
        finally:
            os.unlink(f.name)

    # --- DNS that cannot answer -----------------------------------------------------

    def test_unreachable_resolver(self):
        rc, d = self.inspect("valid.test", resolver=f"127.0.0.1:{closed_port()}")
        self.assertEqual(rc, 75)
        self.assertEqual(d["status"], "unreachable")
        self.assertFalse(d["valid"])
        self.assertEqual(d["rollout"]["stage"], "unknown")
        self.assertIsNone(d["mx"])
        self.assertHas(d["errors"], "could not look up the TXT records at _smtp._tls.valid.test")

    def test_refused(self):
        # dnsmasq answers REFUSED for names outside its local domains (no upstream).
        rc, d = self.inspect("example.org")
        self.assertEqual(rc, 75)
        self.assertEqual(d["status"], "refused")

    def test_servfail(self):
        srv = MiniDns("servfail")
        srv.start()
        try:
            rc, d = self.inspect("valid.test", resolver=f"127.0.0.1:{srv.port}")
        finally:
            srv.stop()
        self.assertEqual(rc, 75)
        self.assertEqual(d["status"], "servfail")
        self.assertHas(d["errors"], "SERVFAIL")

    def test_timeout_from_config(self):
        srv = MiniDns("silent")
        srv.start()
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(f'[dns]\nservers = ["127.0.0.1:{srv.port}"]\ntimeout = "1s"\n')
        try:
            rc, d = self.inspect("valid.test", resolver=False, config=f.name)
        finally:
            srv.stop()
            os.unlink(f.name)
        self.assertEqual(rc, 75)
        self.assertEqual(d["status"], "timeout")
        self.assertGreaterEqual(srv.queries, 1)

    # --- input that never reaches DNS, and hostile DNS data -------------------------------

    def test_invalid_domain_is_refused_without_a_query(self):
        srv = MiniDns("servfail")
        srv.start()
        try:
            for bad in ["a..b", "_x", "192.0.2.1", "[::1]", "x" * 64 + ".test", ("a" * 60 + ".") * 5 + "test"]:
                p = run("record", "inspect", bad, "--resolver", f"127.0.0.1:{srv.port}")
                self.assertEqual(p.returncode, 64, (bad, p.stderr))
                self.assertIn(b"record inspect:", p.stderr)
        finally:
            srv.stop()
        self.assertEqual(srv.queries, 0)

    def test_bad_resolver_spec(self):
        p = run("record", "inspect", "valid.test", "--resolver", "dns.example:53")
        self.assertEqual(p.returncode, 64)
        self.assertIn(b"not an IP address", p.stderr)

    def test_control_characters_from_dns_are_escaped(self):
        hostile = b"v=TLSRPTv1; rua=mailto:a@esc.test\x1b]0;pwned\x07\x1b[2J"
        srv = MiniDns("txt", "_smtp._tls.esc.test", [hostile])
        srv.start()
        try:
            p = run("record", "inspect", "esc.test", "--resolver", f"127.0.0.1:{srv.port}")
            rc, d = self.inspect("esc.test", resolver=f"127.0.0.1:{srv.port}")
        finally:
            srv.stop()
        self.assertEqual(p.returncode, 65)
        self.assertNotIn(b"\x1b", p.stdout + p.stderr)
        self.assertNotIn(b"\x07", p.stdout + p.stderr)
        self.assertIn(b"\\x1b]0;pwned\\x07", p.stdout)
        self.assertEqual(rc, 65)
        self.assertEqual(d["records"], [hostile.decode()])
        self.assertHas(d["errors"], "byte 0x1b at offset 33")


if __name__ == "__main__":
    unittest.main(verbosity=2)
