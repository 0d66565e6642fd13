#!/usr/bin/env bash
# Scale (issue 15): one `ripcord serve` with SERVICES services (1,000), each on its own front door,
# idle and then with ROLLOUTS (100) rollouts in progress at once: the controller's CPU, RSS and time
# per decision.
#
#   instances: the command driver. Two shared `ripcord sample-service` backends (1.0.0 and 1.1.0),
#              started by this script; each service's start script reports the address of the one
#              of its version, stop does nothing, check asks whether that backend still runs
#              (`kill -0`). So every service has real instances behind a real door without 2,000
#              processes on the machine.
#   health:    `healthCheck` on /health at its default interval, 1 s: candidates are probed over HTTP
#              every second. The driver runs each instance's check script every CHECK_INTERVAL
#              (`checkInterval`, 30 s here; the driver's default is 1 s), and the supervisor looks at
#              each stable set as often (its answers stand that long), the services spread over the
#              interval and the looks due within a one-second tick taken together: a batch of 33
#              scripts a second. At 1 s that is 1,000 processes started a second, which
#              fills this 2-core machine and is the script contract's cost rather than the
#              controller's idle cost.
#   routing:   router.mode MODE: embedded (serve binds the 1,000 doors) or external (two
#              `ripcord router` processes bind them, one on 127.0.0.1, one on 127.0.0.2).
#   rollouts:  canary steps setWeight 10, pause PAUSE_SECONDS, setWeight 50, pause until promoted;
#              analysis (threshold judge, 1 s windows) fed by SYNTHETIC_RPS synthetic requests/s per
#              candidate through its door, so every rollout makes a decision a second.
#
# Phases: deploy 1.0.0 of every service (a first deploy promotes at once) and wait until all are
# promoted; measure IDLE_SECONDS of idle; deploy 1.1.0 of ROLLOUTS services at once and measure the
# ROLLOUT_SECONDS that follow; then promote them all (--full), wait, and stop serve with SIGTERM.
#   CPU  % of one core: utime+stime of the serve process over the window (/proc/PID/stat); the
#        scripts it runs are other processes, reported apart (cutime+cstime, counted as reaped).
#   RSS  VmRSS of the serve process at the window's end, and the most sampled each second in it.
#   time per decision, from the rollouts' own events:
#        decision lag  how late the controller acts on a decision that is due: the second
#                      `step.setWeight` (50 %) minus the moment its timed pause ended
#                      (`step.pause` event + PAUSE_SECONDS); ticks are 100 ms apart, so an idle
#                      controller shows 0-100 ms. A rollout that was still waiting for evidence
#                      when its pause ended (`evidence.waiting`) is counted apart, not in the lag.
#        first weight  deploy call → that rollout's first `step.setWeight` (start script, health
#                      probes until ready, the first step), and the time until all ROLLOUTS had it.
#        analysis      `analysis.measurement` events (judged windows) per second over the window.
# Bars: idle controller under 2 % of one core and 300 MB RSS.
#
#   usage: benchmarks/scale.sh
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD), SERVICES
# (1000), ROLLOUTS (100), MODE (embedded | external), CHECK_INTERVAL (30s), IDLE_SECONDS (30),
# ROLLOUT_SECONDS (40), PAUSE_SECONDS (20), SYNTHETIC_RPS (10), KEEP (keep the work folder).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RIPCORD="${RIPCORD:-$ROOT/.build/release/ripcord}"
SERVICES="${SERVICES:-1000}"
ROLLOUTS="${ROLLOUTS:-100}"
MODE="${MODE:-embedded}"
IDLE_SECONDS="${IDLE_SECONDS:-30}"
ROLLOUT_SECONDS="${ROLLOUT_SECONDS:-40}"
PAUSE_SECONDS="${PAUSE_SECONDS:-20}"
SYNTHETIC_RPS="${SYNTHETIC_RPS:-10}"
CHECK_INTERVAL="${CHECK_INTERVAL:-30s}"
IDLE_CPU_BAR=2
IDLE_RSS_BAR_MB=300
[ "$MODE" = embedded ] || [ "$MODE" = external ] || { echo "MODE is embedded or external, not '$MODE'" >&2; exit 2; }
[ "$ROLLOUTS" -le "$SERVICES" ] || { echo "ROLLOUTS ($ROLLOUTS) is more than SERVICES ($SERVICES)" >&2; exit 2; }

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = "$ROOT/.build/release/ripcord" ]; then
    "$ROOT/scripts/build-release.sh"
