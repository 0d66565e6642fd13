#!/usr/bin/env bash
# Ripcord's router against nginx as a reverse proxy, each pinned to one core (issue 14).
#
#   backend:  nginx `return 200 "ok"` (1 worker), pinned to LOAD_CORE beside wrk
#   proxies:  one after the other, each pinned to PROXY_CORE:
#               nginx    1 worker, keep-alive upstream
#               control  a second nginx, configured as the first: its ratio to nginx is the run's noise
#                        floor (what two identical proxies measure apart on this machine)
#               serve    `ripcord serve --threads 1`: the embedded router in front of one instance
#                        (the command driver reports the backend's address)
#               router   `ripcord router --threads 1`: a standalone router, its controller
#                        (`ripcord serve`, router.mode: external) on LOAD_CORE
#               relay    `ripcord-bench relay --threads 1`: SwiftNIO's floor, bytes passed between each client
#                        and its own backend connection (no parsing, routing, limits or metrics); the
#                        router's time above it is its own, the relay's above nginx is NIO's and Swift's
#               serve-b  with RIPCORD_B (another build), `serve` from it as well: two builds side by side
#   load:     wrk -t1 -cN -dDURATION --latency on LOAD_CORE, for N in CONNECTION_COUNTS, ROUNDS
#             times each, the proxies interleaved (each round starts with the next proxy)
#
# Ripcord runs with its defaults: the front door's timeouts and limits are on.
# Prints requests/s and p99 of each proxy, its ratios to nginx in the same round, and
# the median ratio over the rounds; and where the proxy core's time went per request: user space and
# kernel (system + softirq) microseconds, from /proc/stat over the run, and for each Ripcord proxy its
# own work: its user time above the relay's in the same round. A shared VM's speed drifts by
# ±10 % over tens of seconds, so the runs are short and many: a round's runs are seconds apart.
# Bar: requests/s >= 0.95x nginx, p99 <= 1.3x nginx.
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD), RIPCORD_B, DURATION
# (4s), WARMUP (1s), CONNECTION_COUNTS ("16 64"), ROUNDS (7), PROXY_CORE (0), LOAD_CORE (1), PROFILE (a file:
# records `perf` call graphs of PROFILE_PROXY (serve, router or relay; default serve) under wrk -c64 there, and prints
# the top symbols; PROFILE_CALL_GRAPH=dwarf for callers through Swift frames without frame pointers).
set -euo pipefail

DURATION="${DURATION:-4s}"
WARMUP="${WARMUP:-1s}"
source "$(dirname "$0")/proxies-common.sh"
RIPCORD="$(absolute "$RIPCORD")"
[ -z "${RIPCORD_B:-}" ] || RIPCORD_B="$(absolute "$RIPCORD_B")"
CONNECTION_COUNTS="${CONNECTION_COUNTS:-16 64}"
ROUNDS="${ROUNDS:-7}"
PROXY_CORE="${PROXY_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
on_load_core() { taskset -c "$LOAD_CORE" "$@"; }

BACKEND_PORT="$(free_port)"
NGINX_PROXY_PORT="$(free_port)"
CONTROL_PORT="$(free_port)"
RELAY_PORT="$(free_port)"
SERVE_DOOR="$(free_port)"
ROUTER_DOOR="$(free_port)"
SERVE_B_DOOR="$(free_port)"
backend_conf "$BACKEND_PORT"
proxy_conf "$NGINX_PROXY_PORT" "$BACKEND_PORT" 1
proxy_conf "$CONTROL_PORT" "$BACKEND_PORT" 1 control
taskset -c "$LOAD_CORE" "$NGINX" -p "$WORK" -c "$WORK/backend.conf" &
PIDS+=($!)
taskset -c "$PROXY_CORE" "$NGINX" -p "$WORK" -c "$WORK/proxy.conf" &
PIDS+=($!)
taskset -c "$PROXY_CORE" "$NGINX" -p "$WORK" -c "$WORK/control.conf" &
PIDS+=($!)
taskset -c "$PROXY_CORE" "$RIPCORD_BENCH" relay --listen "127.0.0.1:$RELAY_PORT" --backend "127.0.0.1:$BACKEND_PORT" --threads 1 \
    > "$WORK/logs/relay.log" 2>&1 &
