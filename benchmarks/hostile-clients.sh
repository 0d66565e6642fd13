#!/usr/bin/env bash
# A front door under hostile clients, Ripcord's router and nginx measured the same way.
#
#   backend:  nginx `return 200 "ok"`;  proxies: nginx (2 workers) and `ripcord-bench router` (2 event loops)
#   attack:   SLOWLORIS connections that drip a header line every DRIP seconds and never finish the
#             head, plus IDLE connections that send nothing (benchmarks/hostile-clients.py)
#   measure:  a well-behaved client (wrk -t1 -c8 --latency) quiet, then under the attack; the proxy's
#             resident memory before and during the attack
#
# Prints p99 quiet and attacked and their ratio (bar: <= 2), and the RSS growth (bar: < 50 MB), for
# both proxies. Environment: SLOWLORIS (300), IDLE (1000), DRIP (5 s), DURATION (10s), RIPCORD, SKIP_BUILD.
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

SLOWLORIS="${SLOWLORIS:-300}"
IDLE="${IDLE:-1000}"
DRIP="${DRIP:-5}"
source "$(dirname "$0")/proxies-common.sh"
start_proxies
ATTACKER="$(dirname "$0")/hostile-clients.py"

rss_mb() { # pid: the process and its children (nginx's workers)
    local total=0
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo $((total / 1024))
}

measure() { # name port pid
    local name=$1 port=$2 pid=$3
    wrk -t1 -c8 -d"$WARMUP" "http://127.0.0.1:$port/" > /dev/null
    wrk -t1 -c8 -d"$DURATION" --latency "http://127.0.0.1:$port/" > "$WORK/$name-quiet.wrk"
    local before; before=$(rss_mb "$pid")
    python3 "$ATTACKER" "$port" "$SLOWLORIS" "$IDLE" "$((${DURATION%s} + 8))" "$DRIP" > "$WORK/$name-attack.log" 2>&1 &
    local attacker=$!
    sleep 4 # let the attack open its connections
    wrk -t1 -c8 -d"$DURATION" --latency "http://127.0.0.1:$port/" > "$WORK/$name-attacked.wrk"
    local during; during=$(rss_mb "$pid")
    wait "$attacker" || true
    local errors; errors=$(grep -h "Non-2xx\|Socket errors" "$WORK/$name-attacked.wrk" | tr -s ' ' || true)
    printf "%-8s p99 quiet %8s ms   attacked %8s ms   ratio %5.2f (bar <= 2)   rps %9s -> %9s   RSS %4s -> %4s MB (+%s, bar < 50)   %s %s\n" \
        "$name" "$(p99_ms < "$WORK/$name-quiet.wrk")" "$(p99_ms < "$WORK/$name-attacked.wrk")" \
        "$(awk -v a="$(p99_ms < "$WORK/$name-attacked.wrk")" -v q="$(p99_ms < "$WORK/$name-quiet.wrk")" 'BEGIN { print a/q }')" \
        "$(rps < "$WORK/$name-quiet.wrk")" "$(rps < "$WORK/$name-attacked.wrk")" "$before" "$during" "$((during - before))" \
        "$(cat "$WORK/$name-attack.log")" "${errors:+($errors)}"
}

echo "attack: $SLOWLORIS slowloris (a header line every ${DRIP}s) + $IDLE idle connections; measured by wrk -t1 -c8 -d$DURATION"
measure nginx "$NGINX_PROXY_PORT" "$NGINX_PID"
measure ripcord "$RIPCORD_PORT" "$RIPCORD_PID"
