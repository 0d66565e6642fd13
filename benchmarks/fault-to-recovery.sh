#!/usr/bin/env bash
# Fault to recovery: the demo's setup (200 requests/s, 10 % canary, candidate failing 50 % of
# requests, analysis every second). Prints the time from the faulty version's first request to 0 %
# candidate weight, and the failed requests, for each run. Bar: under 5 s.
#   usage: benchmarks/fault-to-recovery.sh [runs] [judge: threshold|sequential|canaryBaseline]
#   RIPCORD: the binary (default .build/release/ripcord, built unless SKIP_BUILD is set)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
judge="${2:-threshold}"
bin="${RIPCORD:-.build/release/ripcord}"
[ -n "${SKIP_BUILD:-}" ] || [ "$bin" != .build/release/ripcord ] || scripts/build-release.sh >/dev/null
printf "%-4s %-12s %-12s %-10s %-14s %-10s\n" run detect_s last_bad_s requests failed_faulty failed_other
for i in $(seq 1 "$runs"); do
  out=$("$bin" demo --rate 200 --faulty-error-rate 0.5 --judge "$judge" --json 2>/dev/null | tail -1)
  python3 - "$i" "$out" <<'PY'
import json, sys
run, data = sys.argv[1], json.loads(sys.argv[2])
print(f"{run:<4} {data['firstFaultyRequestToZeroWeightSeconds']:<12.2f} {data['firstFaultyRequestToLastFaultyResponseSeconds']:<12.2f} "
      f"{data['requests']:<10} {data['failedByFaultyVersion']:<14} {data['failedOther']:<10}")
PY
done
