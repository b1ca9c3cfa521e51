//! `bench`: the modelshare load harness. Not a test; run it with `just bench` or
//! `cargo run --release -p bench -- --scenario all --db both`.
//!
//! It starts the release server (`target/release/modelshare serve`) as a separate process on a
//! fresh database per scenario, seeds it (the `modelshare` CLI for the tenant, bulk SQL for the
//! models), drives load over loopback HTTP with a small hyper client (one keep-alive connection
//! per virtual user, HDR histograms), measures a baseline in the same run where the scenario has
//! one, prints a markdown table (medians of `--runs` runs) and writes `target/bench/results.json`.
//!
//! This file holds the command line and the run over scenarios and databases; [`scenarios`] the
//! scenarios, [`load`] the load generator, [`server`] the processes under load, [`db`] the
//! databases, seeding and the sqlx baseline, and [`report`] the medians, targets and table.

// A measuring tool, not the service: its casts turn counts and durations into the floats of a
// report, and its indexes are into samples and seed batches it sized itself.
#![allow(
    clippy::as_conversions,
    clippy::indexing_slicing,
    reason = "figures for a report, on data the bench itself shaped"
)]

mod db;
mod load;
mod report;
mod scenarios;
mod server;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::db::Db;
use crate::report::{Report, ScenarioReport};
use crate::scenarios::{Env, RunResult, Scenario, Sizes};

#[derive(Parser)]
#[command(about = "Load harness for the modelshare release server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Scenario to run (repeatable), or `all`: catalog-read, share-toggle, hot-model,
    /// actor-churn, catalog-scale, catalog-worst.
    #[arg(long = "scenario", default_value = "all")]
    scenarios: Vec<String>,
    /// Database(s) to run on.
    #[arg(long, value_enum, default_value = "sqlite")]
    db: DbChoice,
    /// Measured seconds of each timed load phase (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Measured seconds of each catalog query shape alone (`catalog-read` measures every shape
    /// on the service and on the baseline, by its own client and by wrk: four phases per shape).
    #[arg(long, default_value_t = 5)]
    shape_duration: u64,
    /// Runs per scenario; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrent connections (virtual users).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// A 2-second, tiny version of every scenario, one run: checks that it completes.
    #[arg(long)]
    smoke: bool,
    /// The server binary (default: `modelshare` next to this binary, i.e. target/release, built
    /// first with the same profile).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// PostgreSQL to create the benchmark databases in (they are dropped afterwards).
    #[arg(
        long,
        env = "MODELSHARE_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Where to write the results (default: target/bench/results.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// (internal) the catalog-read baseline server: a pre-serialized body per path with query.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        port: u16,
        /// A JSON object: path with query → the body to answer it with.
        #[arg(long)]
        pages: PathBuf,
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DbChoice {
    Sqlite,
    Postgres,
    Both,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::BaselineServer {
        port,
        pages,
        workers,
    }) = cli.command
    {
        return server::run_baseline_server(port, pages, workers);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(cli))
}

/// Builds the server next to this binary (same profile), so a benchmark never measures a stale
/// one; a no-op when it is up to date. Returns its path.
fn build_server() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no directory of the bench binary")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "-p", "api", "--bin", "modelshare"]);
    // `cargo run` gave this process the bench package's variables; build scripts that watch
    // them (ring watches CARGO_MANIFEST_DIR) would rebuild on every switch between the two.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            build.env_remove(name);
        }
    }
    if dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .context("running cargo to build the server (or pass --server-bin)")?;
    if !status.success() {
        bail!("building the server failed ({status})");
    }
    Ok(dir.join("modelshare"))
}

/// The variables `cargo run` sets for the package it runs.
fn set_by_cargo_run(name: &str) -> bool {
    const NAMES: [&str; 5] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    name.starts_with("CARGO_PKG_") || NAMES.contains(&name)
}

