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

# Format the code.
fmt:
    cargo fmt --all

# Apply pending migrations to the configured database.
migrate:
    cargo run --release -- migrate

# What CI runs.
ci:
    bash .ci/run
