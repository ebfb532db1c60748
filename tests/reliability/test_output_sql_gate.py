#!/usr/bin/python3
"""Reliability scenario 26 (docs/guarantees.md#reliability-scenarios), the CI gate:
every sqlite3_exec / prepare call site takes literal or constant SQL; no
sqlite3_*printf; no SQL built from report data (tests/reliability/sql_gate.py, which
also proves it flags string-built SQL)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import SOURCE, hostile_scenario  # noqa: E402

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql_gate.py")


@hostile_scenario(deadline=60)
def sql_gate(s):
    p = subprocess.run([sys.executable, GATE, "--self-test"], capture_output=True, text=True, timeout=60)
    s.result("26.g1", "sql_gate flags string-built SQL and sqlite3_mprintf (self-test)", p.returncode == 0,
             p.stdout.strip())
    p = subprocess.run([sys.executable, GATE, SOURCE], capture_output=True, text=True, timeout=60)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()
    s.result("26.g2", "no SQL built from data in parser/ storage/ daemon/ alerts/", p.returncode == 0, last)

