#!/usr/bin/env bash
# Webhook figures on a fresh SQLite or PostgreSQL database (bench/fresh-server.sh), with the
# shipped defaults but local receivers allowed: the time from a share's 200 to the receiver's
# 200 (200 events, one at a time; p50 and p99) on one instance and, with a second instance on
# the same database taking every other transition, on two; then, the second instance stopped,
# the deliveries per second one instance sustains to a local receiver, for 1 and for 8
# webhooks. Needs Python's requests.
#
#   bench/tools/webhook-latency.sh SERVER_BIN [sqlite|postgres]
#
# PostgreSQL: MODELSHARE_TEST_POSTGRES_URL names the server (a scratch database is created and
# dropped); needs psql.
set -euo pipefail

bin=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../fresh-server.sh"
fresh_database "${2:-sqlite}"
export MODELSHARE__WEBHOOKS__ALLOW_HTTP=true
export MODELSHARE__WEBHOOKS__ALLOW_PRIVATE_NETWORKS=true
MODELSHARE__WEBHOOKS__SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export MODELSHARE__WEBHOOKS__SECRET_KEY

cd "$here/../.."
key=$(demo_key "$bin")
ids=$(seed_models "$bin" 200 hooks | paste -sd, -)
serve "$bin"
serve_second "$bin"
args=("http://127.0.0.1:$port" "http://127.0.0.1:$second_port" "$key" proj_ABC123 "$ids")
python3 "$here/webhook_latency.py" latency "${args[@]}"
# One instance alone delivers for the throughput.
kill "$second" && wait "$second" 2>/dev/null || true
python3 "$here/webhook_latency.py" throughput "${args[@]}"
