#!/usr/bin/env bash
# Runs wrk's share-toggle (share-toggle.lua) against a modelshare server binary on a fresh
# SQLite or PostgreSQL database (bench/fresh-server.sh): the demo tenant and one model per
# connection, then wrk's report.
#
#   bench/wrk/share-toggle.sh SERVER_BIN [sqlite|postgres] [CONNECTIONS] [SECONDS] [keyed]
#
# `keyed`: every request carries an Idempotency-Key of its own.
#
# PostgreSQL: MODELSHARE_TEST_POSTGRES_URL names the server (a scratch database is created and
# dropped). Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, psql.
set -euo pipefail

bin=$1
connections=${3:-32}
seconds=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../fresh-server.sh"
fresh_database "${2:-sqlite}"

cd "$here/../.."
key=$(demo_key "$bin")
list=$(seed_models "$bin" "$connections" wrk | paste -sd, -)
serve "$bin"
wrk -t "$connections" -c "$connections" -d "${seconds}s" --latency \
  -s "$here/share-toggle.lua" "http://127.0.0.1:$port" -- "$key" proj_ABC123 "$list" "${5:-}"
