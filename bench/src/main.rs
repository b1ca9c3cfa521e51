//! `bench`: the modelshare load harness. Not a test; run it with `just bench` or
//! `cargo run --release -p bench -- --scenario all --db both`.
//!
//! It starts the release server (`target/release/modelshare serve`) as a separate process on a
//! fresh database per scenario, seeds it (the `modelshare` CLI for the tenant, bulk SQL for the
//! models), drives load over loopback HTTP with a small hyper client (one keep-alive connection
//! per virtual user, HDR histograms), measures a baseline in the same run where the scenario has
//! one, prints a markdown table (medians of `--runs` runs) and writes `target/bench/results.json`.

// A measuring tool, not the service: its casts turn counts and durations into the floats of a
// report, and its indexes are into samples and seed batches it sized itself.
#![allow(
    clippy::as_conversions,
    clippy::indexing_slicing,
    reason = "figures for a report, on data the bench itself shaped"
)]

mod db;
mod load;
mod scenarios;
mod server;
mod worst;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::db::Db;
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
    /// (internal) the catalog-read baseline server: one pre-serialized body for every GET.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        body: PathBuf,
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

#[derive(Serialize)]
struct ScenarioReport {
    #[serde(serialize_with = "scenario_name")]
    scenario: Scenario,
    db: Db,
    runs: Vec<RunResult>,
    median: RunResult,
    targets: Vec<Target>,
}

