# modelshare development recipes. The README's two quick-start commands do not need `just`.

set dotenv-load := false

pg_url := env_var_or_default("MODELSHARE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# List the recipes.
default:
    @just --list

# Serve on the embedded SQLite database (config/default.toml, then config/local.toml).
run:
    cargo run --release -- serve

# Seed the demo tenant (idempotent), print a key and curl lines, then serve.
demo:
    cargo run --release -- demo
    cargo run --release -- serve

# The whole test suite on SQLite (PostgreSQL variants run when MODELSHARE_TEST_POSTGRES_URL is set).
test:
    cargo test --workspace

# The integration suite on PostgreSQL, one database per test (starts the local cluster if it is down).
test-postgres:
    pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
    MODELSHARE_TEST_POSTGRES_URL={{pg_url}} MODELSHARE_TEST_BACKEND=postgres cargo test --workspace

# Format check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the catalog pages' screenshots in docs/ (headless Chromium; `npm ci` in tests/browser first).
screenshots:
    MODELSHARE_UPDATE_SCREENSHOTS=1 cargo test -p integration --test integration browser::audit::screenshots -- --nocapture

# Format the code.
fmt:
    cargo fmt --all

# Apply pending migrations to the configured database.
migrate:
    cargo run --release -- migrate

# What CI runs.
ci:
    bash .ci/run

# Fuzz the running API against its own OpenAPI document with schemathesis (PyPI), using the keys
# of two tenants: no 5xx, every response matches its schema. Serves on a scratch database.
fuzz-api:
    #!/usr/bin/env bash
    set -euo pipefail
    python3 -m pip install --quiet 'schemathesis>=4' 2>/dev/null || python3 -m pip install --quiet schemathesis
    cargo build --release -p api
    dir=$(mktemp -d)
    export MODELSHARE__DATABASE__URL="sqlite://$dir/fuzz.db?mode=rwc" MODELSHARE__SERVER__PORT=8089 MODELSHARE__RATE_LIMIT__ENABLED=false MODELSHARE__LOG__LEVEL=warn
    bin=target/release/modelshare
    first=$($bin --json demo)
    account=$($bin --json accounts create --name "Fuzz Other" --feature model_sharing | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    $bin --json projects create --account "$account" --slug fuzzother --id proj_FUZZOTHER >/dev/null
    user=$($bin --json users create --account "$account" --email fuzz@other.example | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    $bin --json members add --project proj_FUZZOTHER --user "$user" --role admin >/dev/null
    second=$($bin --json keys create --project proj_FUZZOTHER --user "$user" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
    key=$(echo "$first" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
    $bin serve & pid=$!
    trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 1 50); do curl -sf http://127.0.0.1:8089/readyz >/dev/null && break; sleep 0.2; done
    # Two checks are left out on purpose: `positive_data_acceptance` would require a forged but
    # well-typed `after` cursor (or minParameters > maxParameters) to be accepted, where the
    # contract answers 400 invalid_request; `ignored_auth` would require public catalog reads
    # (no key needed by design) to refuse requests without a key.
    status=0
    for k in "$key" "$second"; do
      schemathesis run http://127.0.0.1:8089/openapi.json --checks all \
        --exclude-checks positive_data_acceptance,ignored_auth \
        --header "Authorization: Bearer $k" --max-examples 50 --workers 2 || status=1
    done
    exit $status

# Benchmarks (not tests): release server vs baselines in the same run, on SQLite and PostgreSQL.
# Prints a markdown table, writes target/bench/results.json. E.g. `just bench --scenario catalog-read`.
bench *args="--scenario all --db both":
    cargo run --release -p bench -- {{args}}

# A 2-second tiny run of every scenario: checks they complete, not their speed.
bench-smoke:
    cargo run --release -p bench -- --smoke --db both

# share-toggle measured by wrk, the bench's second, independent client, against the release
# build: `just wrk-share-toggle postgres 32 10` (database, connections, seconds); add `keyed`
# to send an Idempotency-Key of its own with every request.
wrk-share-toggle db="sqlite" connections="32" seconds="10" keyed="":
    cargo build --release -p api
    MODELSHARE_TEST_POSTGRES_URL={{pg_url}} bench/wrk/share-toggle.sh "$PWD/target/release/modelshare" {{db}} {{connections}} {{seconds}} {{keyed}}

# One bulk share of 100 models against 100 single shares, on the release build:
# `just bulk-vs-single postgres`.
bulk-vs-single db="sqlite":
    cargo build --release -p api
    MODELSHARE_TEST_POSTGRES_URL={{pg_url}} bench/tools/bulk-vs-single.sh "$PWD/target/release/modelshare" {{db}}

# Webhook latency (share 200 -> receiver 200, one and two instances) and deliveries per second,
# on a fresh database: `just webhook-latency postgres`.
webhook-latency db="sqlite":
    cargo build --release -p api
    MODELSHARE_TEST_POSTGRES_URL={{pg_url}} bench/tools/webhook-latency.sh "$PWD/target/release/modelshare" {{db}}

# How soon a second process on the same SQLite file sees a transition (p50, p99, max).
sqlite-convergence:
    cargo build --release -p api
    bench/tools/sqlite-convergence.sh "$PWD/target/release/modelshare"
