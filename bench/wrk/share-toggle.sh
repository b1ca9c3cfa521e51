#!/usr/bin/env bash
# Runs wrk's share-toggle (share-toggle.lua) against a modelshare server binary on a fresh
# SQLite or PostgreSQL database: seeds the demo tenant and one model per connection through the
# binary's own CLI, starts the server, runs wrk, prints wrk's report.
#
#   bench/wrk/share-toggle.sh SERVER_BIN [sqlite|postgres] [CONNECTIONS] [SECONDS]
#
# PostgreSQL: MODELSHARE_TEST_POSTGRES_URL names the server (a scratch database is created and
# dropped). Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, psql.
set -euo pipefail

bin=$1
db=${2:-sqlite}
connections=${3:-32}
seconds=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
scratch=""

cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ -n "$scratch" ]; then
    psql -q "$MODELSHARE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

case $db in
  sqlite) export MODELSHARE__DATABASE__URL="sqlite://$work/modelshare.db?mode=rwc" ;;
  postgres)
    : "${MODELSHARE_TEST_POSTGRES_URL:?set MODELSHARE_TEST_POSTGRES_URL to the PostgreSQL server}"
    scratch="ms_wrk_$RANDOM$RANDOM"
    psql -q "$MODELSHARE_TEST_POSTGRES_URL" -c "CREATE DATABASE $scratch"
    export MODELSHARE__DATABASE__URL="${MODELSHARE_TEST_POSTGRES_URL%/*}/$scratch"
    ;;
  *) echo "db must be sqlite or postgres" >&2; exit 2 ;;
esac
export MODELSHARE__SERVER__PORT=$port
export MODELSHARE__RATE_LIMIT__ENABLED=false
export MODELSHARE__LOG__LEVEL=warn

cd "$here/../.."
key=$("$bin" --config config --json demo | sed -n 's/.*"apiKey": *"\([^"]*\)".*/\1/p' | head -n1)
project=proj_ABC123
ids=()
for i in $(seq 1 "$connections"); do
  ids+=("$("$bin" --config config --json models create --project "$project" --name "wrk-$i" \
    | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n1)")
done
"$bin" --config config serve > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null && break
  sleep 0.1
done
list=$(IFS=,; echo "${ids[*]}")
wrk -t "$connections" -c "$connections" -d "${seconds}s" --latency \
  -s "$here/share-toggle.lua" "http://127.0.0.1:$port" -- "$key" "$project" "$list"
