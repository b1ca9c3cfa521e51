//! The results of a benchmark: each scenario's runs on each database, their medians, the targets
//! they are held to and the machine they ran on. It is written as JSON
//! (`target/bench/results.json`) and printed as a markdown table ([`table`]).

mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::Db;
use crate::scenarios::{RunResult, Scenario, Sizes};

pub use table::table;

/// One scenario on one database: every run, their medians and the targets checked on those.
#[derive(Serialize)]
pub struct ScenarioReport {
    #[serde(serialize_with = "scenario_name")]
    pub scenario: Scenario,
    pub db: Db,
    pub runs: Vec<RunResult>,
    pub median: RunResult,
    pub targets: Vec<Target>,
}

impl ScenarioReport {
    /// The report of `runs` of `scenario` on `db`.
    pub fn new(scenario: Scenario, db: Db, runs: Vec<RunResult>) -> Self {
        let median = median(&runs);
        let targets = targets(scenario, &median);
        Self {
            scenario,
            db,
            runs,
            median,
            targets,
        }
    }
}

/// A figure, the target it is held to (as text, e.g. `>= 0.7`) and whether it meets it.
#[derive(Serialize)]
pub struct Target {
    pub what: String,
    pub value: f64,
    pub target: String,
    pub met: bool,
}

/// The machine the benchmark ran on, from `/proc`.
#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

/// The whole benchmark, as written to the results file.
#[derive(Serialize)]
pub struct Report {
    pub machine: Machine,
    pub sizes: Sizes,
    pub runs: usize,
    pub smoke: bool,
    pub scenarios: Vec<ScenarioReport>,
}

/// The median of `v` (0 if it is empty; the mean of the middle two if its length is even).
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

/// The targets `scenario` is held to, checked on its medians `m`.
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
            t("ratio to baseline", ratio, ">= 1.0", ratio >= 1.0),
            t("p99 ms", m.p99_ms, "<= 25", m.p99_ms <= 25.0),
            t(
                "open loop 1000/s p99 ms",
                extra("open_loop_p99_ms"),
                "<= 5",
                extra("open_loop_p99_ms") <= 5.0,
            ),
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

/// The machine this runs on: CPU model, cores, memory and kernel release.
pub fn machine() -> Machine {
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
