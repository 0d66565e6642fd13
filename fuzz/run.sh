#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [TARGET...]: builds each libFuzzer target (swiftc -sanitize=fuzzer,address)
# from the parser's own source files and runs it for SECONDS (default 60) over fuzz/corpus/TARGET.
# New interesting inputs land in .build/fuzz/TARGET/corpus; crashes in .build/fuzz/TARGET/, and the
# script fails. Copy inputs worth keeping into fuzz/corpus/TARGET: `swift test` replays that corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
router=Sources/RipcordRouter
flags=Sources/RipcordFlagService
declare -A sources=(
  [http-request]="$router/HTTPParsing.swift $router/RouteMode.swift $router/HTTPWireProbe.swift"
  [http-response]="$router/HTTPParsing.swift $router/RouteMode.swift $router/HTTPWireProbe.swift"
  [ofrep-context]="$flags/ContextJSON.swift $flags/ContextJSONProbe.swift"
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http-request http-response ofrep-context)
status=0
for target in "${targets[@]}"; do
  [ -n "${sources[$target]:-}" ] || { echo "unknown fuzz target $target" >&2; exit 2; }
  work=".build/fuzz/$target"
  mkdir -p "$work/corpus"
  # shellcheck disable=SC2086
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz" \
    fuzz/targets/$target.swift ${sources[$target]} -o "$work/fuzzer" 2> "$work/build.log" \
    || { cat "$work/build.log" >&2; exit 1; }
  echo "fuzz $target: ${seconds}s"
  if "$work/fuzzer" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=8192 \
       -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "fuzz/corpus/$target" > "$work/run.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/run.log" | sed "s/^/  $target /"
  else
    status=1
    echo "fuzz $target FAILED; the crashing input is in $work/ (log: $work/run.log)" >&2
    grep -E "Fatal error|ERROR|SUMMARY|crash-|Test unit written" "$work/run.log" | head -10 >&2
  fi
done
exit $status
