#!/bin/sh
# What .ci/run adds after the regular suite (sanitizers and fuzzing,
# docs/guarantees.md#test-suites), each part timed:
#   1. the whole unit + e2e suite under ASan+UBSan   (tests/sanitize.sh asan, build-asan/)
#   2. the multi-threaded parts under TSan           (tests/sanitize.sh tsan, build-tsan/)
#   3. every fuzz target for FUZZ_SECONDS (30) s     (tests/fuzz/run_fuzzers.sh, in build-asan/:
#      the ASan build is instrumented for libFuzzer too, so the fuzzers reuse its objects;
#      longer runs: tests/fuzz/run_fuzzers.sh 600)
# Every part runs even when an earlier one failed; the exit status says whether all
# passed. Usage: tests/ci_extra.sh [asan] [tsan] [fuzz]   (default: all three)
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh test

parts=${*:-"asan tsan fuzz"}
now() { date +%s; }
start=$(now)
summary=""
failed=0
for part in $parts; do
  t=$(now)
  case "$part" in
    asan | tsan) tests/sanitize.sh "$part" ;;
    fuzz)
      # The ASan folder is instrumented for libFuzzer only when clang built it.
      case "${SANITIZE_CXX:-clang++-16}" in *clang*) fuzz_dir=build-asan ;; *) fuzz_dir=build-fuzz ;; esac
      FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$fuzz_dir} tests/fuzz/run_fuzzers.sh "${FUZZ_SECONDS:-30}" ;;
    *) echo "unknown part: $part (asan, tsan, fuzz)" >&2; exit 64 ;;
  esac
  rc=$?
  took=$(($(now) - t))
  status=passed
  [ "$rc" -eq 0 ] || { status="FAILED (exit $rc)"; failed=$((failed + 1)); }
  echo "== $part: $status in ${took} s"
  summary="$summary
  $part: $status, ${took} s"
done
echo "== ci_extra:$summary
  total: $(($(now) - start)) s"
[ "$failed" -eq 0 ]
