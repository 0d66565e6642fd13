#!/usr/bin/env bash
# Weight-change latency and failed requests during a switch, for each traffic manager side by side:
# the built-in router, HAProxy (runtime API) and nginx (graceful reload), in one run.
#
#   backends: two in-process sample services (versions 1.0.0 and 2.0.0)
#   switch:   setBackends moves all traffic from one version to the other, SWITCHES times, 400 ms apart
#   load:     RATE req/s over 4 keep-alive connections through the manager's front door, all along
#
# Prints per manager: how long setBackends took (it returns when the new split is in force), when the
# last answer from the old version came (requests sent after the call began), old-version answers to
# requests sent after the call returned (should be 0), failed requests; and the ratios to the router.
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD is set),
#              SWITCHES (default 20), RATE (default 200).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RIPCORD="${RIPCORD:-$ROOT/.build/release/ripcord}"
SWITCHES="${SWITCHES:-20}"
RATE="${RATE:-200}"

source "$ROOT/scripts/programs.sh"
need_install=()
find_program haproxy >/dev/null || need_install+=(haproxy)
find_program nginx >/dev/null || need_install+=(nginx)
if [ ${#need_install[@]} -gt 0 ]; then
    echo "installing ${need_install[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
    for daemon in nginx haproxy; do
        $SUDO systemctl disable --now "$daemon" >/dev/null 2>&1 || $SUDO service "$daemon" stop >/dev/null 2>&1 || true
    done
fi

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = "$ROOT/.build/release/ripcord" ]; then
    "$ROOT/scripts/build-release.sh" ripcord-bench
fi
RIPCORD_BENCH="${RIPCORD_BENCH:-$(dirname "$RIPCORD")/ripcord-bench}"
[ -x "$RIPCORD_BENCH" ] || { echo "no ripcord-bench binary at $RIPCORD_BENCH" >&2; exit 1; }

echo "machine: $(nproc) cores, $(uname -sr), $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1)"
"$RIPCORD_BENCH" traffic-switch --switches "$SWITCHES" --requests-per-second "$RATE"
