"""Shared helpers for the end-to-end tests: the built binary, the corpus, temporary
directories, running commands with deadlines, and SQL through the real sqlite3 CLI."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TLSRPTD = os.environ.get("TLSRPTD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "daemon", "tlsrptd")
CORPUS = os.environ.get("TLSRPT_CORPUS_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "corpus")
SOURCE = os.environ.get("TLSRPT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")


def run(args, timeout=120, check=False, input=None, env=None, cwd=None):
    """Runs a command with a deadline; returns CompletedProcess with text output."""
    p = subprocess.run(args, capture_output=True, timeout=timeout, input=input, env=env, cwd=cwd)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def tlsrptd(*args, **kw):
    return run([TLSRPTD, *args], **kw)


def sql(db, query):
    """Rows of `query` through the sqlite3 command-line client, as dicts."""
    p = run(["sqlite3", "-json", "-bail", db, query], check=True)
    return json.loads(p.stdout) if p.stdout.strip() else []


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tlsrpt-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


def main():
    if not os.path.exists(TLSRPTD):
        print(f"tlsrptd binary not found at {TLSRPTD}", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
