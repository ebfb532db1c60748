"""`tlsrptd record generate` and `tlsrptd record check` through the real binary: exit
codes, the JSON shapes, the provider instructions, and generate -> check round trips.
No network."""
import json
import os
import subprocess
import unittest

TLSRPTD = os.environ.get("TLSRPTD", "tlsrptd")


def run(*args):
    return subprocess.run([TLSRPTD, *args], capture_output=True, timeout=60)


class Generate(unittest.TestCase):
    def test_json_shape(self):
        p = run("record", "generate", "--domain", "example.com", "--rua", "mailto:tlsrpt@example.com", "--format", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {
            "host": "_smtp._tls.example.com",
            "type": "TXT",
            "value": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com",
        })
        # Warnings go to stderr so that stdout stays one JSON document.
        self.assertIn(b"reserved for documentation", p.stderr)

    def test_idn_several_rua_and_encoding(self):
        p = run("record", "generate", "--domain", "Bücher.example", "--rua", "mailto:tlsrpt@bücher.example",
                "--rua", "https://reports.bücher.example/r?a=1;b=2,3!", "--format", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        d = json.loads(p.stdout)
        self.assertEqual(d["host"], "_smtp._tls.xn--bcher-kva.example")
        self.assertEqual(d["value"], "v=TLSRPTv1; rua=mailto:tlsrpt@xn--bcher-kva.example,"
                                     "https://reports.xn--bcher-kva.example/r?a=1%3Bb=2%2C3%21")

    def test_refusals(self):
        for rua, reason in [("http://reports.example.com/", b"http: is not allowed"),
                            ("ftp://reports.example.com/", b"\"ftp:\" is not supported"),
                            ("mailto:not-an-address", b"has no \"@\""),
                            ("https:///path", b"no host")]:
            p = run("record", "generate", "--domain", "example.com", "--rua", rua)
            self.assertEqual(p.returncode, 65, rua)
            self.assertIn(reason, p.stderr, rua)
            self.assertEqual(p.stdout, b"", rua)
        p = run("record", "generate", "--domain", "a..example", "--rua", "http://x.example.com/", "--format", "json")
        self.assertEqual(p.returncode, 65)
        errors = json.loads(p.stdout)["errors"]
        self.assertEqual(len(errors), 2, errors)

    def test_usage_errors(self):
        self.assertEqual(run("record", "generate", "--domain", "example.com").returncode, 64)  # --rua is required
        self.assertEqual(run("record", "generate", "--rua", "mailto:a@example.com").returncode, 64)
        p = run("record", "generate", "--domain", "example.com", "--rua", "mailto:a@example.com", "--provider", "godaddy")
        self.assertEqual(p.returncode, 64)

    def test_text_has_fields_steps_and_explanation(self):
        for provider, marker in [("generic", "\"Zone editor\""), ("cloudflare", "DNS only"),
                                 ("ionos", "Eintrag hinzufügen"), ("bind", "IN TXT")]:
            p = run("record", "generate", "--domain", "example.com", "--rua", "mailto:tlsrpt@reports.example.net",
                    "--provider", provider)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            self.assertIn("  Type   TXT\n", out)
            self.assertIn("  Host   _smtp._tls   (full name: _smtp._tls.example.com)\n", out)
            self.assertIn("  Value  v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net\n", out)
            self.assertIn(marker, out, provider)
            for section in ["What this record does", "MTA-STS and DANE", "Rollout order", "Privacy"]:
                self.assertIn(section, out)
            self.assertIn("no message content and no email addresses", " ".join(out.split()))

    def test_bind_splits_long_values(self):
        ruas = []
        for i in range(4):
            ruas += ["--rua", f"https://collector-{i}.reports.example.net/" + "p" * 60]
        p = run("record", "generate", "--domain", "example.com", *ruas, "--provider", "bind")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The zone line stands alone, unwrapped and unindented, ready to paste.
        line = next(l for l in p.stdout.decode().splitlines() if " IN TXT " in l)
        self.assertTrue(line.startswith("_smtp._tls.example.com. 3600 IN TXT \""), line)
        parts = line.split(" IN TXT ", 1)[1]
        strings = [s for s in parts.split('"') if s.strip()]
        self.assertEqual(len(strings), 2)
        self.assertEqual(len(strings[0]), 255)
        j = run("record", "generate", "--domain", "example.com", *ruas, "--format", "json")
        self.assertEqual("".join(strings), json.loads(j.stdout)["value"])


class Check(unittest.TestCase):
    def check(self, text):
        p = run("record", "check", text, "--format", "json")
        return p.returncode, json.loads(p.stdout)

    def test_valid(self):
        rc, d = self.check("v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://r.example.net/x")
        self.assertEqual(rc, 0)
        self.assertTrue(d["valid"])
        self.assertEqual([(u["uri"], u["scheme"]) for u in d["rua"]],
                         [("mailto:tlsrpt@example.com", "mailto"), ("https://r.example.net/x", "https")])
        self.assertEqual(d["errors"], [])
        self.assertIsInstance(d["warnings"], list)

    def test_invalid(self):
        for text, reason in [("v=TLSRPTv1", "missing rua="),
                             ("v=tlsrptv1; rua=mailto:a@example.com", "case-sensitive"),
                             ("v=TLSRPTv1; rua=mailto:a@example.com!10m", "must be written %21"),
                             ("v=TLSRPTv1; rua=http://r.example.com/", "http: is not a TLS-RPT scheme"),
                             ("v=spf1 -all", "not a TLS-RPT record")]:
            rc, d = self.check(text)
            self.assertEqual(rc, 65, text)
            self.assertFalse(d["valid"], text)
            self.assertTrue(any(reason in e for e in d["errors"]), (text, d["errors"]))

    def test_warnings_keep_it_valid(self):
        rc, d = self.check("v=TLSRPTv1 ; rua=mailto:a@reports.example.com; rua=https://r.example.com/;")
        self.assertEqual(rc, 0)
        self.assertEqual(len(d["rua"]), 2)
        joined = " ".join(d["warnings"])
        for w in ["senders that look for a record beginning with", "rua= appears 2 times", "ends with \";\""]:
            self.assertIn(w, joined)

    def test_zone_file_form_is_joined(self):
        rc, d = self.check('"v=TLSRPTv1; rua=mailto:a@exa" "mple.com"')
        self.assertEqual(rc, 0, d)
        self.assertEqual(d["record"], "v=TLSRPTv1; rua=mailto:a@example.com")
        self.assertTrue(any("quoted DNS string" in w for w in d["warnings"]))

    def test_text_output_escapes(self):
        p = run("record", "check", "v=TLSRPTv1; rua=mailto:a@example.com\x1b[2J")
        self.assertEqual(p.returncode, 65)
        self.assertNotIn(b"\x1b", p.stdout)
        self.assertTrue(p.stdout.startswith(b"not a valid TLS-RPT record\n"), p.stdout)
        p = run("record", "check", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.com")
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith(b"valid TLS-RPT record\n"), p.stdout)
        self.assertIn(b"mailto:tlsrpt@reports.example.com  (reports by mail)", p.stdout)

    def test_generate_then_check_round_trip(self):
        cases = [
            ["--domain", "example.com", "--rua", "mailto:tlsrpt@example.com"],
            ["--domain", "mail.example.org", "--rua", "tls+rpt@reports.example.net", "--rua", "https://r.example.net/a b;c"],
            ["--domain", "bücher.example", "--rua", "mailto:\"odd, name\"@bücher.example"],
        ]
        for args in cases:
            g = run("record", "generate", *args, "--format", "json")
            self.assertEqual(g.returncode, 0, (args, g.stderr))
            value = json.loads(g.stdout)["value"]
            rc, d = self.check(value)
            self.assertEqual(rc, 0, (value, d))
            self.assertEqual(d["record"], value)
            self.assertEqual(",".join(u["uri"] for u in d["rua"]), value.split("rua=", 1)[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
