#!/usr/bin/env bash
# The code's format (.swift-format: 4-space indentation, 180 columns, the toolchain's swift-format).
#   scripts/format.sh          rewrites Sources and Tests in place
#   scripts/format.sh --check  lists what is not formatted and fails (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --check ]; then
    swift format lint --strict --recursive --parallel --configuration .swift-format Sources Tests
else
    swift format format --in-place --recursive --parallel --configuration .swift-format Sources Tests
fi
