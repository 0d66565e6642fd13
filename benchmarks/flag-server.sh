# Sourced by the flag benchmarks: starts a release `ripcord serve` on loopback in a temporary
# folder, imports benchmarks/flag-bench-state.json and creates a client token.
# Sets: BASE (API URL), ADMIN (admin token), CLIENT (client token), WORK (the folder); stops serve on exit.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RIPCORD="${RIPCORD:-$ROOT/.build/release/ripcord}"
if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = "$ROOT/.build/release/ripcord" ]; then
    flock /tmp/ripcord-swift-build.lock "$ROOT/scripts/build-release.sh" ripcord ripcord-bench >&2
fi
[ -x "$RIPCORD" ] || { echo "no ripcord binary at $RIPCORD" >&2; exit 1; }
RIPCORD_BENCH="${RIPCORD_BENCH:-$(dirname "$RIPCORD")/ripcord-bench}"

WORK="$(mktemp -d /tmp/ripcord-flag-bench.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$WORK/ripcord.yaml" <<YAML
api: { listen: 127.0.0.1:$PORT }
services:
  web:
    listen: 127.0.0.1:0
    run: { command: "true {port}" }
YAML
"$RIPCORD" serve --config "$WORK/ripcord.yaml" > "$WORK/serve.log" 2>&1 &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 200); do
    [ -s "$WORK/.ripcord/admin.token" ] && curl -fs "$BASE/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.05
done
ADMIN="$(cat "$WORK/.ripcord/admin.token")"
curl -fs -X POST -H "authorization: Bearer $ADMIN" --data @"$ROOT/benchmarks/flag-bench-state.json" "$BASE/api/v1/flags/import" >/dev/null
CLIENT="$(curl -fs -X POST -H "authorization: Bearer $ADMIN" -d '{"name":"bench","kind":"client","environment":"default"}' "$BASE/api/v1/tokens" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
