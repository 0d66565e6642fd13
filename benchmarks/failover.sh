#!/usr/bin/env bash
# Killing the leading controller of two that share PostgreSQL, under load through two standalone
# routers: time to the new leader's first action and failed requests (see failover.py).
#   usage: benchmarks/failover.sh [runs]
# SKIP_BUILD=1 uses the existing binary; RIPCORD=path picks it (default: a release build).
# Needs PostgreSQL's server binaries (apt-get install postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${RIPCORD:-.build/release/ripcord}"
[ -n "${SKIP_BUILD:-}" ] || [ "$bin" != .build/release/ripcord ] || scripts/build-release.sh >/dev/null
exec python3 benchmarks/failover.py --ripcord "$bin" --runs "${1:-3}"