fi
[ -x "$RIPCORD" ] || { echo "no ripcord binary at $RIPCORD" >&2; exit 1; }
RIPCORD="$(cd "$(dirname "$RIPCORD")" && pwd)/$(basename "$RIPCORD")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ripcord-scale.XXXXXX")"
PIDS=()
SERVE_PID=""
cleanup() {
    [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$SERVE_PID" "${PIDS[@]}"; do [ -z "$pid" ] || wait "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM
mkdir -p "$WORK/logs"

# SERVICES + 3 ports at once (a Python start per port would take longer than the benchmark's setup).
mapfile -t PORTS < <(python3 -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets: s.bind(("127.0.0.1", 0))
for s in sockets: print(s.getsockname()[1])
' $((SERVICES + 3)))
API_PORT="${PORTS[0]}"; STABLE_PORT="${PORTS[1]}"; CANDIDATE_PORT="${PORTS[2]}"

"$RIPCORD" sample-service --port "$STABLE_PORT" --version 1.0.0 > "$WORK/logs/backend-1.0.0.log" 2>&1 &
STABLE_BACKEND=$!; PIDS+=($!)
"$RIPCORD" sample-service --port "$CANDIDATE_PORT" --version 1.1.0 > "$WORK/logs/backend-1.1.0.log" 2>&1 &
CANDIDATE_BACKEND=$!; PIDS+=($!)

# The instance scripts: every instance of a version is the shared backend of that version.
cat > "$WORK/instance.sh" <<SCRIPT
#!/bin/sh
case "\$RIPCORD_VERSION" in
    1.0.0) port=$STABLE_PORT pid=$STABLE_BACKEND ;;
    *) port=$CANDIDATE_PORT pid=$CANDIDATE_BACKEND ;;
esac
case "\$1" in
    start) echo "address=127.0.0.1:\$port" ;;
    check) kill -0 "\$pid" 2>/dev/null || { echo "backend \$pid is gone"; exit 1; } ;;
esac
SCRIPT
chmod +x "$WORK/instance.sh"

{
    echo "api: { listen: 127.0.0.1:$API_PORT }"
    echo "stateDirectory: state"
    echo "router: { mode: $MODE }"
    echo "services:"
    for i in $(seq 1 "$SERVICES"); do
        cat <<SERVICE
  svc$i:
    listen: 127.0.0.1:${PORTS[$((i + 2))]}
    driver: { command: { start: "./instance.sh start", stop: "./instance.sh stop", check: "./instance.sh check", checkInterval: $CHECK_INTERVAL } }
    healthCheck: { path: /health }
    analysis: { interval: 1s, syntheticTraffic: { rps: $SYNTHETIC_RPS, path: / } }
    strategy:
      canary:
        steps: [ { setWeight: 10 }, { pause: { duration: ${PAUSE_SECONDS}s } }, { setWeight: 50 }, { pause: {} } ]
SERVICE
    done
} > "$WORK/ripcord.yaml"

api() { # method path [body]
    curl -sf --max-time 30 -X "$1" -H "authorization: Bearer $TOKEN" -H "content-type: application/json" ${3:+-d "$3"} "http://127.0.0.1:$API_PORT$2"
}

# Calls `POST /api/v1/services/svcN/ACTION BODY` for N in 1..COUNT, 16 at a time; each line of
# $WORK/ACTION-calls holds the service and the moment (ms since the epoch) its call was sent.
each_service() { # action count body
    : > "$WORK/$1-calls"
    seq 1 "$2" | xargs -P 16 -I{} sh -c '
        echo "svc$5 $(date +%s%3N)" >> "$0/$1-calls"
        curl -sf --max-time 60 -o /dev/null -X POST -H "authorization: Bearer $3" -H "content-type: application/json" -d "$2" \
            "http://127.0.0.1:$4/api/v1/services/svc$5/$1" || echo "svc$5: $1 failed" >&2
    ' "$WORK" "$1" "$3" "$TOKEN" "$API_PORT" {}
}

# Waits until COUNT services are in PHASE (from GET /api/v1/services), at most LIMIT seconds.
wait_phase() { # phase count limit
    local started=$SECONDS in_phase=0
    while [ $((SECONDS - started)) -lt "$3" ]; do
        in_phase="$(api GET /api/v1/services | python3 -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin) if (s.get("rollout") or {}).get("phase") == sys.argv[1]))' "$1" || echo 0)"
        [ "$in_phase" -ge "$2" ] && return 0
        sleep 2
    done
    echo "only $in_phase of $2 services reached '$1' within $3 s (logs: $WORK/logs)" >&2
    return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }          # the process itself
children_ticks() { awk '{ print $16 + $17 }' "/proc/$1/stat"; }     # its children, once reaped
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
TICKS_PER_SECOND="$(getconf CLK_TCK)"