#[derive(Serialize)]
struct Target {
    what: String,
    value: f64,
    target: String,
    met: bool,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: f64,
    kernel: String,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    sizes: Sizes,
    runs: usize,
    smoke: bool,
    scenarios: Vec<ScenarioReport>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::BaselineServer {
        port,
        body,
        workers,
    }) = cli.command
    {
        return server::run_baseline_server(port, body, workers);
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

async fn bench(cli: Cli) -> Result<()> {
    // Names first: a typo should not wait for a build.
    let scenarios: Vec<Scenario> = if cli.scenarios.iter().any(|s| s == "all") {
        Scenario::NAMED.iter().map(|(_, s)| *s).collect()
    } else {
        cli.scenarios
            .iter()
            .map(|s| Scenario::parse(s))
            .collect::<Result<_>>()?
    };
    let bin = match cli.server_bin.clone() {
        Some(bin) => bin,
        None => build_server()?,
    };
    if !bin.exists() {
        bail!("{} not found", bin.display());
    }
    let dbs = match cli.db {
        DbChoice::Sqlite => vec![Db::Sqlite],
        DbChoice::Postgres => vec![Db::Postgres],
        DbChoice::Both => vec![Db::Sqlite, Db::Postgres],
    };
    let sizes = if cli.smoke {
        Sizes {
            connections: cli.connections.min(16),
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs(2),
            catalog_models: 200,
            toggle_models: 64,
            churn_models: 500,
            scale_models: 5_000,
            worst_models: 5_000,
            churn_idle_timeout_ms: 200,
        }
    } else {
        Sizes {
            connections: cli.connections,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(cli.duration),
            catalog_models: 10_000,
            toggle_models: 1_000,
            churn_models: 100_000,
            scale_models: 1_000_000,
            worst_models: 200_000,
            churn_idle_timeout_ms: 1_000,
        }
    };
    let env = Env {
        bin,
        pg_url: cli.pg_url.clone(),
        sizes: sizes.clone(),
        runs: if cli.smoke { 1 } else { cli.runs.max(1) },
    };
    let mut reports = Vec::new();
    for db in &dbs {
        for scenario in &scenarios {
            let name = scenario.name();
            eprintln!("== {name} on {} ({} runs)", db.as_str(), env.runs);
            let runs = match scenarios::run(&env, *scenario, *db).await {
                Ok(runs) => runs,
                Err(err) => {
                    db::drop_leftovers().await;
                    return Err(err.context(format!("scenario {name} on {}", db.as_str())));
                }
            };
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
            let median = median(&runs);
            let targets = targets(*scenario, &median);
            reports.push(ScenarioReport {
                scenario: *scenario,
                db: *db,
                runs,
                median,
                targets,
            });
        }
    }
    let report = Report {
        machine: machine(),
        sizes,
        runs: env.runs,
        smoke: cli.smoke,
        scenarios: reports,
    };
    println!("{}", table(&report));
    let out = match cli.out {
        Some(out) => out,
        None => target_dir()?.join("bench").join("results.json"),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("results written to {}", out.display());
    let failed: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| {
            s.median
                .extra
                .get("invariants_ok")
                .is_some_and(|v| *v < 1.0)
        })
        .collect();
    if !failed.is_empty() {
        bail!("race invariants violated in hot-model");
    }
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

fn med(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Each figure's median over the runs (ratios: the median of the per-run ratios, each measured
/// side by side).
fn median(runs: &[RunResult]) -> RunResult {
    let f = |g: &dyn Fn(&RunResult) -> f64| med(runs.iter().map(g).collect());
    let o = |g: &dyn Fn(&RunResult) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(g).collect();
        (!v.is_empty()).then(|| med(v))
    };
    let mut extra = BTreeMap::new();
    if let Some(first) = runs.first() {
        for key in first.extra.keys() {
            extra.insert(
                key.clone(),
                med(runs
                    .iter()
                    .filter_map(|r| r.extra.get(key).copied())
                    .collect()),
            );
        }
    }
    RunResult {
        requests: f(&|r| r.requests as f64) as u64,
        throughput: f(&|r| r.throughput),
        p50_ms: f(&|r| r.p50_ms),
        p99_ms: f(&|r| r.p99_ms),
        errors: f(&|r| r.errors as f64) as u64,
        peak_rss_mb: f(&|r| r.peak_rss_mb),
        baseline_throughput: o(&|r| r.baseline_throughput),
        baseline_p50_ms: o(&|r| r.baseline_p50_ms),
        baseline_p99_ms: o(&|r| r.baseline_p99_ms),
        baseline_errors: o(&|r| r.baseline_errors.map(|e| e as f64)).map(|e| e as u64),
        ratio: o(&|r| r.ratio),
        extra,
    }
}

fn scenario_name<S: serde::Serializer>(s: &Scenario, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(s.name())
}

fn targets(scenario: Scenario, m: &RunResult) -> Vec<Target> {
    let t = |what: &str, value: f64, target: &str, met: bool| Target {
        what: what.into(),
        value,
        target: target.into(),
        met,
    };
    let ratio = m.ratio.unwrap_or(0.0);
    let extra = |k: &str| m.extra.get(k).copied().unwrap_or(f64::NAN);
    match scenario {
        Scenario::CatalogRead => vec![t("ratio to baseline", ratio, ">= 0.7", ratio >= 0.7)],
        Scenario::ShareToggle => vec![
            t("ratio to baseline", ratio, ">= 0.6", ratio >= 0.6),
            t("p99 ms", m.p99_ms, "<= 50", m.p99_ms <= 50.0),
        ],
        Scenario::HotModel => vec![t(
            "race invariants hold",
            extra("invariants_ok"),
            "= 1",
            extra("invariants_ok") >= 1.0,
        )],
        Scenario::ActorChurn => {
            let grew = extra("rss_after_minus_before_mb");
            vec![t(
                "RSS after idle - before (MB)",
                grew,
                "<= 20",
                grew <= 20.0,
            )]
        }
        Scenario::CatalogScale => vec![
            t(
                "start-up s",
                extra("startup_s"),
                "<= 10",
                extra("startup_s") <= 10.0,
            ),
            t("page p99 ms", m.p99_ms, "<= 10", m.p99_ms <= 10.0),
        ],
        Scenario::CatalogWorst => Vec::new(),
    }
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Machine: {} ({} cores), {:.0} GiB RAM, Linux {}. Medians of {} run(s); {} connections.\n\n",
        report.machine.cpu,
        report.machine.cores,
        report.machine.memory_gib,
        report.machine.kernel,
        report.runs,
        report.sizes.connections
    ));
    out.push_str(
        "| scenario | db | req/s | p50 ms | p99 ms | errors | peak RSS MB | baseline req/s | baseline p99 ms | ratio | notes |\n",
    );
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for s in &report.scenarios {
        let m = &s.median;
        let notes = match s.scenario {
            Scenario::CatalogRead => format!(
                "body {:.0} B (baseline {:.0} B)",
                m.extra.get("mean_body_bytes").copied().unwrap_or(0.0),
                m.extra.get("baseline_body_bytes").copied().unwrap_or(0.0)
            ),
            Scenario::HotModel => format!(
                "{:.0} transitions/s; invariants {}",
                m.extra.get("transitions_per_s").copied().unwrap_or(0.0),
                if m.extra.get("invariants_ok").copied().unwrap_or(0.0) >= 1.0 {
                    "hold"
                } else {
                    "VIOLATED"
                }
            ),
            Scenario::ActorChurn => format!(
                "RSS before {:.1} / peak {:.1} / after idle {:.1} MB",
                m.extra.get("rss_before_mb").copied().unwrap_or(0.0),
                m.extra.get("rss_peak_mb").copied().unwrap_or(0.0),
                m.extra.get("rss_after_idle_mb").copied().unwrap_or(0.0)
            ),
            Scenario::CatalogScale => format!(
                "start-up {:.2} s; RSS ready {:.0} MB",
                m.extra.get("startup_s").copied().unwrap_or(0.0),
                m.extra.get("rss_ready_mb").copied().unwrap_or(0.0)
            ),
            Scenario::CatalogWorst => {
                let x = |k: &str| m.extra.get(k).copied().unwrap_or(0.0);
                let shape = worst::SHAPES
                    .get(x("worst_shape") as usize)
                    .map_or("?", |(name, _)| name);
                format!(
                    "share p99 {:.2} ms alone, {:.2} ms with {} readers of the worst query ({shape}: alone p50 {:.2} / p99 {:.2} ms; under load p99 {:.2} ms, {:.0}/s); start-up {:.2} s, RSS ready {:.0} MB",
                    m.baseline_p99_ms.unwrap_or(0.0),
                    m.p99_ms,
                    worst::WORST_READERS,
                    x(&format!("{shape}_p50_ms")),
                    x(&format!("{shape}_p99_ms")),
                    x("worst_reads_p99_ms"),
                    x("worst_reads_per_s"),
                    x("startup_s"),
                    x("rss_ready_mb"),
                )
            }
            Scenario::ShareToggle => String::new(),
        };
        let targets: Vec<String> = s
            .targets
            .iter()
            .map(|t| {
                format!(
                    "{} {:.2} (target {}) {}",
                    t.what,
                    t.value,
                    t.target,
                    if t.met { "met" } else { "NOT MET" }
                )
            })
            .collect();
        let opt = |v: Option<f64>, prec: usize| v.map_or("-".into(), |x| format!("{x:.prec$}"));
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {} | {} | {} | {}; {} |\n",
            s.scenario.name(),
            s.db.as_str(),
            m.throughput,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            m.peak_rss_mb,
            opt(m.baseline_throughput, 0),
            opt(m.baseline_p99_ms, 2),
            opt(m.ratio, 2),
            notes,
            targets.join("; ")
        ));
    }
    out
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".into(), |(_, v)| v.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / (1024.0 * 1024.0));
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        memory_gib,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}
