#!/usr/bin/env bash
# Builds Ripcord's release binaries as they ship: optimised, with the Swift runtime linked into the
# binary (--static-swift-stdlib: the router's retains, releases and exclusivity checks become direct
# calls, its thread-locals need no `__tls_get_addr`; BENCHMARKS.md, "Router vs nginx"). Every
# benchmark builds through here, so they share one build (another flag would rebuild it all) and
# measure what operators run.
#   scripts/build-release.sh [PRODUCT ...]      (default: ripcord; the binaries land in .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
for product in "${@:-ripcord}"; do
    swift build -c release --static-swift-stdlib --product "$product"
done
