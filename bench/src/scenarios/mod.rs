//! The scenarios: seed, start the release server, drive load, measure the baseline in the same
//! run, check invariants.
//!
//! This module holds what every scenario shares: the [`Scenario`] names, the [`Sizes`], the
//! [`Env`] a scenario runs in and the [`RunResult`] it reports. Each family has its own module:
//! [`catalog`] (`catalog-read`, `catalog-scale`, with issue 15's query shapes), [`share`] (`share-toggle`, `hot-model`),
//! [`actors`] (`actor-churn`) and [`worst`] (`catalog-worst`); [`prepared`] sets up the fresh
//! database and the demo tenant each of them starts from.

mod actors;
pub mod catalog;
mod prepared;
mod share;
pub mod worst;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::db::Db;
use crate::load::Stats;

pub(crate) use prepared::{Prepared, prepare};
pub(crate) use share::toggle_users;

/// Every scenario the bench knows. Its name on the command line and in reports is in
/// [`Scenario::NAMED`], the one place it is written; everything else matches on the enum, so a
/// new scenario is not done until each report knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    CatalogRead,
    ShareToggle,
    HotModel,
    ActorChurn,
    CatalogScale,
    CatalogWorst,
}

impl Scenario {
    /// Each scenario by name, in the order `--scenario all` runs them.
    pub const NAMED: [(&'static str, Scenario); 6] = [
        ("catalog-read", Scenario::CatalogRead),
        ("share-toggle", Scenario::ShareToggle),
        ("hot-model", Scenario::HotModel),
        ("actor-churn", Scenario::ActorChurn),
        ("catalog-scale", Scenario::CatalogScale),
        ("catalog-worst", Scenario::CatalogWorst),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(name, _)| name)
    }

    /// The scenario `name` names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
                anyhow::anyhow!(
                    "unknown scenario {name:?}; known: all, {}",
                    known.join(", ")
                )
            })
    }
}

/// How big everything is (smaller under `--smoke`).
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Measured time of each catalog query shape alone, per server and client.
    pub shape_duration: Duration,
    pub catalog_models: u64,
    pub toggle_models: u64,
    pub churn_models: u64,
    pub scale_models: u64,
    pub worst_models: u64,
    pub churn_idle_timeout_ms: u64,
}

/// The arrival rate of the open-loop phases (`share-toggle`'s transitions, `catalog-scale`'s
/// reads), requests per second: a fixed load well under what the service can take, where a
/// latency measures the service rather than the queue a saturating closed loop builds.
pub(crate) const OPEN_RATE: f64 = 1000.0;

/// An open-loop phase's figures in `extra`, as `{prefix}open_loop_…`: the answers' p50, p99 and
/// errors, and the p99 of the client's own lag in sending (`…_dispatch_p99_ms`), which the
/// answers' latencies include.
pub(crate) fn record_open(
    extra: &mut BTreeMap<String, f64>,
    prefix: &str,
    open: &crate::load::Open,
) {
    let answers = &open.answers;
    extra.insert(format!("{prefix}open_loop_p50_ms"), answers.p50_ms());
    extra.insert(format!("{prefix}open_loop_p99_ms"), answers.p99_ms());
    extra.insert(format!("{prefix}open_loop_errors"), answers.errors as f64);
    extra.insert(
        format!("{prefix}open_loop_dispatch_p99_ms"),
        open.dispatch.p99_ms(),
    );
}

/// Everything a scenario needs.
pub struct Env {
    pub bin: std::path::PathBuf,
    pub pg_url: String,
    pub sizes: Sizes,
    pub runs: usize,
}

/// Runs wrk with `script` against `addr` and records its figures in `extra` as `wrk_…` (with
/// `prefix` before `wrk`); nothing when wrk is not installed.
pub(crate) async fn with_wrk(
    extra: &mut BTreeMap<String, f64>,
    prefix: &str,
    addr: std::net::SocketAddr,
    script: &str,
    args: &[String],
    (threads, connections): (usize, usize),
    duration: Duration,
) -> Result<()> {
    if !crate::wrk::available() {
        eprintln!("wrk is not installed (Debian: apt-get install wrk): its figures are left out");
        return Ok(());
    }
    let f = crate::wrk::run(
        addr,
        crate::wrk::script(script),
        args,
        threads,
        connections,
        duration,
    )
    .await?;
    extra.insert(format!("{prefix}wrk_rps"), f.requests_per_s);
    extra.insert(format!("{prefix}wrk_p50_ms"), f.p50_ms);
    extra.insert(format!("{prefix}wrk_p99_ms"), f.p99_ms);
    extra.insert(format!("{prefix}wrk_non_2xx"), f.non_2xx);
    Ok(())
}

/// One run's figures. `extra` holds scenario-specific ones (start-up time, RSS phases, …).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResult {
    pub requests: u64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub peak_rss_mb: f64,
    pub baseline_throughput: Option<f64>,
    pub baseline_p50_ms: Option<f64>,
    pub baseline_p99_ms: Option<f64>,
    pub baseline_errors: Option<u64>,
    pub ratio: Option<f64>,
    pub extra: BTreeMap<String, f64>,
}

impl RunResult {
    pub(crate) fn from_stats(stats: &Stats) -> Self {
        Self {
            requests: stats.requests(),
            throughput: stats.throughput(),
            p50_ms: stats.p50_ms(),
            p99_ms: stats.p99_ms(),
            errors: stats.errors,
            ..Self::default()
        }
    }

    pub(crate) fn baseline(&mut self, stats: &Stats) {
        self.baseline_throughput = Some(stats.throughput());
        self.baseline_p50_ms = Some(stats.p50_ms());
        self.baseline_p99_ms = Some(stats.p99_ms());
        self.baseline_errors = Some(stats.errors);
        if stats.throughput() > 0.0 {
            self.ratio = Some(self.throughput / stats.throughput());
        }
    }
}

/// `bytes` in MiB, the unit of every memory figure of the report (written "MB" there).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs one scenario `env.runs` times on `db`.
pub async fn run(env: &Env, scenario: Scenario, db: Db) -> Result<Vec<RunResult>> {
    match scenario {
        Scenario::CatalogRead => catalog::catalog_read(env, db).await,
        Scenario::ShareToggle => share::share_toggle(env, db).await,
        Scenario::HotModel => share::hot_model(env, db).await,
        Scenario::ActorChurn => actors::actor_churn(env, db).await,
        Scenario::CatalogScale => catalog::catalog_scale(env, db).await,
        Scenario::CatalogWorst => worst::catalog_worst(env, db).await,
    }
}
