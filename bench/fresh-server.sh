# Sourced by the bench's shell drivers (bench/wrk/share-toggle.sh, bench/tools/bulk-vs-single.sh):
# a modelshare binary on a fresh database, seeded through its own CLI.
#
#   fresh_database sqlite|postgres   # sets MODELSHARE__DATABASE__URL; PostgreSQL: a scratch
#                                    # database on MODELSHARE_TEST_POSTGRES_URL, dropped on exit
#   demo_key BIN                     # seeds the demo tenant; prints its admin key
#   seed_models BIN COUNT PREFIX     # COUNT ready models in proj_ABC123; prints their ids, one a line
#   serve BIN                        # serves in the background on $port; returns once ready
#   serve_second BIN                 # a second instance on the same database, on $second_port

fresh_work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
scratch=""

fresh_cleanup() {
  [ -n "${second:-}" ] && kill "$second" 2>/dev/null && wait "$second" 2>/dev/null || true
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ -n "$scratch" ]; then
    psql -q "$MODELSHARE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" || true
  fi
  rm -rf "$fresh_work"
}
trap fresh_cleanup EXIT

fresh_database() {
  case $1 in
    sqlite) export MODELSHARE__DATABASE__URL="sqlite://$fresh_work/modelshare.db?mode=rwc" ;;
    postgres)
      : "${MODELSHARE_TEST_POSTGRES_URL:?set MODELSHARE_TEST_POSTGRES_URL to the PostgreSQL server}"
      scratch="ms_bench_$RANDOM$RANDOM"
      psql -q "$MODELSHARE_TEST_POSTGRES_URL" -c "CREATE DATABASE $scratch"
      export MODELSHARE__DATABASE__URL="${MODELSHARE_TEST_POSTGRES_URL%/*}/$scratch"
      ;;
    *) echo "db must be sqlite or postgres" >&2; exit 2 ;;
  esac
  export MODELSHARE__SERVER__PORT=$port
  export MODELSHARE__RATE_LIMIT__ENABLED=false
  export MODELSHARE__LOG__LEVEL=warn
}

demo_key() {
  "$1" --config config --json demo | sed -n 's/.*"apiKey": *"\([^"]*\)".*/\1/p' | head -n1
}

seed_models() {
  for i in $(seq 1 "$2"); do
    "$1" --config config --json models create --project proj_ABC123 --name "$3-$i" \
      | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n1
  done
}

serve() {
  "$1" --config config serve > "$fresh_work/server.log" 2>&1 &
  server=$!
  wait_ready "$port" "$fresh_work/server.log"
}

serve_second() {
  second_port=$((port + 1))
  MODELSHARE__SERVER__PORT=$second_port "$1" --config config serve > "$fresh_work/second.log" 2>&1 &
  second=$!
  wait_ready "$second_port" "$fresh_work/second.log"
}

# Returns once the instance on port $1 answers /readyz; else prints its log ($2) and exits.
wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/readyz" > /dev/null && return 0
    sleep 0.1
  done
  echo "the server on port $1 did not become ready; its log:" >&2
  cat "$2" >&2
  exit 1
}
