#!/usr/bin/env bash
# scripts/api-fuzz.sh [SECONDS]: schemathesis (PyPI, in a virtualenv under .build) against a real
# `ripcord serve` on loopback, driven by docs/openapi.yaml, for about SECONDS (default 90): the admin
# API with the admin token, then the Unleash client and frontend APIs and OFREP with a client token. Fails on any
# 5xx, any response that does not match the description (schema, status, content type), and any
# route that answers without its token.
# Needs .build/debug/ripcord (`swift build --product ripcord`). Reports land in .build/api-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-90}"
venv=.build/api-fuzz-venv
if ! "$venv/bin/st" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
binary="$PWD/.build/debug/ripcord"
[ -x "$binary" ] || { echo "api-fuzz: build ripcord first (swift build --product ripcord)" >&2; exit 2; }
reports="$PWD/.build/api-fuzz"
rm -rf "$reports" && mkdir -p "$reports"
work="$(mktemp -d /tmp/ripcord-api-fuzz.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$work/ripcord.yaml" <<YAML
api: { listen: 127.0.0.1:$port }
services:
  checkout:
    listen: 127.0.0.1:0
    run: { command: "'$binary' sample-service --name checkout --port {port} --version {version}" }
YAML
"$binary" serve --config "$work/ripcord.yaml" > "$reports/serve.log" 2>&1 &
serve=$!
stop() { kill "$serve" 2>/dev/null && wait "$serve" 2>/dev/null; rm -rf "$work"; }
trap stop EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fs "$base/api/v1/health" >/dev/null 2>&1 && [ -s "$work/.ripcord/admin.token" ] && break
  kill -0 "$serve" 2>/dev/null || { cat "$reports/serve.log" >&2; exit 1; }
  sleep 0.1
done
admin="$(cat "$work/.ripcord/admin.token")"
client="$(curl -fs -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"api-fuzz","kind":"client"}' "$base/api/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth
run() { # NAME SECONDS ARGS...
  local name="$1" budget="$2"; shift 2
  echo "api-fuzz $name: ${budget}s"
  # From the reports folder: schemathesis keeps a cache of what it found in its working directory.
  (cd "$reports" && "$OLDPWD/$venv/bin/st" run "$OLDPWD/docs/openapi.yaml" --url "$base" --checks "$checks" --max-time "$budget" --request-timeout 10 \
    --workers 1 --no-color --generation-database none --report junit --report-junit-path "$reports/$name.xml" "$@" > "$reports/$name.log" 2>&1) \
    || { tail -80 "$reports/$name.log" >&2; echo "api-fuzz $name FAILED (log: $reports/$name.log)" >&2; return 1; }
  grep -E "Tested:|generated," "$reports/$name.log" | sed "s/^ */  /"
}
status=0
# The streams never end on their own, so they are left out; TelemetryTests and the SDK tests read them.
run admin $((seconds * 2 / 3)) -H "Authorization: Bearer $admin" --include-path-regex '^/(api/v1|metrics)' --exclude-path /api/v1/events || status=1
run sdk $((seconds / 3)) -H "Authorization: $client" --include-path-regex '^/(api/client|api/frontend|api/proxy|ofrep)' --exclude-path /api/client/streaming || status=1
if grep -qE "Fatal error|panic" "$reports/serve.log"; then echo "api-fuzz: ripcord serve crashed" >&2; status=1; fi
kill -0 "$serve" 2>/dev/null || { echo "api-fuzz: ripcord serve died" >&2; status=1; }
exit $status
