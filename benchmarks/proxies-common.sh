# Shared by router-vs-nginx.sh, router-ab.sh and hostile-clients.sh (sourced, not run): installs nginx
# and wrk if missing, builds the release binaries, makes a work folder (removed on exit with every
# process in PIDS) and defines helpers: nginx configurations (backend_conf, proxy_conf), start_proxies
# (an nginx backend `return 200 "ok"`, an nginx proxy and `ripcord-bench router` in front of it; sets
# BACKEND_PORT, NGINX_PROXY_PORT, RIPCORD_PORT, NGINX_PID and RIPCORD_PID), start_serve (a `ripcord
# serve` in front of BACKEND_PORT), and readers of wrk's output.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RIPCORD="${RIPCORD:-$ROOT/.build/release/ripcord}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3s}"

source "$ROOT/scripts/programs.sh"
need_install=()
find_program nginx >/dev/null || need_install+=(nginx)
command -v wrk >/dev/null 2>&1 || need_install+=(wrk)
if [ ${#need_install[@]} -gt 0 ]; then
    echo "installing ${need_install[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi
NGINX="$(need_program nginx nginx)"

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = "$ROOT/.build/release/ripcord" ]; then
    "$ROOT/scripts/build-release.sh" ripcord ripcord-bench
fi
[ -x "$RIPCORD" ] || { echo "no ripcord binary at $RIPCORD" >&2; exit 1; }
RIPCORD_BENCH="${RIPCORD_BENCH:-$(dirname "$RIPCORD")/ripcord-bench}"

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

mkdir -p "$WORK/logs" "$WORK/tmp"

common() { # name
    cat <<CONF
daemon off;
pid $WORK/$1.pid;
error_log $WORK/logs/$1-error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
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

backend_conf() { # port: nginx answering `return 200 "ok"`, 1 worker
    { common backend; echo "worker_processes 1;"; echo "http {"; http_common; cat <<CONF
    server {
        listen 127.0.0.1:$1;
        location / { return 200 "ok"; }
    }
}
CONF
    } > "$WORK/backend.conf"
}

proxy_conf() { # port backend-port workers [name]: nginx as a reverse proxy with a keep-alive upstream, in $WORK/NAME.conf
    local name="${4:-proxy}"
    { common "$name"; echo "worker_processes $3;"; echo "http {"; http_common; cat <<CONF
    upstream backend {
        server 127.0.0.1:$2;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    } > "$WORK/$name.conf"
}

# The unpinned pair: the nginx backend, an nginx proxy (2 workers) and `ripcord-bench router`
# (2 event loops) in front of it.
start_proxies() {
    BACKEND_PORT="$(free_port)"
    NGINX_PROXY_PORT="$(free_port)"
    RIPCORD_PORT="$(free_port)"
    backend_conf "$BACKEND_PORT"
    proxy_conf "$NGINX_PROXY_PORT" "$BACKEND_PORT" 2
    "$NGINX" -p "$WORK" -c "$WORK/backend.conf" &
    PIDS+=($!)
    "$NGINX" -p "$WORK" -c "$WORK/proxy.conf" &
    NGINX_PID=$!
    PIDS+=($!)
    "$RIPCORD_BENCH" router --listen "127.0.0.1:$RIPCORD_PORT" --backend "127.0.0.1:$BACKEND_PORT" --threads 2 \
        > "$WORK/logs/ripcord.log" 2>&1 &
    RIPCORD_PID=$!
    PIDS+=($!)
    wait_port "$BACKEND_PORT"; wait_port "$NGINX_PROXY_PORT"; wait_port "$RIPCORD_PORT"
    local body; body="$(curl -s "http://127.0.0.1:$RIPCORD_PORT/" 2>/dev/null || true)"
    [ -z "$body" ] || [ "$body" = "ok" ] || { echo "ripcord answered '$body', expected 'ok'" >&2; exit 1; }
}

api() { # port token method path [body]
    curl -sf -X "$3" -H "authorization: Bearer $2" -H "content-type: application/json" ${5:+-d "$5"} "http://127.0.0.1:$1$4"
}

# A `ripcord serve` whose one service `bench` listens on DOOR and runs one instance: the backend.
# Sets SERVE_API, SERVE_TOKEN, SERVE_PID.
start_serve() { # name door mode core [binary]
    local dir="$WORK/$1" api_port; api_port="$(free_port)"
    mkdir -p "$dir"
    cat > "$dir/ripcord.yaml" <<CONF
api: { listen: 127.0.0.1:$api_port }
stateDirectory: state
router: { mode: $3 }
services:
  bench:
    listen: 127.0.0.1:$2
    driver:
      command:
        start: "echo address=127.0.0.1:$BACKEND_PORT"
        stop: "true"
        check: "true"
    healthCheck: { path: / }
CONF
    (cd "$dir" && exec taskset -c "$4" "${5:-$RIPCORD}" serve --config ripcord.yaml --threads 1 > "$WORK/logs/$1.log" 2>&1) &
    SERVE_PID=$!
    PIDS+=($!)
    for _ in $(seq 1 300); do [ -s "$dir/state/admin.token" ] && break; sleep 0.05; done
    [ -s "$dir/state/admin.token" ] || { echo "$1: no admin token (see $WORK/logs/$1.log)" >&2; cat "$WORK/logs/$1.log" >&2; exit 1; }
    SERVE_API=$api_port
    SERVE_TOKEN="$(cat "$dir/state/admin.token")"
    for _ in $(seq 1 300); do api "$SERVE_API" "$SERVE_TOKEN" GET /api/v1/health > /dev/null 2>&1 && break; sleep 0.05; done
    api "$SERVE_API" "$SERVE_TOKEN" POST /api/v1/services/bench/deploy '{"version":"1.0.0"}' > /dev/null
    for _ in $(seq 1 300); do
        api "$SERVE_API" "$SERVE_TOKEN" GET /api/v1/services/bench | grep -q '"phase":"promoted"' && return 0
        sleep 0.1
    done
    echo "$1: bench was not promoted (see $WORK/logs/$1.log)" >&2; exit 1
}

# Which build a run measured (path, build time, content hash) and the commit the tree is at: by path
# alone, an experiment's binary left in .build/release looks like a build of the tree.
describe_binary() { # binary
    echo "$1: built $(date -u -r "$1" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$1" | cut -c1-12); tree at $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
}

absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; } # serve runs in its own folder

wait_answers_ok() { # door ...: each answers "ok" (the backend's body through it) within 5 s, or exit
    local door
    for door in "$@"; do
        for _ in $(seq 1 100); do [ "$(curl -s "http://127.0.0.1:$door/" || true)" = ok ] && break; sleep 0.05; done
        [ "$(curl -s "http://127.0.0.1:$door/")" = ok ] || { echo "the door on $door does not answer 'ok'" >&2; exit 1; }
    done
}

warn_wrk_errors() { # label wrk-output: prints wrk's non-2xx and socket-error lines, if any, as a warning
    if grep -q "Non-2xx\|Socket errors" "$2"; then
        echo "warning: $1: $(grep 'Non-2xx\|Socket errors' "$2" | tr -s ' ')" >&2
    fi
}

# wrk --latency prints "99%  1.23ms"; normalise to milliseconds.
p99_ms() {
    awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 }; print v }'
}
rps() { awk '/^Requests\/sec:/ { print $2 }'; }

