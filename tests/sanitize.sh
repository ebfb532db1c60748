#!/bin/sh
# The test suite under sanitizers (issue 7 item 9), each in its own build folder:
#   tests/sanitize.sh asan   every unit, e2e and fuzz-replay test with ASan+UBSan
#                            (TLSRPT_SANITIZE, build-asan/); the e2e tests run the
#                            sanitized tlsrptd, so the daemon is checked too
#   tests/sanitize.sh tsan   the multi-threaded parts with ThreadSanitizer (TLSRPT_TSAN,
#                            build-tsan/): the store writer's unit tests and the HTTPS
#                            end-to-end test (many connections on the server's threads,
#                            all answered through the one writer thread)
# Any sanitizer report fails the run, even one from a process whose exit nobody checks
# (a daemon stopped with SIGTERM, leaks at exit): reports are written to files under
# a log folder, which must stay empty. Extra arguments go to ctest (e.g. -R parser).
# Env: BUILD_DIR, TLSRPT_CORPUS_DIR (default ../shared/corpus), JOBS (default nproc).
set -eu
cd "$(dirname "$0")/.."
kind=${1:?usage: $0 asan|tsan [ctest arguments]}
shift
jobs=${JOBS:-$(nproc)}
corpus=${TLSRPT_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}

case "$kind" in
  asan) build=${BUILD_DIR:-build-asan}; option=-DTLSRPT_SANITIZE=ON; targets="" ;;
  tsan) build=${BUILD_DIR:-build-tsan}; option=-DTLSRPT_TSAN=ON; targets="--target tlsrptd daemon_tests" ;;
  *) echo "usage: $0 asan|tsan [ctest arguments]" >&2; exit 64 ;;
esac

now() { date +%s; }
t0=$(now)
cmake -S . -B "$build" $option -DTLSRPT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTLSRPT_CORPUS_DIR="$corpus" >/dev/null
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
  export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$(pwd)/tests/tsan.supp:log_path=$logs/tsan"
  [ $# -gt 0 ] || set -- -R '^(StoreWriter\.|e2e\.test_https$)'
fi

rc=0
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 1800 "$@") || rc=$?
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
