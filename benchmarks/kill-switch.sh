#!/usr/bin/env bash
# Kill switch to SDKs: how long from sending `flags disable`/`enable` to the admin API until a
# real Unleash Python SDK (UnleashClient 6.9.1, from .build/sdk-venv; scripts/test.sh installs it)
# sees the flag flip. Streaming SDK: TOGGLES (100) toggles, bar p99 <= 200 ms. Polling SDK
# (refresh interval POLL seconds, default 1): POLL_TOGGLES (10) toggles; it must be within the interval.
set -euo pipefail
source "$(dirname "$0")/flag-server.sh"
PYTHON="$ROOT/.build/sdk-venv/bin/python"
[ -x "$PYTHON" ] || { echo "no SDK virtualenv at $PYTHON: run scripts/test.sh first" >&2; exit 1; }
"$PYTHON" "$ROOT/benchmarks/kill-switch.py" "$BASE" "$ADMIN" "$CLIENT" streaming "${TOGGLES:-100}" 1 "$WORK/cache-streaming"
"$PYTHON" "$ROOT/benchmarks/kill-switch.py" "$BASE" "$ADMIN" "$CLIENT" polling "${POLL_TOGGLES:-10}" "${POLL:-1}" "$WORK/cache-polling"
