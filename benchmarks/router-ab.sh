#!/usr/bin/env bash
# Two builds of Ripcord's router side by side, at the same time on the same core: which costs less
# per request (for trying an optimisation).
#
#   backend:  nginx `return 200 "ok"` (1 worker) on LOAD_CORE
#   A, B:     `ripcord serve --threads 1` of each build, both pinned to PROXY_CORE, each in front of the backend
#   load:     two `wrk -t1 -cN` on LOAD_CORE, one per build, started together, ROUNDS times
#
# Both proxies are busy at once and share one core, so each gets about half of it, and each round's
# ratio of their requests/s is the inverse ratio of their cost per request, measured under the same
# conditions: a shared VM's drift, which moves runs taken one after the other by ±10 % and more
# (router-vs-nginx.sh), reaches both alike. A build against itself measures 0.99–1.00 here.
# Prints each round's requests/s and A/B, and the median A/B.
#   benchmarks/router-ab.sh A-BINARY B-BINARY
# Environment: CONNECTION_COUNTS ("16 64"), ROUNDS (6), DURATION (4s), PROXY_CORE (0), LOAD_CORE (1).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 A-BINARY B-BINARY (two builds of ripcord)" >&2; exit 2; }
SKIP_BUILD=1
DURATION="${DURATION:-4s}"
source "$(dirname "$0")/proxies-common.sh"
A="$(absolute "$1")"; B="$(absolute "$2")"
CONNECTION_COUNTS="${CONNECTION_COUNTS:-16 64}"
ROUNDS="${ROUNDS:-6}"
PROXY_CORE="${PROXY_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"

BACKEND_PORT="$(free_port)"
backend_conf "$BACKEND_PORT"
taskset -c "$LOAD_CORE" "$NGINX" -p "$WORK" -c "$WORK/backend.conf" &
PIDS+=($!)
wait_port "$BACKEND_PORT"
DOOR_A="$(free_port)"; DOOR_B="$(free_port)"
start_serve a "$DOOR_A" embedded "$PROXY_CORE" "$A"
start_serve b "$DOOR_B" embedded "$PROXY_CORE" "$B"
wait_answers_ok "$DOOR_A" "$DOOR_B"

echo "A: $(describe_binary "$A")"
echo "B: $(describe_binary "$B")"
echo "both on core $PROXY_CORE at once; a wrk -t1 -d$DURATION each and the nginx backend on core $LOAD_CORE; $ROUNDS rounds"
for connections in $CONNECTION_COUNTS; do
    taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d1s "http://127.0.0.1:$DOOR_A/" > /dev/null &
    warmup=$!
    taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d1s "http://127.0.0.1:$DOOR_B/" > /dev/null
    wait "$warmup"
    for round in $(seq 1 "$ROUNDS"); do
        taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d"$DURATION" "http://127.0.0.1:$DOOR_A/" > "$WORK/a.wrk" &
        load_a=$!
        taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d"$DURATION" "http://127.0.0.1:$DOOR_B/" > "$WORK/b.wrk"
        wait "$load_a"
        for side in a b; do warn_wrk_errors "$side" "$WORK/$side.wrk"; done
        echo "$connections $round $(rps < "$WORK/a.wrk") $(rps < "$WORK/b.wrk")" | tee -a "$WORK/rows" |
            awk '{ printf "%5d conns, round %2d: A %8.0f  B %8.0f requests/s   A/B %.3f\n", $1, $2, $3, $4, $3 / $4 }'
    done
done
echo "median A/B requests/s (above 1: A costs less per request)"
for connections in $CONNECTION_COUNTS; do
    awk -v c="$connections" '$1 == c { k++; r[k] = $3 / $4 }
        END {
            for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
            printf "%5d conns: %.3f (rounds %.3f to %.3f)\n", c, k % 2 ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2, r[1], r[k]
        }' "$WORK/rows"
done
