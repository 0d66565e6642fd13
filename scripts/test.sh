#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine (Debian packages), then runs
# the whole suite. Tests start real processes and servers on loopback: sample services, `ripcord
# serve`, Prometheus and Alertmanager, PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# SQLite headers for GRDB (and its shell, which the store tests use to build older databases and the
# input-validation test to dump the state database); RE2 for flag REGEX constraints; openssl for the
# TLS PostgreSQL test's certificate; Prometheus and Alertmanager for the end-to-end alerting test;
# PostgreSQL for the migration tests (they start their own server as the postgres user); HAProxy and
# nginx for the traffic-manager tests (they start their own on loopback, in a temporary folder); curl
# for scripts/api-fuzz.sh; chromium for the browser test of the frontend API and CORS (BrowserFlagTests);
# socat for the proxy the failover test freezes between a leader and PostgreSQL (HighAvailabilityTests).
need=()
for package in libsqlite3-dev sqlite3 libre2-dev prometheus prometheus-alertmanager postgresql openssl haproxy nginx curl chromium socat; do
  dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
# Python with venv for the real flag SDKs (only when the machine's python3 cannot make one).
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${need[@]}"
  # The packages start system instances (nginx on port 80); the tests want none of them.
  for daemon in nginx haproxy; do
    $SUDO systemctl disable --now "$daemon" >/dev/null 2>&1 || $SUDO service "$daemon" stop >/dev/null 2>&1 || true
  done
fi
# `scripts/test.sh --unit`: the unit lane alone, after the build: every suite but those tagged
# `.integration` (they start processes, open sockets or need PostgreSQL, Prometheus, HAProxy, nginx or
# chromium). Swift Testing filters by name, not by tag, so the script skips each tagged suite by name.
if [ "${1:-}" = --unit ]; then
  shift
  swift build --build-tests
  integration=$(awk '
    /^@Suite\(.*\.tags\(.*\.integration/ { tagged = 1 }
    tagged && match($0, /(struct|class|actor|enum) [A-Za-z_][A-Za-z0-9_]*/) {
      split(substr($0, RSTART, RLENGTH), words, " "); n = split(FILENAME, path, "/")
      printf "%s%s\\.%s\\b", (count++ ? "|" : ""), path[n - 1], words[2]; tagged = 0
    }' Tests/*/*.swift)
  start=$(date +%s)
  swift test --skip-build --skip "$integration" "$@"
  echo "unit lane: $(( $(date +%s) - start )) s after the build"
  exit 0
fi
# The real SDKs the flag tests drive (SDKTests), from PyPI, in a virtualenv under .build (gitignored).
venv=.build/sdk-venv
sdks=(UnleashClient==6.9.1 openfeature-sdk==0.10.0 openfeature-provider-ofrep==0.3.0)
if ! "$venv/bin/python" -c "import UnleashClient, openfeature.contrib.provider.ofrep" >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${sdks[@]}"
fi
# The whole suite also fuzzes: schemathesis against a real `ripcord serve` from docs/openapi.yaml, and
# in CI the libFuzzer targets of the hand-written parsers (fuzz/run.sh), each for a bounded time.
if [ $# -eq 0 ]; then
  swift build --product ripcord
  scripts/api-fuzz.sh 90
  if [ "${CI:-}" = true ]; then fuzz/run.sh 30; fi
fi
# The integration suites start servers, instances and load of their own; on two cores, more than four at
# once starve each other's deadlines (rollouts that would pass in 5 s time out at 30). Four keeps both cores busy.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-4}"
swift test "$@"
