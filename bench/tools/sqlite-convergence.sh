#!/usr/bin/env bash
# How soon another process on the same SQLite file sees a transition: two `modelshare serve`
# processes on one fresh database file (bench/fresh-server.sh); 200 transitions (share, then
# unshare, of 100 models) through the first, each followed by polling the second's public
# catalog until it agrees; prints p50, p99 and max of the time from the first's 200 to the
# second's agreeing answer. Needs Python's requests.
#
#   bench/tools/sqlite-convergence.sh SERVER_BIN
set -euo pipefail

bin=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../fresh-server.sh"
fresh_database sqlite

cd "$here/../.."
key=$(demo_key "$bin")
ids=$(seed_models "$bin" 100 converge | paste -sd, -)
serve "$bin"
serve_second "$bin"
python3 "$here/convergence.py" "http://127.0.0.1:$port" "http://127.0.0.1:$second_port" \
  "$key" proj_ABC123 "$ids"
