#!/usr/bin/python3
"""Runs the reliability scenarios (docs/guarantees.md#reliability-scenarios): every
@scenario of tests/reliability/test_*.py, each in its own process group with a deadline,
killed (with every process it started) when the deadline passes. Prints each scenario's
figures and PASS/FAIL and ends with one line `N passed, N failed`; exit code 0 only when
none failed.

  run.py [--fast | --soak] [-k PATTERN]... [--seed N] [--list]

PATTERN is a case-insensitive substring of `file::scenario`. Environment: TLSRPTD (the
built binary, default build/daemon/tlsrptd), TLSRPT_CORPUS_DIR, TLSRPT_SOURCE_DIR.
Never run against anything but loopback."""
import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

GRACE = 20  # seconds past a scenario's deadline for its own cleanup before the kill


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    before = len(common.SCENARIOS)
    spec.loader.exec_module(mod)
    return common.SCENARIOS[before:]


def discover():
    found = []
    for f in sorted(os.listdir(HERE)):
        if f.startswith("test_") and f.endswith(".py"):
            for fn in load(os.path.join(HERE, f)):
                found.append((f, fn))
    return found


def run_child(file, name, mode, seed, deadline):
    """In the scenario's own process: run it and print one @@RESULT line."""
    fns = [fn for fn in load(os.path.join(HERE, file)) if fn.__name__ == name]
    if not fns:
        print(f"@@RESULT FAIL no scenario {name} in {file}", flush=True)
        return 1
    ctx = common.Context(mode, seed, deadline)
    print(f"@@TMP {ctx.tmp}", flush=True)
    result = "PASS"
    try:
        fns[0](ctx)
    except common.Skip as e:
        result = f"SKIP {e}"
    except common.Failed as e:
        ctx.failures.append(str(e))
    except Exception as e:  # a broken scenario is a failure with its traceback
        import traceback
        traceback.print_exc(file=sys.stdout)
        ctx.failures.append(f"{type(e).__name__}: {e}")
    finally:
        ctx.cleanup()
    if ctx.failures and not result.startswith("SKIP"):
        result = "FAIL " + "; ".join(f.replace("\n", " ")[:400] for f in ctx.failures)
    print(f"@@RESULT {result}", flush=True)
    return 0


def run_scenario(file, fn, mode, seed):
    deadline = fn.deadline if mode == "fast" else fn.soak_deadline
    label = f"{file}::{fn.__name__}"
    print(f"=== {label} ({mode}, deadline {deadline} s, seed {seed})", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", f"{file}::{fn.__name__}",
                             "--mode", mode, "--seed", str(seed), "--deadline", str(deadline)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    state = {"result": None, "tmp": None, "umount": []}

    def pump():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("@@RESULT "):
                state["result"] = line[len("@@RESULT "):]
            elif line.startswith("@@TMP "):
                state["tmp"] = line[len("@@TMP "):]
            elif line.startswith("@@MOUNT "):
                state["umount"].append(line[len("@@MOUNT "):])
            elif line.startswith("@@UNMOUNTED "):
                p = line[len("@@UNMOUNTED "):]
                if p in state["umount"]:
                    state["umount"].remove(p)
            else:
                print(line, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=deadline + GRACE)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # the scenario and every process it started
        proc.wait()
    reader.join(timeout=10)
    for m in state["umount"]:
        subprocess.run(["umount", "-l", m], capture_output=True)
    if timed_out and state["tmp"]:
        import shutil
        shutil.rmtree(state["tmp"], ignore_errors=True)
    elapsed = time.monotonic() - t0
    result = state["result"]
    if timed_out:
        result = f"FAIL deadline of {deadline} s passed; killed"
    elif result is None:
        result = f"FAIL scenario process exited {proc.returncode} without a result"
    verdict, _, why = result.partition(" ")
    print(f"{verdict} {label} ({elapsed:.1f} s)" + (f": {why}" if why else ""), flush=True)
    return verdict


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true", help="short runs for CI (default)")
    mode.add_argument("--soak", action="store_true", help="long runs (not CI)")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN", help="only scenarios matching")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        file, _, name = a.child.partition("::")
        return run_child(file, name, a.mode, a.seed, a.deadline)
    m = "soak" if a.soak else "fast"
    chosen = [(f, fn) for f, fn in discover()
              if not a.k or any(k.lower() in f"{f}::{fn.__name__}".lower() for k in a.k)]
    if a.list:
        for f, fn in chosen:
            print(f"{f}::{fn.__name__} (deadline {fn.deadline} s, soak {fn.soak_deadline} s)")
        return 0
    if not os.path.exists(common.TLSRPTD):
        print(f"tlsrptd binary not found at {common.TLSRPTD} (set TLSRPTD)", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    t0 = time.monotonic()
    for f, fn in chosen:
        v = run_scenario(f, fn, m, a.seed)
        counts[v if v in counts else "FAIL"] += 1
    print(f"({counts['SKIP']} skipped, {len(chosen)} scenarios, {time.monotonic() - t0:.0f} s)")
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed", flush=True)
    return 0 if counts["FAIL"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