# Measures the serve process over SECONDS; sets <PREFIX>_CPU, <PREFIX>_SCRIPTS_CPU (% of one core),
# <PREFIX>_RSS and <PREFIX>_RSS_MAX (MB).
measure() { # prefix seconds
    local cpu0 children0 start end rss max=0
    cpu0="$(cpu_ticks "$SERVE_PID")"; children0="$(children_ticks "$SERVE_PID")"; start="$(date +%s%N)"
    for _ in $(seq 1 "$2"); do
        sleep 1
        rss="$(rss_kb "$SERVE_PID")"; [ "$rss" -gt "$max" ] && max=$rss
    done
    end="$(date +%s%N)"
    read -r "${1}_CPU" "${1}_SCRIPTS_CPU" "${1}_RSS" "${1}_RSS_MAX" < <(awk -v c0="$cpu0" -v c1="$(cpu_ticks "$SERVE_PID")" \
        -v k0="$children0" -v k1="$(children_ticks "$SERVE_PID")" -v hz="$TICKS_PER_SECOND" -v ns="$((end - start))" -v rss="$rss" -v max="$max" \
        'BEGIN { s = ns / 1e9; printf "%.2f %.2f %.0f %.0f\n", 100 * (c1 - c0) / hz / s, 100 * (k1 - k0) / hz / s, rss / 1024, max / 1024 }')
}

echo "$SERVICES services, router.mode $MODE, check scripts every $CHECK_INTERVAL, binary $RIPCORD"
(cd "$WORK" && exec "$RIPCORD" serve --config ripcord.yaml > "$WORK/logs/serve.log" 2>&1) &
SERVE_PID=$!
for _ in $(seq 1 600); do [ -s "$WORK/state/admin.token" ] && break; sleep 0.1; done
[ -s "$WORK/state/admin.token" ] || { echo "serve wrote no admin token:" >&2; tail -20 "$WORK/logs/serve.log" >&2; exit 1; }
TOKEN="$(cat "$WORK/state/admin.token")"
for _ in $(seq 1 600); do api GET /api/v1/health > /dev/null 2>&1 && break; sleep 0.1; done
if [ "$MODE" = external ]; then
    for router in 1 2; do
        "$RIPCORD" router --controller "http://127.0.0.1:$API_PORT" --token-file "$WORK/state/admin.token" --name "edge-$router" \
            --address "127.0.0.$router" --state-file "$WORK/router-$router.json" > "$WORK/logs/router-$router.log" 2>&1 &
        PIDS+=($!)
    done
fi

started=$SECONDS
each_service deploy "$SERVICES" '{"version":"1.0.0"}'
wait_phase promoted "$SERVICES" 600
echo "1.0.0 of $SERVICES services deployed and promoted in $((SECONDS - started)) s"
if [ "$MODE" = external ]; then
    for _ in $(seq 1 600); do
        api GET /api/v1/routers | python3 -c '
import json, sys
routers = json.load(sys.stdin)
sys.exit(0 if len(routers) == 2 and all(r["connected"] and r["generation"] == r["currentGeneration"] for r in routers) else 1)' && break
        sleep 0.5
    done
    echo "both routers serve the current table after $((SECONDS - started)) s"
fi
for door in "${PORTS[3]}" "${PORTS[$((SERVICES + 2))]}"; do
    curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$door/" || { echo "the door on $door does not answer" >&2; exit 1; }
done
sleep 5 # the last promotions' drains and the first reports settle

measure IDLE "$IDLE_SECONDS"
echo "idle $IDLE_SECONDS s: serve CPU $IDLE_CPU % of one core (its scripts: $IDLE_SCRIPTS_CPU %), RSS $IDLE_RSS MB"

current_generation() { api GET /api/v1/routers | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["currentGeneration"])'; }
[ "$MODE" = external ] && GENERATION_BEFORE="$(current_generation)"
each_service deploy "$ROLLOUTS" '{"version":"1.1.0"}'
measure ROLLING "$ROLLOUT_SECONDS"
echo "$ROLLOUTS rollouts, first $ROLLOUT_SECONDS s: serve CPU $ROLLING_CPU % of one core (its scripts: $ROLLING_SCRIPTS_CPU %), RSS $ROLLING_RSS MB (most $ROLLING_RSS_MAX MB)"

