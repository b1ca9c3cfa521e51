#!/usr/bin/env bash
# Two (or more) server builds side by side on one catalog path: seeds one SQLite file with
# 10,000 shared models (MODELS to change it) shaped like the bench's (bench/src/db/seed.rs), then, three rounds, starts
# each build in turn on a fresh copy of that file (fresh pages: no page cache, rate limit off,
# log level warn) and drives it with wrk (64 connections, SECS seconds after a 1 s warm-up).
# Prints one line per round and build: round, binary, requests/s. Needs wrk and sqlite3.
#
#   bench/tools/catalog-ab.sh SECS PATH_WITH_QUERY SERVER_BIN...
#   e.g. bench/tools/catalog-ab.sh 5 '/v1/catalog/models?sort=name' /tmp/before target/release/modelshare
#        MODELS=1000000 bench/tools/catalog-ab.sh 10 '/v1/catalog/facets?q=swift' /tmp/before target/release/modelshare
set -euo pipefail

secs=$1
path=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=18088
models=${MODELS:-10000}

# The seed: the demo tenant (from the first binary), then one statement for the models.
export MODELSHARE__DATABASE__URL="sqlite://$work/seed.db?mode=rwc"
"$1" --json demo >"$work/demo.json"
project=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['projectId'])" "$work/demo.json")
arch="CASE WHEN i % 1009 = 5 THEN 'mamba' ELSE CASE i % 7 WHEN 0 THEN 'llama' WHEN 1 THEN 'mistral'
  WHEN 2 THEN 'qwen' WHEN 3 THEN 'gemma' WHEN 4 THEN 'phi' WHEN 5 THEN 'falcon' ELSE 'mixtral' END END"
family="CASE i % 3 WHEN 0 THEN 'chat' WHEN 1 THEN 'code' ELSE 'vision' END"
noun="CASE i % 3 WHEN 0 THEN 'chat' WHEN 1 THEN 'coder' ELSE 'vision' END"
adjective="CASE i % 13 WHEN 0 THEN 'swift' WHEN 1 THEN 'bright' WHEN 2 THEN 'tiny' WHEN 3 THEN 'deep'
  WHEN 4 THEN 'open' WHEN 5 THEN 'nimble' WHEN 6 THEN 'quiet' WHEN 7 THEN 'bold' WHEN 8 THEN 'lucid'
  WHEN 9 THEN 'decoded' WHEN 10 THEN 'calm' WHEN 11 THEN 'keen' ELSE 'sturdy' END"
ts="'%Y-%m-%dT%H:%M:%S+00:00'"
sqlite3 "$work/seed.db" "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $models)
  INSERT INTO models (id, project_id, name, description, status, architecture, parameter_count,
    context_length, license, tags, shared, shared_at, unshared_at, version, created_at, updated_at)
  SELECT randomblob(16), '$project', 'cat-' || i || ' ' || $adjective || ' ' || $arch || ' ' || $noun,
    'Benchmark model ' || i || ' of the cat set, a fine-tuned ' || $arch || ' checkpoint for ' || $family || ' tasks.',
    'ready', $arch, CAST(((i % 241) + 1) AS BIGINT) * 500000000,
    CASE i % 6 WHEN 0 THEN 2048 WHEN 1 THEN 4096 WHEN 2 THEN 8192 WHEN 3 THEN 16384 WHEN 4 THEN 32768 ELSE 131072 END,
    CASE i % 5 WHEN 0 THEN 'apache-2.0' WHEN 1 THEN 'mit' WHEN 2 THEN 'llama3' WHEN 3 THEN 'gemma' ELSE 'cc-by-nc-4.0' END,
    '[\"' || $family || '\",\"t' || (i % 11) || '\"' || CASE WHEN i % 4 = 0 THEN ',\"instruct\"' ELSE '' END || ']',
    1, strftime($ts, 'now', '-' || i || ' seconds'), NULL, 1, strftime($ts, 'now', '-2 days'), strftime($ts, 'now', '-1 days')
  FROM s"

for round in 1 2 3; do
  for bin in "$@"; do
    rm -f "$work"/run.db*
    cp "$work/seed.db" "$work/run.db"
    MODELSHARE__DATABASE__URL="sqlite://$work/run.db?mode=rwc" MODELSHARE__LOG__LEVEL=warn \
      MODELSHARE__RATE_LIMIT__ENABLED=false MODELSHARE__CATALOG__PAGE_CACHE_BYTES=0 \
      MODELSHARE__SERVER__PORT=$port "$bin" serve >/dev/null 2>&1 &
    pid=$!
    # A million models take seconds to load.
    for _ in $(seq 1 1200); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
      sleep 0.1
    done
    wrk -t1 -c64 -d1s "http://127.0.0.1:$port$path" >/dev/null
    rate=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ {print $2}')
    echo "$round $bin $rate"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
