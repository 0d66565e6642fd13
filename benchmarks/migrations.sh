#!/usr/bin/env bash
# Migration engine overhead: apply and undo COUNT small migrations (each: create a table, insert a
# row; undo: drop it) with `ripcord migrate up` / `down --to 0`, on SQLite and on a PostgreSQL
# server this script starts on loopback; then the same SQL, one transaction per migration, run
# directly by `sqlite3` / `psql` against a fresh database, side by side in the same run.
# Prints time per migration and the ratio ripcord / direct (the cost of lock, checksums, history).
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD is set),
#              COUNT (default 500). Needs the Debian packages postgresql and sqlite3.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RIPCORD="${RIPCORD:-.build/release/ripcord}"
COUNT="${COUNT:-500}"
source scripts/programs.sh

if [ -z "${SKIP_BUILD:-}" ] && [ "$RIPCORD" = ".build/release/ripcord" ]; then
    scripts/build-release.sh >&2
fi
[ -x "$RIPCORD" ] || { echo "no ripcord binary at $RIPCORD" >&2; exit 1; }
need_program sqlite3 sqlite3 >/dev/null
INITDB="$(postgres_program initdb)"
PG_CTL="$(postgres_program pg_ctl)"

WORK="$(mktemp -d /tmp/ripcord-bench-migrations.XXXXXX)"
AS_POSTGRES=()
[ "$(id -u)" -eq 0 ] && { chown postgres "$WORK"; AS_POSTGRES=(runuser -u postgres --); }
cleanup() {
    "${AS_POSTGRES[@]}" "$PG_CTL" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The migrations, and the same SQL as two plain scripts (one transaction per migration).
mkdir "$WORK/migrations"
for i in $(seq 1 "$COUNT"); do
    printf 'CREATE TABLE t%d (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t%d (id, v) VALUES (1, %s);\n' "$i" "$i" "'row $i'" \
        > "$WORK/migrations/V${i}__table_$i.sql"
    printf 'DROP TABLE t%d;\n' "$i" > "$WORK/migrations/U${i}__table_$i.sql"
    { echo "BEGIN;"; cat "$WORK/migrations/V${i}__table_$i.sql"; echo "COMMIT;"; } >> "$WORK/apply.sql"
done
for i in $(seq "$COUNT" -1 1); do
    { echo "BEGIN;"; cat "$WORK/migrations/U${i}__table_$i.sql"; echo "COMMIT;"; } >> "$WORK/undo.sql"
done
chmod -R a+rX "$WORK"

now() { date +%s.%N; }
# seconds COMMAND…: runs it, prints its wall time in seconds.
seconds() { local start; start="$(now)"; "$@" >/dev/null; awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${AS_POSTGRES[@]}" "$INITDB" -D "$WORK/pg" -U postgres -A trust -E UTF8 --no-sync >/dev/null
"${AS_POSTGRES[@]}" "$PG_CTL" -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE via_ripcord" -c "CREATE DATABASE via_psql"

results=()
measure() { # name ripcord-database-args… -- direct-apply-command -- direct-undo-command
    local name="$1"; shift
    local args=(); while [ "$1" != "--" ]; do args+=("$1"); shift; done; shift
    local ripcord_up ripcord_down direct_up direct_down
    ripcord_up="$(seconds "$RIPCORD" migrate up --folder "$WORK/migrations" "${args[@]}")"
    ripcord_down="$(seconds "$RIPCORD" migrate down --to 0 --folder "$WORK/migrations" "${args[@]}")"
    direct_up="$(seconds bash -c "$1 < $WORK/apply.sql")"
    direct_down="$(seconds bash -c "$1 < $WORK/undo.sql")"
    results+=("$name apply $ripcord_up $direct_up" "$name undo $ripcord_down $direct_down")
}
measure sqlite --sqlite "$WORK/ripcord.db" -- "sqlite3 -bail $WORK/direct.db"
measure postgres --postgres "postgres://postgres@127.0.0.1:$PORT/via_ripcord" -- "${PSQL[*]} -d via_psql"

printf '%-9s %-6s %14s %14s %16s %16s %7s\n' database step "ripcord total" "direct total" "ripcord per mig" "direct per mig" ratio
for line in "${results[@]}"; do
    set -- $line
    awk -v db="$1" -v step="$2" -v r="$3" -v d="$4" -v n="$COUNT" 'BEGIN {
        printf "%-9s %-6s %12.2f s %12.2f s %13.2f ms %13.2f ms %7.2f\n", db, step, r, d, r / n * 1000, d / n * 1000, r / d
    }'
done
