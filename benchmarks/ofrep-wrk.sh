#!/usr/bin/env bash
# OFREP single-flag evaluation over HTTP on loopback with keep-alive: wrk against a release
# `ripcord serve`, POST /ofrep/v1/evaluate/flags/checkout-v2 (3 strategies, 5 constraints, 2
# variants) with a context of 4 fields and a client token.
# Bars: >= 15,000 requests/s, p99 <= 5 ms. Environment: THREADS (2), CONNECTIONS (32), DURATION (10s).
set -euo pipefail
source "$(dirname "$0")/flag-server.sh"
cat > "$WORK/ofrep.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "$CLIENT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"context":{"targetingKey":"alice","country":"NO","appVersion":"2.0.1","plan":"Pro"}}'
LUA
curl -fs -X POST -H "authorization: $CLIENT" --data '{"context":{"targetingKey":"alice","country":"NO","appVersion":"2.0.1","plan":"Pro"}}' \
    "$BASE/ofrep/v1/evaluate/flags/checkout-v2" >&2; echo >&2
wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-32}" -d"${DURATION:-10s}" --latency -s "$WORK/ofrep.lua" "$BASE/ofrep/v1/evaluate/flags/checkout-v2" | tee "$WORK/wrk.txt"
rps="$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.txt")"
p99="$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")"
errors="$(grep -c 'Non-2xx' "$WORK/wrk.txt" || true)"
echo "ofrep-wrk requests_per_second=$rps p99=$p99 non2xx_lines=$errors bars: >=15000 req/s, p99<=5ms"
