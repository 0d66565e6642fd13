#!/usr/bin/env bash
# Compares Ripcord's router with nginx as a reverse proxy in front of the same backend.
#
#   backend:  nginx, 1 worker, `return 200 "ok"`
#   proxies:  nginx (2 workers, keepalive upstream)  vs  `ripcord bench-router` (2 threads)
#   load:     wrk with the same settings against each, one after the other
#
# Prints requests/s and p99 for both and the ratios. Bar: ripcord/nginx rps >= 0.6, p99 ratio <= 2.
# Environment: RIPCORD (binary, default .build/release/ripcord, built if missing or SKIP_BUILD unset),
#              DURATION (default 10s), CONNECTIONS (64), THREADS (2), WARMUP (3s).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RIPCORD="${RIPCORD:-$ROOT/.build/release/ripcord}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3s}"

need_install=()
command -v nginx >/dev/null 2>&1 || need_install+=(nginx)
command -v wrk >/dev/null 2>&1 || need_install+=(wrk)
if [ ${#need_install[@]} -gt 0 ]; then
    echo "installing ${need_install[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = "$ROOT/.build/release/ripcord" ]; then
    (cd "$ROOT" && swift build -c release --product ripcord)
fi
[ -x "$RIPCORD" ] || { echo "no ripcord binary at $RIPCORD" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ripcord-bench.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listening on port $1" >&2; return 1
}

BACKEND_PORT="$(free_port)"
NGINX_PROXY_PORT="$(free_port)"
RIPCORD_PORT="$(free_port)"
mkdir -p "$WORK/logs" "$WORK/tmp"

common() { # name
    cat <<CONF
daemon off;
pid $WORK/$1.pid;
error_log $WORK/logs/$1-error.log warn;
events { worker_connections 4096; }
CONF
}
http_common() {
    cat <<CONF
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    keepalive_requests 1000000;
CONF
}

{ common backend; echo "worker_processes 1;"; echo "http {"; http_common; cat <<CONF
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / { return 200 "ok"; }
    }
}
CONF
} > "$WORK/backend.conf"

{ common proxy; echo "worker_processes 2;"; echo "http {"; http_common; cat <<CONF
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$NGINX_PROXY_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
} > "$WORK/proxy.conf"

"$NGINX" -p "$WORK" -c "$WORK/backend.conf" &
PIDS+=($!)
"$NGINX" -p "$WORK" -c "$WORK/proxy.conf" &
PIDS+=($!)
"$RIPCORD" bench-router --listen "127.0.0.1:$RIPCORD_PORT" --backend "127.0.0.1:$BACKEND_PORT" --threads 2 \
    > "$WORK/logs/ripcord.log" 2>&1 &
PIDS+=($!)
wait_port "$BACKEND_PORT"; wait_port "$NGINX_PROXY_PORT"; wait_port "$RIPCORD_PORT"

body="$(curl -s "http://127.0.0.1:$RIPCORD_PORT/" 2>/dev/null || true)"
[ -z "$body" ] || [ "$body" = "ok" ] || { echo "ripcord answered '$body', expected 'ok'" >&2; exit 1; }

# wrk --latency prints "99%  1.23ms"; normalise to milliseconds.
p99_ms() {
    awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 }; print v }'
}
rps() { awk '/^Requests\/sec:/ { print $2 }'; }

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
