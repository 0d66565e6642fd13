#!/usr/bin/env bash
# Memory: RSS of `ripcord serve` idle with 10 services configured and deployed (one instance each;
# the instances are separate processes and not counted). Bar: under 100 MB.
#   usage: benchmarks/idle-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}" ] || scripts/build-release.sh >/dev/null
bin="$PWD/.build/release/ripcord"
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
api=$(free_port)
{
  echo "api: { listen: 127.0.0.1:$api }"
  echo "services:"
  for i in $(seq 1 10); do
    echo "  svc$i:"
    echo "    listen: 127.0.0.1:$(free_port)"
    echo "    run: { command: \"'$bin' sample-service --port {port} --version {version}\" }"
  done
} > "$dir/ripcord.yaml"
"$bin" serve --config "$dir/ripcord.yaml" >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do [ -f "$dir/.ripcord/admin.token" ] && break; sleep 0.1; done
for i in $(seq 1 10); do "$bin" deploy "svc$i" 1.0.0 --wait --config "$dir/ripcord.yaml" >/dev/null; done
sleep 5
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "ripcord serve idle, 10 services deployed: RSS $((rss_kb / 1024)) MB ($rss_kb kB); bar 100 MB; ratio $(python3 -c "print(round($rss_kb/1024/100, 2))")"
