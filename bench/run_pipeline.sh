#!/bin/sh
# Builds (when needed) and runs the pipeline benchmark, bench/bench_pipeline.cpp, on
# one core. A benchmark, not a test: it prints reports/s and ratios against limits
# measured in the same run, and fails only when a correctness check fails.
#
#   bench/run_pipeline.sh                  N=20000 reports, median of 3 runs
#   bench/run_pipeline.sh --reports 5000   any bench_pipeline option (--help lists them)
#
# Environment: BUILD_DIR (default build; used only when it is a Release or
# RelWithDebInfo build without sanitizers, else build-bench is configured),
# JOBS (parallel compile jobs, default 2), CPU (the core to pin to, default 0).
set -eu
cd "$(dirname "$0")/.."

jobs="${JOBS:-2}"
cpu="${CPU:-0}"
build_dir="${BUILD_DIR:-build}"

# Timings from a Debug or sanitizer build say nothing about the product.
release_like() {
  cache="$1/CMakeCache.txt"
  [ -f "$cache" ] || return 1
  case "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")" in
    Release | RelWithDebInfo) ;;
    *) return 1 ;;
  esac
  grep -q '^TLSRPT_SANITIZE:BOOL=ON' "$cache" && return 1
  grep -q '^TLSRPT_BUILD_BENCH:BOOL=OFF' "$cache" && return 1
  return 0
}

if ! release_like "$build_dir"; then
  if [ -f "$build_dir/CMakeCache.txt" ]; then
    echo "run_pipeline: $build_dir is not a Release-like build with the benchmark; using build-bench" >&2
  fi
  build_dir=build-bench
  if ! release_like "$build_dir"; then
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTLSRPT_SANITIZE=OFF \
      -DTLSRPT_BUILD_TESTS=OFF -DTLSRPT_BUILD_BENCH=ON >/dev/null
  fi
fi
cmake --build "$build_dir" -j"$jobs" --target bench_pipeline tlsrptd >/dev/null

bench="$build_dir/bench/bench_pipeline"
# The program pins itself (and the tlsrptd it starts) to --cpu as well; taskset
# makes the pinning visible from outside and covers the start-up.
if command -v taskset >/dev/null 2>&1; then
  exec taskset -c "$cpu" "$bench" --cpu "$cpu" "$@"
fi
exec "$bench" --cpu "$cpu" "$@"
