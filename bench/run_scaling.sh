#!/bin/sh
# Does `report import` cost the same per report whatever the history holds?
# (issue 16: CPU per report at 100 000 reports within 1.2 of that at 5 000.)
# Runs stage (d) of the pipeline benchmark (bench/run_pipeline.sh: the real binary
# importing gzipped reports into a fresh database, fsync on) twice, with the reports
# spread over the same 50 policy domains, one report per domain and day: the large
# run's domains have 20 times the history (2 000 days each) of the small one's.
# A benchmark, not a test: it prints the ratio and PASS/MISS; it fails only when a
# run's correctness checks fail.
#
#   bench/run_scaling.sh                  5 000 and 100 000 reports
#   SMALL=2000 LARGE=40000 bench/run_scaling.sh
# Environment: as bench/run_pipeline.sh (BUILD_DIR, JOBS, CPU), DOMAINS (default 50).
set -eu
cd "$(dirname "$0")/.."
small=${SMALL:-5000}
large=${LARGE:-100000}
domains=${DOMAINS:-50}

# The (d) row: "... wall s, CPU s, preem, runs": CPU seconds are the third field from the end.
cpu_of() { awk '/\(d\)  end to end/ { print $(NF-2) }' "$1"; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in "$small" "$large"; do
  reps=3
  [ "$n" -gt 20000 ] && reps=1
  bench/run_pipeline.sh --stages d --reports "$n" --domains "$domains" --reps "$reps" >"$out/$n.txt" 2>"$out/$n.err" ||
    { cat "$out/$n.err" "$out/$n.txt" >&2; exit 1; }
  sed -n '/^machine/p;/^reports/p;/(d)  end to end/p' "$out/$n.txt"
done
cs=$(cpu_of "$out/$small.txt")
cl=$(cpu_of "$out/$large.txt")
[ -n "$cs" ] && [ -n "$cl" ] || { echo "run_scaling: no (d) row in a run's output" >&2; cat "$out"/*.txt >&2; exit 1; }
awk -v cs="$cs" -v cl="$cl" -v ns="$small" -v nl="$large" -v d="$domains" 'BEGIN {
  ps = cs / ns * 1e6; pl = cl / nl * 1e6; r = pl / ps
  printf "\n  %-44s %12s\n", "report import over " d " domains", "CPU us/report"
  printf "  %-44s %12.1f\n", ns " reports (" int(ns / d) " days each)", ps
  printf "  %-44s %12.1f\n", nl " reports (" int(nl / d) " days each)", pl
  printf "  %-44s %12.2f   target <= 1.20: %s\n", "ratio large / small", r, (r <= 1.2 ? "PASS" : "MISS")
}'
