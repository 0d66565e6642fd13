#!/usr/bin/env bash
# What running a short command costs the controller (issue 15): the command driver's check scripts,
# hooks and metric commands all go through CommandRunner. `ripcord-bench commands` runs COUNT
# `/bin/true` through it, one at a time and in batches of 33 (as the driver hands over the checks due in
# one of the stable supervisor's one-second ticks with 1,000 services checked every 30 s), with 1,000
# descriptors open as a controller's front doors are (each spawn copies the descriptor table), and
# prints its own CPU per run, apart from the commands' own.
# Environment: RIPCORD_BENCH (binary, default .build/release/ripcord-bench, built unless SKIP_BUILD), COUNT (2000).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RIPCORD_BENCH="${RIPCORD_BENCH:-$ROOT/.build/release/ripcord-bench}"
COUNT="${COUNT:-2000}"
if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD_BENCH" = "$ROOT/.build/release/ripcord-bench" ]; then
    "$ROOT/scripts/build-release.sh" ripcord-bench
fi
for batch in 1 33; do
    "$RIPCORD_BENCH" commands --count "$COUNT" --batch "$batch" --open-descriptors 1000
done
