#!/usr/bin/env bash
# Judges on real traffic through the router (see judges-real-traffic.py for the cells and figures).
#   usage: benchmarks/judges-real-traffic.sh [--judges sequential,threshold] [--aa 50] [--faulty 10] [--lanes 4] [--record DIR]
# SKIP_BUILD=1 uses the existing binary; RIPCORD=path picks it (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${RIPCORD:-.build/release/ripcord}"
[ -n "${SKIP_BUILD:-}" ] || scripts/build-release.sh >/dev/null
exec python3 benchmarks/judges-real-traffic.py --ripcord "$bin" "$@"
