#!/usr/bin/env bash
# From a weight change to its effect on every standalone router: p50/p99 at 4 routers (see
# route-propagation.py).
#   usage: benchmarks/route-propagation.sh [routers] [runs]
# SKIP_BUILD=1 uses the existing binary; RIPCORD=path picks it (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${RIPCORD:-.build/release/ripcord}"
[ -n "${SKIP_BUILD:-}" ] || [ "$bin" != .build/release/ripcord ] || scripts/build-release.sh >/dev/null
exec python3 benchmarks/route-propagation.py --ripcord "$bin" --routers "${1:-4}" --runs "${2:-10}"
