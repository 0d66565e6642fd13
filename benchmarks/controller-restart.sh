#!/usr/bin/env bash
# Restarting `ripcord serve` under 200 requests/s: failed requests and time to the first 2xx, for a
# SIGTERM hand-over and for kill -9 (see controller-restart.py).
#   usage: benchmarks/controller-restart.sh [runs]
# SKIP_BUILD=1 uses the existing binary; RIPCORD=path picks it (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${RIPCORD:-.build/release/ripcord}"
[ -n "${SKIP_BUILD:-}" ] || [ "$bin" != .build/release/ripcord ] || scripts/build-release.sh >/dev/null
exec python3 benchmarks/controller-restart.py --ripcord "$bin" --runs "${1:-5}"
