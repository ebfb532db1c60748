#!/bin/sh
# Builds the libFuzzer targets (clang 16, build-fuzz/, everything instrumented with
# ASan+UBSan) and fuzzes each for SECONDS (default 60) on a scratch copy of its seed
# corpus: the committed seeds are never written to. Any crash, leak, timeout or
# out-of-memory fails the run, and its input is copied to
# tests/fuzz/regressions/<target>/, which the ctest replay runs from then on.
#
# Usage: tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]
#   FUZZ_BUILD_DIR  build folder (default build-fuzz)
#   FUZZ_WORK_DIR   scratch folder (default: a new temporary one, removed afterwards)
#   FUZZ_JOBS       targets fuzzed at the same time (default nproc; each gets SECONDS)
#   FUZZ_MERGE=1    afterwards, add the inputs that reach new coverage to the committed
#                   corpus (libFuzzer -merge=1): how seed corpora grow; review the diff
#   CXX             the compiler (default clang++-16)
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"smtp_session ingest mail record http_request intake"}
build=${FUZZ_BUILD_DIR:-build-fuzz}
cxx=${CXX:-clang++-16}

now() { date +%s; }

t0=$(now)
echo "== build ($cxx, $build)"
CXX=$cxx cmake -S . -B "$build" -DTLSRPT_FUZZ=ON -DTLSRPT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${JOBS:-$(nproc)}" --target fuzzers >/dev/null
echo "build: $(( $(now) - t0 )) s"

# Symbolized reports (clang-16 has no llvm-symbolizer-16 without the llvm-16 package;
# llvm-symbolizer-14, which clang 14 brings, reads its DWARF 5 fine).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer-16 llvm-symbolizer-14 llvm-symbolizer; do
    if command -v "$s" >/dev/null 2>&1; then export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"; break; fi
  done
fi

if [ -n "${FUZZ_WORK_DIR:-}" ]; then
  work=$FUZZ_WORK_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/tlsrpt-fuzz.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi

# One target: fuzz a scratch corpus, write "<status> <summary>" to $work/<t>/result.
fuzz_one() {
  t=$1
  bin="$build/tests/fuzz/fuzz_$t"
  seeds="tests/fuzz/corpus/$t"
  scratch="$work/$t/corpus"
  artifacts="$work/$t/artifacts/"
  rm -rf "${work:?}/$t"
  mkdir -p "$scratch" "$artifacts"
  # The scratch corpus starts as the seeds plus earlier regressions; libFuzzer writes
  # new inputs into this first folder only.
  cp "$seeds"/* "$scratch"/
  [ -d "tests/fuzz/regressions/$t" ] && cp "tests/fuzz/regressions/$t"/* "$scratch"/ 2>/dev/null || true
  dict=""
  [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"

  start=$(now)
  rc=0
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=512 -malloc_limit_mb=512 \
    -print_final_stats=1 -artifact_prefix="$artifacts" $dict "$scratch" >"$work/$t/log" 2>&1 || rc=$?
  took=$(( $(now) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/$t/log" | tail -1 | cut -d' ' -f2)
  units=$(find "$scratch" -type f | wc -l)
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  summary="fuzz_$t: ${took} s, ${execs:-?} runs, coverage ${cov:-?}, corpus ${units} inputs, exit ${rc}, findings ${found}"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "FAILED $summary" >"$work/$t/result"
  else
    echo "ok $summary" >"$work/$t/result"
  fi
}

# FUZZ_JOBS targets at a time (default: one per core), each still fuzzed for SECONDS.
jobs=${FUZZ_JOBS:-$(nproc)}
for t in $targets; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "no fuzzer $build/tests/fuzz/fuzz_$t" >&2; exit 2; }
done
echo "== fuzzing ${seconds} s per target, $jobs at a time: $targets"

# One finished target: its summary; on failure its findings become regression seeds,
# and what CI needs to reproduce it is printed (the log keeps only part of a long
# output): the error lines first, then the top of the stack, then each finding's
# bytes in base64 when small.
failed=""
report_one() {
  t=$1
  read -r status summary <"$work/$t/result" || { status=FAILED; summary="fuzz_$t: no result"; }
  echo "$summary"
  if [ "$status" != ok ]; then
    failed="$failed $t"
    mkdir -p "tests/fuzz/regressions/$t"
    find "$work/$t/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
      -exec cp {} "tests/fuzz/regressions/$t/" \;
    {
      echo "fuzz_$t FAILED; inputs copied to tests/fuzz/regressions/$t/"
      echo "-- the error:"
      grep -E 'invariant broken|ERROR: |runtime error|SUMMARY|Test unit written|deadly signal' "$work/$t/log" | head -20
      echo "-- the top of the stack:"
      grep -E '^ +#[0-9]+ ' "$work/$t/log" | head -12
      for a in $(find "$work/$t/artifacts" -type f | head -3); do
        size=$(wc -c <"$a")
        if [ "$size" -le 8192 ]; then
          echo "-- $(basename "$a") ($size bytes), base64 (base64 -d > input):"
          base64 -w 100 "$a"
        else
          echo "-- $(basename "$a"): $size bytes, too long to print"
        fi
      done
    } >&2
  elif [ "${FUZZ_MERGE:-0}" = 1 ]; then
    seeds="tests/fuzz/corpus/$t"
    before=$(find "$seeds" -type f | wc -l)
    "$build/tests/fuzz/fuzz_$t" -merge=1 -timeout=2 -rss_limit_mb=512 "$seeds" "$work/$t/corpus" >"$work/$t/merge.log" 2>&1
    echo "fuzz_$t: corpus grew from $before to $(find "$seeds" -type f | wc -l) seeds (review before committing)"
  fi
}

set -- $targets
while [ $# -gt 0 ]; do
  batch=""
  while [ $# -gt 0 ] && [ "$(echo $batch | wc -w)" -lt "$jobs" ]; do
    batch="$batch $1"
    shift
  done
  for t in $batch; do fuzz_one "$t" & done
  wait
  for t in $batch; do report_one "$t"; done
done

echo "fuzzing total: $(( $(now) - t0 )) s"
if [ -n "$failed" ]; then
  echo "FAILED:$failed (reproduce: $build/tests/fuzz/fuzz_<target> tests/fuzz/regressions/<target>/<file>)" >&2
  exit 1
fi
echo "all fuzz targets clean: no crash, leak, timeout or out-of-memory"