PIDS+=($!)
RELAY_PID=$!
wait_port "$BACKEND_PORT"; wait_port "$NGINX_PROXY_PORT"; wait_port "$CONTROL_PORT"; wait_port "$RELAY_PORT"

start_serve embedded "$SERVE_DOOR" embedded "$PROXY_CORE"
EMBEDDED_PID=$SERVE_PID
proxies=(nginx:"$NGINX_PROXY_PORT" serve:"$SERVE_DOOR" router:"$ROUTER_DOOR" control:"$CONTROL_PORT" relay:"$RELAY_PORT")
if [ -n "${RIPCORD_B:-}" ]; then
    start_serve embedded-b "$SERVE_B_DOOR" embedded "$PROXY_CORE" "$RIPCORD_B"
    proxies+=(serve-b:"$SERVE_B_DOOR")
fi
names=("${proxies[@]%%:*}")
start_serve controller "$ROUTER_DOOR" external "$LOAD_CORE"
echo "$SERVE_TOKEN" > "$WORK/router.token"
taskset -c "$PROXY_CORE" "$RIPCORD" router --controller "http://127.0.0.1:$SERVE_API" --token-file "$WORK/router.token" --name bench-edge \
    --state-file "$WORK/router-state.json" --threads 1 > "$WORK/logs/router.log" 2>&1 &
PIDS+=($!)
ROUTER_PID=$!
wait_port "$SERVE_DOOR"; wait_port "$ROUTER_DOOR"
wait_answers_ok "$SERVE_DOOR" "$ROUTER_DOOR" "$RELAY_PORT" ${RIPCORD_B:+"$SERVE_B_DOOR"}

proxy_core_ticks() { awk -v c="cpu$PROXY_CORE" '$1 == c { print $2 + $3, $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

run() { # name port connections round
    on_load_core wrk -t1 -c"$3" -d"$WARMUP" "http://127.0.0.1:$2/" > /dev/null
    local before; before="$(proxy_core_ticks)"
    on_load_core wrk -t1 -c"$3" -d"$DURATION" --latency "http://127.0.0.1:$2/" > "$WORK/$1-$3-$4.wrk"
    echo "$before $(proxy_core_ticks)" > "$WORK/$1-$3-$4.cpu" # user, kernel, all: before, then after
    warn_wrk_errors "$1 at $3" "$WORK/$1-$3-$4.wrk"
}

# Rounds interleave the proxies, each round starting with the next one (serve, router, control, relay,
# nginx; router, control, relay, nginx, serve; …), so drift in the machine's speed reaches all alike; each round's ratios
# compare runs seconds apart, and the summary is their median.
describe_binary "$RIPCORD"
[ -z "${RIPCORD_B:-}" ] || describe_binary "$RIPCORD_B"
echo "each proxy on core $PROXY_CORE; wrk -t1 -d$DURATION --latency and the nginx backend on core $LOAD_CORE; $ROUNDS rounds"
printf "%-8s %5s %5s %12s %10s %14s %14s %12s %12s\n" proxy conns round "requests/s" "p99 (ms)" "rps / nginx" "p99 / nginx" \
    "user µs/req" "kernel µs/req"
for connections in $CONNECTION_COUNTS; do
    for round in $(seq 1 "$ROUNDS"); do
        for i in "${!proxies[@]}"; do
            proxy="${proxies[$(((round + i) % ${#proxies[@]}))]}"
            run "${proxy%%:*}" "${proxy#*:}" "$connections" "$round"
        done
        nginx_rps="$(rps < "$WORK/nginx-$connections-$round.wrk")"; nginx_p99="$(p99_ms < "$WORK/nginx-$connections-$round.wrk")"
        for name in "${names[@]}"; do
            r="$(rps < "$WORK/$name-$connections-$round.wrk")"; p="$(p99_ms < "$WORK/$name-$connections-$round.wrk")"
            read -r u0 k0 a0 u1 k1 a1 < "$WORK/$name-$connections-$round.cpu"
            awk -v n="$name" -v c="$connections" -v k="$round" -v r="$r" -v p="$p" -v nr="$nginx_rps" -v np="$nginx_p99" \
                -v d="${DURATION%s}" -v u="$((u1 - u0))" -v kt="$((k1 - k0))" -v a="$((a1 - a0))" 'BEGIN {
                # The ticks are the core'"'"'s share of the run (USER_HZ); a share times the run'"'"'s length, per request.
                printf "%-8s %5d %5d %12.0f %10.2f %14s %14s %12.2f %12.2f\n", n, c, k, r, p,
                    (n == "nginx" ? "" : sprintf("%.2f", r / nr)), (n == "nginx" ? "" : sprintf("%.2f", p / np)),
                    u / a * d * 1e6 / (r * d), kt / a * d * 1e6 / (r * d)
            }' | tee -a "$WORK/rows"
        done
    done
