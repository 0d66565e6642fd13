#!/usr/bin/env bash
# Feature-flag evaluation throughput: in-process evaluation (state + variant + reason) of one flag
# with 3 strategies and 5 constraints (plus feature variants) over 256 varied contexts, on a single
# thread, release build. The measurement lives in RipcordFlags (`benchmarkEvaluation`) and runs via
# `ripcord-bench flags`, which prints one line:
#   flags-evaluation iterations=N evaluations_per_second=R checksum=C
# Prints the best of RUNS runs and its ratio to the bar. Bar: >= 1,000,000 evaluations/s.
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD is set; ripcord-bench beside it),
#              ITERATIONS (default 5000000), RUNS (default 3).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RIPCORD="${RIPCORD:-.build/release/ripcord}"
ITERATIONS="${ITERATIONS:-5000000}"
RUNS="${RUNS:-3}"
BAR=1000000

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = ".build/release/ripcord" ]; then
    scripts/build-release.sh ripcord-bench >&2
fi
RIPCORD_BENCH="${RIPCORD_BENCH:-$(dirname "$RIPCORD")/ripcord-bench}"
[ -x "$RIPCORD_BENCH" ] || { echo "no ripcord-bench binary at $RIPCORD_BENCH" >&2; exit 1; }

best=0
for run in $(seq 1 "$RUNS"); do
    line="$("$RIPCORD_BENCH" flags --iterations "$ITERATIONS")"
    rate="$(printf '%s\n' "$line" | sed -n 's/.*evaluations_per_second=\([0-9.]*\).*/\1/p' | head -n1)"
    [ -n "$rate" ] || { echo "unexpected output from '$RIPCORD_BENCH flags': $line" >&2; exit 1; }
    echo "run $run: $line" >&2
    best="$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a ? b : a) }')"
done

awk -v r="$best" -v bar="$BAR" -v it="$ITERATIONS" -v runs="$RUNS" 'BEGIN {
    printf "flag evaluation (3 strategies, 5 constraints, 1 thread, best of %d x %d): %.0f evaluations/s; bar %d; ratio %.2f\n", runs, it, r, bar, r / bar
}'
