#!/usr/bin/env bash
# Compares Ripcord's router with nginx as a reverse proxy in front of the same backend.
#
#   backend:  nginx, 1 worker, `return 200 "ok"`
#   proxies:  nginx (2 workers, keepalive upstream)  vs  `ripcord-bench router` (2 threads)
#   load:     wrk with the same settings against each, one after the other
#
# Prints requests/s and p99 for both and the ratios. Bar: ripcord/nginx rps >= 0.6, p99 ratio <= 2.
# Environment: RIPCORD (binary, default .build/release/ripcord, built if missing or SKIP_BUILD unset),
#              DURATION (default 10s), CONNECTIONS (64), THREADS (2), WARMUP (3s).
set -euo pipefail

source "$(dirname "$0")/proxies-common.sh"

run() { # name port
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$2/" > /dev/null
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/" > "$WORK/$1.wrk"
    if grep -q "Non-2xx\|Socket errors" "$WORK/$1.wrk"; then
        echo "warning: $1: $(grep 'Non-2xx\|Socket errors' "$WORK/$1.wrk" | tr -s ' ')" >&2
    fi
}

run nginx "$NGINX_PROXY_PORT"
run ripcord "$RIPCORD_PORT"

NGINX_RPS="$(rps < "$WORK/nginx.wrk")"; NGINX_P99="$(p99_ms < "$WORK/nginx.wrk")"
RIPCORD_RPS="$(rps < "$WORK/ripcord.wrk")"; RIPCORD_P99="$(p99_ms < "$WORK/ripcord.wrk")"

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (load generator shares the machine's $(nproc) cores)"
printf "%-10s %14s %12s\n" proxy "requests/s" "p99 (ms)"
printf "%-10s %14s %12s\n" nginx "$NGINX_RPS" "$NGINX_P99"
printf "%-10s %14s %12s\n" ripcord "$RIPCORD_RPS" "$RIPCORD_P99"
awk -v rr="$RIPCORD_RPS" -v nr="$NGINX_RPS" -v rp="$RIPCORD_P99" -v np="$NGINX_P99" 'BEGIN {
    printf "ratio      rps ripcord/nginx = %.2f (bar >= 0.60)   p99 ripcord/nginx = %.2f (bar <= 2.00)\n", rr/nr, rp/np
}'