/// The benchmark: checks the scenario names, builds the server, runs every scenario on every
/// database, prints the table, writes the results and fails if a race invariant was violated.
async fn bench(cli: Cli) -> Result<()> {
    // Names first: a typo should not wait for a build.
    let scenarios = cli.chosen_scenarios()?;
    let bin = match cli.server_bin.clone() {
        Some(bin) => bin,
        None => build_server()?,
    };
    if !bin.exists() {
        bail!("{} not found", bin.display());
    }
    let sizes = cli.sizes();
    let env = Env {
        bin,
        pg_url: cli.pg_url.clone(),
        sizes: sizes.clone(),
        runs: if cli.smoke { 1 } else { cli.runs.max(1) },
    };
    let reports = run_all(&env, &cli.db.dbs(), &scenarios).await?;
    let report = Report {
        machine: report::machine(),
        sizes,
        runs: env.runs,
        smoke: cli.smoke,
        scenarios: reports,
    };
    println!("{}", report::table(&report));
    let out = match cli.out {
        Some(out) => out,
        None => target_dir()?.join("bench").join("results.json"),
    };
    write_results(&report, &out)?;
    let failed = report.scenarios.iter().any(|s| {
        s.median
            .extra
            .get("invariants_ok")
            .is_some_and(|v| *v < 1.0)
    });
    if failed {
        bail!("race invariants violated in hot-model");
    }
    Ok(())
}

impl Cli {
    /// The scenarios `--scenario` names, in the order given (`all`: every one, in
    /// [`Scenario::NAMED`] order).
    fn chosen_scenarios(&self) -> Result<Vec<Scenario>> {
        if self.scenarios.iter().any(|s| s == "all") {
            Ok(Scenario::NAMED.iter().map(|(_, s)| *s).collect())
        } else {
            self.scenarios.iter().map(|s| Scenario::parse(s)).collect()
        }
    }

    /// The sizes of a full run, or of a `--smoke` run.
    fn sizes(&self) -> Sizes {
        if self.smoke {
            Sizes {
                connections: self.connections.min(16),
                warmup: Duration::from_millis(200),
                duration: Duration::from_secs(2),
                shape_duration: Duration::from_secs(1),
                catalog_models: 200,
                toggle_models: 64,
                churn_models: 500,
                scale_models: 5_000,
                worst_models: 5_000,
                churn_idle_timeout_ms: 200,
            }
        } else {
            Sizes {
                connections: self.connections,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(self.duration),
                shape_duration: Duration::from_secs(self.shape_duration),
                catalog_models: 10_000,
                toggle_models: 1_000,
                churn_models: 100_000,
                scale_models: 1_000_000,
                worst_models: 200_000,
                churn_idle_timeout_ms: 1_000,
            }
        }
    }
}

impl DbChoice {
    /// The databases chosen, in the order they run.
    fn dbs(self) -> Vec<Db> {
        match self {
            DbChoice::Sqlite => vec![Db::Sqlite],
            DbChoice::Postgres => vec![Db::Postgres],
            DbChoice::Both => vec![Db::Sqlite, Db::Postgres],
        }
    }
}

/// Runs each scenario on each database (databases outer), logging every run. On a failure,
/// drops the databases left behind and returns the error, naming the scenario and database.
async fn run_all(env: &Env, dbs: &[Db], scenarios: &[Scenario]) -> Result<Vec<ScenarioReport>> {
    let mut reports = Vec::new();
    for db in dbs {
        for scenario in scenarios {
            let name = scenario.name();
            eprintln!("== {name} on {} ({} runs)", db.as_str(), env.runs);
            let runs = match scenarios::run(env, *scenario, *db).await {
                Ok(runs) => runs,
                Err(err) => {
                    db::drop_leftovers().await;
                    return Err(err.context(format!("scenario {name} on {}", db.as_str())));
                }
            };
            log_runs(&runs);
            reports.push(ScenarioReport::new(*scenario, *db, runs));
        }
    }
    Ok(reports)
}

/// One line on stderr per run.
fn log_runs(runs: &[RunResult]) {
    for (i, r) in runs.iter().enumerate() {
        eprintln!(
            "   run {}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms errors {} ratio {}",
            i + 1,
            r.throughput,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.ratio.map_or("-".into(), |x| format!("{x:.2}"))
        );
    }
}

/// Writes `report` as pretty JSON to `out`, creating its directory.
fn write_results(report: &Report, out: &Path) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(report)?)?;
    eprintln!("results written to {}", out.display());
    Ok(())
}

/// `target/` of the workspace: the parent of the directory holding this binary's profile dir.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from))
}