# Time per decision, from each rollout's events (read after the window, so the reads cost it nothing).
DECISIONS="$(python3 - "$API_PORT" "$TOKEN" "$WORK/deploy-calls" "$PAUSE_SECONDS" "$ROLLOUT_SECONDS" <<'PY'
import json, sys, urllib.request
port, token, calls_file, pause, window = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
calls = dict(line.split() for line in open(calls_file) if line.startswith("svc"))
def get(path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
def millis(at):  # Moment: milliseconds since the epoch, or an ISO 8601 string
    if isinstance(at, (int, float)): return float(at)
    from datetime import datetime
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000
def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
lags, first_weights, waited, measurements, first_at = [], [], 0, 0, []
for service, sent in calls.items():
    rollout = get(f"/api/v1/services/{service}")["rollout"]["id"]
    events = [e for e in get(f"/api/v1/services/{service}/events?after=0&limit=1000") if e.get("rolloutID") == rollout]
    weights = [e for e in events if e["kind"] == "step.setWeight"]
    pauses = [e for e in events if e["kind"] == "step.pause"]
    measurements += sum(1 for e in events if e["kind"] == "analysis.measurement")
    if weights:
        first_weights.append(millis(weights[0]["at"]) - float(sent))
        first_at.append(millis(weights[0]["at"]))
    if pauses and len(weights) > 1:
        if any(e["kind"] == "evidence.waiting" for e in events):
            waited += 1
        else:
            lags.append(millis(weights[1]["at"]) - (millis(pauses[0]["at"]) + pause * 1000))
start = min(float(s) for s in calls.values())
def summary(values):
    return f"p50 {percentile(values, 50):.0f} ms, p99 {percentile(values, 99):.0f} ms, max {max(values):.0f} ms" if values else "none"
print(f"decision lag (timed pause over → next weight recorded), {len(lags)} rollouts: {summary(lags)}"
      + (f"; {waited} more waited for evidence" if waited else ""))
print(f"deploy call → first weight, {len(first_weights)} of {len(calls)} rollouts: {summary(first_weights)}; all by {(max(first_at) - start) / 1000:.1f} s"
      if first_at else "no rollout reached its first weight")
print(f"analysis decisions: {measurements} judged windows, {measurements / window:.1f} a second")
print(f"LAG_P50={percentile(lags, 50) if lags else -1:.0f} LAG_P99={percentile(lags, 99) if lags else -1:.0f} LAGS={len(lags)}")
PY
)"
echo "$DECISIONS" | grep -v '^LAG_'
if [ "$MODE" = external ]; then
    # What one routing change costs on each router's stream: the whole table (what every change sent
    # before deltas; the router's state file holds it) or one service's routes in a delta.
    python3 - "$WORK/router-1.json" "$GENERATION_BEFORE" "$(current_generation)" <<'PY'
import json, sys
table = json.load(open(sys.argv[1]))
changes = int(sys.argv[3]) - int(sys.argv[2])
whole = len(json.dumps(table, separators=(",", ":"), sort_keys=True))
delta = sum(len(json.dumps({"base": table["generation"], "changed": [s], "generation": table["generation"] + 1, "removed": []},
                           separators=(",", ":"), sort_keys=True)) for s in table["services"]) / len(table["services"])
print(f"routing changes in the window: {changes}; per change and router: whole table {whole / 1024:.0f} KiB, delta {delta:.0f} B "
      f"({whole / delta:.0f}x less); per router in the window: {changes * whole / 2**20:.1f} MiB as whole tables, {changes * delta / 1024:.0f} KiB as deltas")
PY
fi
eval "$(echo "$DECISIONS" | grep '^LAG_')"

each_service promote "$ROLLOUTS" '{"full":true}'
wait_phase promoted "$SERVICES" 300
echo "$ROLLOUTS rollouts of 1.1.0 promoted"

stopped=$SECONDS
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && status=0 || status=$?
SERVE_PID=""
echo "serve stopped in $((SECONDS - stopped)) s (exit $status)"

verdict() { awk -v v="$1" -v bar="$2" 'BEGIN { print (v < bar ? "PASS" : "FAIL") }'; }
echo
echo "summary: $SERVICES services, $ROLLOUTS rollouts, router.mode $MODE, check scripts every $CHECK_INTERVAL"
printf "  %-34s %10s %10s\n" "" "CPU (%)" "RSS (MB)"
printf "  %-34s %10s %10s\n" "idle ($IDLE_SECONDS s)" "$IDLE_CPU" "$IDLE_RSS"
printf "  %-34s %10s %10s\n" "$ROLLOUTS rollouts ($ROLLOUT_SECONDS s)" "$ROLLING_CPU" "$ROLLING_RSS (max $ROLLING_RSS_MAX)"
printf "  %-34s %10s %10s\n" "scripts run by serve, idle/rolling" "$IDLE_SCRIPTS_CPU/$ROLLING_SCRIPTS_CPU" ""
if [ "$LAGS" -gt 0 ]; then echo "  decision lag p50 $LAG_P50 ms, p99 $LAG_P99 ms ($LAGS rollouts)"; else echo "  decision lag: no rollout left its timed pause without waiting for evidence"; fi
echo "  idle CPU < $IDLE_CPU_BAR % of one core: $(verdict "$IDLE_CPU" "$IDLE_CPU_BAR") ($IDLE_CPU %)"
echo "  idle RSS < $IDLE_RSS_BAR_MB MB: $(verdict "$IDLE_RSS" "$IDLE_RSS_BAR_MB") ($IDLE_RSS MB)"
