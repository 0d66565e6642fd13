#!/usr/bin/env bash
# Releases: five sample services, three canary steps (20/50/80 %) each followed by a 500 ms pause.
# Prints, per run: apply → all promoted, Ripcord's overhead beyond the configured pauses, the same
# five services deployed independently at once (and the ratio), and after kill -9 of one member's
# candidate: crash → that member rolled back, → every member rolled back, → every front door
# answering with the stable version. Bar: crash → all on stable under 2 s (built-in router).
#   usage: benchmarks/release.sh [runs] [services]      (CONFIG=release for an optimized build)
set -euo pipefail
cd "$(dirname "$0")/.."
config="${CONFIG:-debug}"
if [ -z "${SKIP_BUILD:-}" ]; then
    if [ "$config" = release ]; then scripts/build-release.sh ripcord ripcord-bench >/dev/null
    else swift build -c "$config" --product ripcord >/dev/null && swift build -c "$config" --product ripcord-bench >/dev/null; fi
fi
".build/$config/ripcord-bench" release --runs "${1:-3}" --services "${2:-5}"
