#!/usr/bin/env bash
# One bulk share of 100 models against 100 single shares, on a fresh SQLite or PostgreSQL
# database: seeds the demo tenant and 200 models through the binary's CLI, serves, runs
# bulk_vs_single.py (needs Python's requests).
#
#   bench/tools/bulk-vs-single.sh SERVER_BIN [sqlite|postgres]
#
# PostgreSQL: MODELSHARE_TEST_POSTGRES_URL names the server (a scratch database is created and
# dropped); needs psql.
set -euo pipefail

bin=$1
db=${2:-sqlite}
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
    scratch="ms_bulk_$RANDOM$RANDOM"
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
ids=()
for i in $(seq 1 200); do
  ids+=("$("$bin" --config config --json models create --project proj_ABC123 --name "bulk-$i" \
    | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n1)")
done
"$bin" --config config serve > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" > /dev/null && break
  sleep 0.1
done
python3 "$here/bulk_vs_single.py" "http://127.0.0.1:$port" "$key" proj_ABC123 "$(IFS=,; echo "${ids[*]}")"
