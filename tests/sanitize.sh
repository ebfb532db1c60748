#!/bin/sh
# The test suite under sanitizers (docs/guarantees.md#test-suites), each in its own
# build folder:
#   tests/sanitize.sh asan   every unit, e2e and fuzz-replay test with ASan+UBSan
#                            (TLSRPT_SANITIZE, build-asan/); the e2e tests run the
#                            sanitized tlsrptd, so the daemon is checked too
#   tests/sanitize.sh tsan   the multi-threaded parts with ThreadSanitizer (TLSRPT_TSAN,
#                            build-tsan/): the daemon's and the alerts' unit tests (store
#                            writer, Maildir watcher, alert dispatcher, DNS pool) and every
#                            e2e test (the daemon's network threads, SMTP and DNS pools, all
#                            answered through the one writer thread); only tlsrptd,
#                            daemon_tests and alerts_tests are built
# Any sanitizer report fails the run, even one from a process whose exit nobody checks
# (a daemon stopped with SIGTERM, leaks at exit): reports are written to files under
# a log folder, which must stay empty. Extra arguments replace the default ctest
# selection (e.g. -R parser).
# Env: BUILD_DIR, TLSRPT_CORPUS_DIR (the external interop corpus; optional, empty by
#      default: its extra tests skip where it is not set or absent), JOBS (default
#      nproc), SANITIZE_CXX (default clang++-16), SANITIZE_OPT (default -O0 for asan,
#      -O1 for tsan).
#
# Why clang 16 and not the default g++ 12: the same ASan+UBSan build of everything took
# ~940 s of CPU with clang++-16 and ~2000 s with g++ on this project (2-core machine),
# and CI time is the budget (.ci/run). g++ still builds and runs the
# regular suite; a g++ sanitizer build works too: SANITIZE_CXX=g++.
set -eu
cd "$(dirname "$0")/.."
kind=${1:?usage: $0 asan|tsan [ctest arguments]}
shift
jobs=${JOBS:-$(nproc)}
corpus=${TLSRPT_CORPUS_DIR:-}
cxx=${SANITIZE_CXX:-clang++-16}

case "$kind" in
  asan)
    build=${BUILD_DIR:-build-asan}; option=-DTLSRPT_SANITIZE=ON; targets=""
    # With clang (the default), the same build is instrumented for libFuzzer too
    # (TLSRPT_FUZZ): tests/fuzz/run_fuzzers.sh then builds its fuzzers in this folder
    # (FUZZ_BUILD_DIR=build-asan, as tests/ci_extra.sh does) instead of compiling
    # everything a third time.
    case "$cxx" in *clang*) option="$option -DTLSRPT_FUZZ=ON" ;; esac
    # Without arguments: first everything but the reliability scenarios, then (second
    # ctest run, below) the durability, output and load scenarios with leak detection
    # off: the durability ones run the daemon under strace (crash points, the ack
    # audit, injected ENOSPC/EIO) and LeakSanitizer cannot work under ptrace ("fatal
    # error", abort at exit). ASan and UBSan still check every error path they drive.
    # The hostile-input scenarios stay out: they assert RSS and deadline figures that
    # ASan's shadow memory, quarantine and slowdown skew (measured: a gzip bomb's RSS
    # growth 20.7 MiB over its bound, a 3 s handshake deadline met at 3.07 s), and
    # under EMFILE UBSan's vptr check cannot make the pipe it probes memory with, so it
    # reports every virtual call as an invalid vptr. They run with the regular build in
    # .ci/run; the fuzzers cover the same parsers in-process under ASan+UBSan.
    # That second run is opt-in (SANITIZE_RELIABILITY=1): it adds several minutes and
    # CI's budget is 60 minutes for everything; CI runs the unit, e2e and replay suite.
    reliability=""
    if [ $# -eq 0 ]; then
      set -- -E '^reliability\.'
      if [ "${SANITIZE_RELIABILITY:-0}" = 1 ]; then reliability='^reliability\.(durability|output|load)$'; fi
    fi ;;
  tsan)
    build=${BUILD_DIR:-build-tsan}; option=-DTLSRPT_TSAN=ON
    targets="--target tlsrptd daemon_tests record_tests alerts_tests"
    # The unbuilt test binaries' placeholders (parser_tests_NOT_BUILT, fuzz replays)
    # carry no label, so selecting by label runs only what was built.
    [ $# -gt 0 ] || set -- -L '^(unit|e2e)$' ;;
  *) echo "usage: $0 asan|tsan [ctest arguments]" >&2; exit 64 ;;
esac

# Line tables only: enough for symbolized stack traces with file:line, and much
# cheaper to compile than -g (CI time is the budget). ASan+UBSan at -O0: compiling is
# what its CI part spends its time on (measured on 2 cores: the build took 1116 s, the
# suite 93 s at -O1); -O0 compiled 2-3x faster (daemon/net/http_server.cpp 310 -> 113
# s, daemon/config.cpp 33 -> 13 s) while the suite runs about twice as long. TSan stays
# at -O1: it instruments every memory access, and at -O0 there are many more.
case "$cxx" in *clang*) debug=-gline-tables-only ;; *) debug=-g1 ;; esac
case "$kind" in asan) opt=${SANITIZE_OPT:--O0} ;; *) opt=${SANITIZE_OPT:--O1} ;; esac

now() { date +%s; }
t0=$(now)
CXX=$cxx cmake -S . -B "$build" $option -DTLSRPT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt $debug -DNDEBUG" -DTLSRPT_CORPUS_DIR="$corpus" >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" $targets >/dev/null
t1=$(now)
echo "$kind build: $((t1 - t0)) s"

# The daemon drops to its own user: the log folder must be writable by it.
logs=$(mktemp -d /tmp/tlsrpt-$kind-logs.XXXXXX)
chmod 1777 "$logs"
symbolizer=$(command -v llvm-symbolizer 2>/dev/null || true)
common="halt_on_error=1:abort_on_error=1:print_stacktrace=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="$common:log_path=$logs/ubsan"
if [ "$kind" = asan ]; then
  export ASAN_OPTIONS="$common:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$logs/asan"
  export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
else
  export TSAN_OPTIONS="$common:second_deadlock_stack=1:history_size=4:suppressions=$(pwd)/tests/tsan.supp:log_path=$logs/tsan"
fi

rc=0
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 1800 "$@") || rc=$?
if [ -n "${reliability:-}" ]; then
  (cd "$build" && ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
     ctest --output-on-failure -j"$jobs" --timeout 1800 -R "$reliability") || rc=$?
fi
t2=$(now)

reports=$(find "$logs" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
  echo "$kind: $reports sanitizer report(s):" >&2
  for f in "$logs"/*; do
    echo "---- $f" >&2
    head -60 "$f" >&2
  done
  rc=1
fi
rm -rf "$logs"
echo "$kind tests: $((t2 - t1)) s, $reports sanitizer reports, ctest exit $rc"
exit $rc
