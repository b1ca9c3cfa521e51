//! The results of a benchmark: each scenario's runs on each database, their medians, the targets
//! they are held to and the machine they ran on. It is written as JSON
//! (`target/bench/results.json`) and printed as a markdown table ([`table`]).

mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::Db;
use crate::scenarios::catalog::shapes::{self, SHAPES};
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
        let targets = targets(scenario, db, &median);
        Self {
            scenario,
            db,
            runs,
            median,
            targets,
        }
    }
}

/// A figure, the target it is held to (as text, e.g. `>= 0.7`) and whether it meets it; `shape`
/// names the catalog query shape it belongs to, if any.
#[derive(Serialize)]
pub struct Target {
    pub what: String,
    pub value: f64,
    pub target: String,
    pub met: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
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

/// The least ratio of share-toggle to its raw loop on `db` (issue 16): group commit should
/// amortize SQLite's one writer's flushes, and at least match a hand-written loop on PostgreSQL.
fn share_toggle_ratio(db: Db) -> f64 {
    match db {
        Db::Sqlite => 2.5,
        Db::Postgres => 1.0,
    }
}

/// The targets `scenario` on `db` is held to, checked on its medians `m`.
fn targets(scenario: Scenario, db: Db, m: &RunResult) -> Vec<Target> {
    let t = |what: &str, value: f64, target: &str, met: bool| Target {
        what: what.into(),
        value,
        target: target.into(),
        met,
        shape: None,
    };
    // A figure held to at most `limit` (a figure that is missing, NaN, is not met).
    let at_most =
        |what: &str, value: f64, limit: f64| t(what, value, &format!("<= {limit}"), value <= limit);
    let ratio = m.ratio.unwrap_or(0.0);
    let extra = |k: &str| m.extra.get(k).copied().unwrap_or(f64::NAN);
    match scenario {
        Scenario::CatalogRead => {
            let mut targets = vec![t(
                "mix ratio to baseline",
                ratio,
                ">= 0.9",
                ratio >= SHAPE_RATIO,
            )];
            targets.extend(shape_targets(m));
            targets
        }
        Scenario::ShareToggle => {
            let least = share_toggle_ratio(db);
            let at_least =
                |what: &str, value: f64| t(what, value, &format!(">= {least:.1}"), value >= least);
            let mut targets = vec![at_least("ratio to baseline", ratio)];
            // wrk's figure against the same raw loop, when wrk ran.
            if let (Some(wrk), Some(baseline)) = (m.extra.get("wrk_rps"), m.baseline_throughput)
                && baseline > 0.0
            {
                targets.push(at_least("wrk ratio to baseline", wrk / baseline));
            }
            targets.extend([
                at_most("p99 ms", m.p99_ms, 25.0),
                at_most("open loop 1000/s p99 ms", extra("open_loop_p99_ms"), 5.0),
            ]);
            targets
        }
        Scenario::HotModel => vec![t(
            "race invariants hold",
            extra("invariants_ok"),
            "= 1",
            extra("invariants_ok") >= 1.0,
        )],
        // Issue 16 (issue 6 asked for 20 MB).
        Scenario::ActorChurn => vec![at_most(
            "RSS after idle - before (MB)",
            extra("rss_after_minus_before_mb"),
            5.0,
        )],
        // Issue 16's targets at a million models (issue 6 asked for a 10 s start-up, issue 15
        // for a list p99 of 5 ms).
        Scenario::CatalogScale => vec![
            at_most("start-up s", extra("startup_s"), 3.0),
            at_most("restart from checkpoint s", extra("restart_s"), 3.0),
            at_most("RSS when ready MB", extra("rss_ready_mb"), 1024.0),
            at_most("RSS when ready again MB", extra("rss_restart_mb"), 1024.0),
            at_most("list p99 ms", m.p99_ms, 2.0),
            at_most("facets p99 ms", extra("facets_p99_ms"), 5.0),
            at_most(
                "list p99 ms, open loop 1000/s",
                extra("open_loop_p99_ms"),
                2.0,
            ),
            at_most(
                "facets p99 ms, open loop 1000/s",
                extra("facets_open_loop_p99_ms"),
                5.0,
            ),
        ],
        Scenario::CatalogWorst => Vec::new(),
    }
}

/// The least ratio to the baseline each catalog query shape is held to (issue 15).
pub const SHAPE_RATIO: f64 = 0.9;

/// Each catalog query shape's ratio to the baseline (`catalog-read`), by the bench's client and,
/// when wrk ran, by wrk: every one held to [`SHAPE_RATIO`]. A shape missing from `m` (an older
/// results file) has none.
fn shape_targets(m: &RunResult) -> Vec<Target> {
    let mut targets = Vec::new();
    for shape in SHAPES {
        for (figure, client) in [("ratio", "client"), ("wrk_ratio", "wrk")] {
            if let Some(value) = m.extra.get(&shapes::key(shape.name, figure)).copied() {
                targets.push(Target {
                    what: format!("{} {client} ratio to baseline", shape.name),
                    value,
                    target: format!(">= {SHAPE_RATIO}"),
                    met: value >= SHAPE_RATIO,
                    shape: Some(shape.name.into()),
                });
            }
        }
    }
    targets
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `catalog-read` run with the figures of two shapes (`ratio` for both, wrk's for one).
    fn run(ratio: f64, wrk_ratio: f64) -> RunResult {
        let mut extra = BTreeMap::new();
        for name in ["sort-name", "facets"] {
            extra.insert(shapes::key(name, "rps"), 1000.0 * ratio);
            extra.insert(shapes::key(name, "p99_ms"), 2.0);
            extra.insert(shapes::key(name, "baseline_rps"), 1000.0);
            extra.insert(shapes::key(name, "ratio"), ratio);
        }
        extra.insert(shapes::key("facets", "wrk_ratio"), wrk_ratio);
        extra.insert(shapes::key("facets", "wrk_rps"), 500.0);
        RunResult {
            throughput: 950.0,
            ratio: Some(0.95),
            extra,
            ..RunResult::default()
        }
    }

    #[test]
    fn each_shape_is_held_to_its_ratio_on_the_medians() {
        let report = ScenarioReport::new(
            Scenario::CatalogRead,
            Db::Sqlite,
            vec![run(0.8, 0.95), run(0.95, 0.7), run(0.92, 0.99)],
        );
        // Medians per figure: ratio 0.92 for both shapes, facets' wrk ratio 0.95.
        let shape_targets: Vec<(&str, &str, bool)> = report
            .targets
            .iter()
            .filter_map(|t| t.shape.as_deref().map(|s| (s, t.what.as_str(), t.met)))
            .collect();
        assert_eq!(
            shape_targets,
            [
                ("sort-name", "sort-name client ratio to baseline", true),
                ("facets", "facets client ratio to baseline", true),
                ("facets", "facets wrk ratio to baseline", true),
            ]
        );
        let mix = &report.targets[0];
        assert!(mix.shape.is_none() && mix.met);

        let missed = ScenarioReport::new(Scenario::CatalogRead, Db::Sqlite, vec![run(0.85, 0.7)]);
        assert_eq!(missed.targets.iter().filter(|t| !t.met).count(), 3);
    }

    #[test]
    fn share_toggle_is_held_to_its_databases_ratio_by_both_clients() {
        // 2.33× by the bench's client, 2.04× by wrk, as on SQLite before batched writes.
        let toggle = RunResult {
            throughput: 5937.0,
            p99_ms: 17.0,
            baseline_throughput: Some(2548.0),
            ratio: Some(2.33),
            extra: BTreeMap::from([
                ("wrk_rps".to_owned(), 5198.0),
                ("open_loop_p99_ms".to_owned(), 1.8),
            ]),
            ..RunResult::default()
        };
        let verdicts = |db| {
            ScenarioReport::new(Scenario::ShareToggle, db, vec![toggle.clone()])
                .targets
                .iter()
                .map(|t| (t.what.clone(), t.target.clone(), t.met))
                .collect::<Vec<_>>()
        };
        let own = |what: &str, target: &str, met| (what.to_owned(), target.to_owned(), met);
        for (db, least, met) in [
            (Db::Sqlite, ">= 2.5", false),
            (Db::Postgres, ">= 1.0", true),
        ] {
            assert_eq!(
                verdicts(db),
                [
                    own("ratio to baseline", least, met),
                    own("wrk ratio to baseline", least, met),
                    own("p99 ms", "<= 25", true),
                    own("open loop 1000/s p99 ms", "<= 5", true),
                ],
                "{db:?}"
            );
        }
    }

    #[test]
    fn catalog_scale_prints_the_baselines_figures_beside_the_services() {
        let figures = [
            ("wrk_rps", 1000.0),
            ("wrk_p50_ms", 3.0),
            ("wrk_p99_ms", 6.0),
            ("baseline_wrk_rps", 2000.0),
            ("baseline_wrk_p99_ms", 8.0),
            ("open_loop_p99_ms", 0.5),
            ("baseline_open_loop_p99_ms", 0.25),
            ("facets_p99_ms", 9.5),
            ("facets_baseline_rps", 4000.0),
            ("facets_baseline_p99_ms", 2.5),
            ("facets_wrk_rps", 100.0),
            ("facets_wrk_p50_ms", 5.0),
            ("facets_wrk_p99_ms", 9.0),
            ("facets_baseline_wrk_rps", 400.0),
            ("facets_baseline_wrk_p99_ms", 3.0),
            ("facets_baseline_open_loop_p99_ms", 0.75),
        ];
        let run = RunResult {
            throughput: 500.0,
            p99_ms: 5.0,
            baseline_throughput: Some(1000.0),
            baseline_p99_ms: Some(4.0),
            ratio: Some(0.5),
            extra: figures.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..RunResult::default()
        };
        let report = ScenarioReport::new(Scenario::CatalogScale, Db::Sqlite, vec![run]);
        let text = table::row(&report);
        for expected in [
            "| 1000 | 4.00 | 0.50 |",
            "wrk: 1000 req/s, p50 3.00 ms, p99 6.00 ms, 0 non-2xx, 0.50× baseline (baseline p99 8.00 ms)",
            "open loop 1000/s: p50 0.00 ms, p99 0.50 ms (baseline 0.25 ms)",
            "p99 9.50 ms (baseline 4000 req/s, p99 2.50 ms)",
            "wrk: 100 req/s, p50 5.00 ms, p99 9.00 ms, 0 non-2xx, 0.25× baseline (baseline p99 3.00 ms)",
            "p99 0.00 ms (baseline 0.75 ms)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    #[test]
    fn the_table_has_a_row_per_measured_shape() {
        let report = Report {
            machine: machine(),
            sizes: Sizes {
                connections: 1,
                warmup: std::time::Duration::ZERO,
                duration: std::time::Duration::ZERO,
                shape_duration: std::time::Duration::ZERO,
                catalog_models: 0,
                toggle_models: 0,
                churn_models: 0,
                scale_models: 0,
                worst_models: 0,
                churn_idle_timeout_ms: 0,
            },
            runs: 1,
            smoke: true,
            scenarios: vec![ScenarioReport::new(
                Scenario::CatalogRead,
                Db::Sqlite,
                vec![run(0.85, 0.95)],
            )],
        };
        let text = table(&report);
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| sort-name |") || l.starts_with("| facets |"))
            .collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].ends_with("| NOT MET |"), "{}", rows[0]);
        assert!(rows[1].ends_with("| NOT MET / met |"), "{}", rows[1]);
        assert!(
            text.contains(
                "query shapes' ratios >= 0.9× baseline: 1 of 3 met (NOT MET for sort-name, facets; see the shape table)"
            ),
            "{text}"
        );
    }
}
