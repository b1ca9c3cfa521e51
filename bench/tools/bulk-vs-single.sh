#!/usr/bin/env bash
# One bulk share of 100 models against 100 single shares, on a fresh SQLite or PostgreSQL
# database (bench/fresh-server.sh): the demo tenant and 200 models, then bulk_vs_single.py
# (needs Python's requests).
#
#   bench/tools/bulk-vs-single.sh SERVER_BIN [sqlite|postgres]
#
# PostgreSQL: MODELSHARE_TEST_POSTGRES_URL names the server (a scratch database is created and
# dropped); needs psql.
set -euo pipefail

bin=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../fresh-server.sh"
fresh_database "${2:-sqlite}"

cd "$here/../.."
key=$(demo_key "$bin")
ids=$(seed_models "$bin" 200 bulk | paste -sd, -)
serve "$bin"
python3 "$here/bulk_vs_single.py" "http://127.0.0.1:$port" "$key" proj_ABC123 "$ids"