done
echo "median over rounds (bar: requests/s >= 0.95x nginx, p99 <= 1.3x nginx); the proxy core's time per request"
for connections in $CONNECTION_COUNTS; do
    for name in "${names[@]}"; do
        awk -v n="$name" -v c="$connections" '
            function median(a, k,   i, j, t) {
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
            }
            NR == FNR { if ($1 == "relay" && $2 == c) relay[$3] = $(NF - 1); next }
            $1 == n && $2 == c { k++; rps[k] = $6; p99[k] = $7; user[k] = $(NF - 1); kernel[k] = $NF; own[k] = $(NF - 1) - relay[$3] }
            END {
                time = sprintf("user %.2f µs, kernel %.2f µs", median(user, k), median(kernel, k))
                if (n == "nginx") { printf "%-8s %5d   %37s %s\n", n, c, "", time; exit }
                r = median(rps, k); p = median(p99, k)
                # A Ripcord proxy: its own work, its user time above the relay'"'"'s in the same round.
                note = n == "control" ? "  (noise floor: nginx against itself)" : n == "relay" ? "  (SwiftNIO floor: bytes relayed, no HTTP)" \
                    : sprintf("  (own work: %.2f µs above the relay)", median(own, k))
                printf "%-8s %5d   rps %.2f%-9s p99 %.2f%-9s %s%s\n", n, c, r, (r >= 0.95 ? "" : " (< 0.95)"), p, (p <= 1.3 ? "" : " (> 1.3)"), time, note
            }' "$WORK/rows" "$WORK/rows"
    done
done

if [ -n "${PROFILE:-}" ]; then
    case "${PROFILE_PROXY:-serve}" in
        serve) profiled=$EMBEDDED_PID door=$SERVE_DOOR ;;
        router) profiled=$ROUTER_PID door=$ROUTER_DOOR ;;
        relay) profiled=$RELAY_PID door=$RELAY_PORT ;;
        *) echo "PROFILE_PROXY is serve, router or relay" >&2; exit 1 ;;
    esac
    perf record -F 999 --call-graph "${PROFILE_CALL_GRAPH:-fp}" -p "$profiled" -o "$PROFILE" -- sleep 8 > /dev/null 2>&1 &
    profiler=$!
    on_load_core wrk -t1 -c64 -d10s "http://127.0.0.1:$door/" > /dev/null
    wait "$profiler" || true
    echo "profile of ${PROFILE_PROXY:-serve} under wrk -c64 in $PROFILE; top symbols (self):"
    perf report -i "$PROFILE" --no-children --sort symbol --stdio 2> /dev/null | grep -E '^ +[0-9]' | head -25
fi
