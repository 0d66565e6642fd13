#!/usr/bin/env bash
# Statistical judges on synthetic request streams (pure computation, no servers): for a grid of baseline error
# rates {0.5 %, 1 %} x canary error rates {A/A, 2 %, 5 %, 10 %} x canary median-latency shifts {0, +20 %, +50 %,
# +100 %} x canary requests/s {5, 20, 100} (baseline at the same rate), RUNS runs per cell of up to 600 s with one
# batch per second. Reports per cell the fraction of runs rolled back (false rollbacks on A/A rows), median and
# p95 time to the rollback decision, the sequential error judge's samples / Wald SPRT ASN, and a Flagger-style
# check (every 60 s, error rate > baseline + 1 pp or p99 > 1.25 x baseline p99; roll back after 5 failed checks).
# Bars: 20 req/s, 0.5 % -> 5 % errors decided in <= 4 s median; A/A false rollbacks <= 1 %; +50 % median latency
# detected in <= 15 s median; sequential/SPRT sample ratio <= 2 where achievable. Deterministic (seed 42).
#   usage: benchmarks/judges-simulation.sh            (RUNS=1000 by default; RIPCORD_BENCH=path/to/ripcord-bench to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RIPCORD_BENCH:-}" ]; then scripts/build-release.sh ripcord-bench >/dev/null; fi
start=$(date +%s)
"${RIPCORD_BENCH:-.build/release/ripcord-bench}" simulate-judges --runs ${RUNS:-1000}
echo "wall time: $(( $(date +%s) - start )) s (budget ~300 s)"
