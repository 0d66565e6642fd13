#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine (Debian packages), then runs
# the whole suite. Tests start real processes and servers on loopback: sample services, `ripcord
# serve`, Prometheus and Alertmanager, PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# SQLite headers for GRDB; Prometheus and Alertmanager for the end-to-end alerting test; PostgreSQL
# for the migration tests (they start their own server as the postgres user).
need=()
for package in libsqlite3-dev prometheus prometheus-alertmanager postgresql; do
  dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${need[@]}"
fi
swift test "$@"
