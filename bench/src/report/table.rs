//! The markdown table printed at the end of a benchmark: a line on the machine, then one row per
//! scenario and database with the medians, the baseline, the scenario's own figures (notes) and
//! its targets.

use super::{Report, ScenarioReport, Target};
use crate::scenarios::{RunResult, Scenario, worst};

/// The table of `report`, header included.
pub fn table(report: &Report) -> String {
    let mut out = header(report);
    for s in &report.scenarios {
        out.push_str(&row(s));
    }
    out
}

/// The machine line and the table's head.
fn header(report: &Report) -> String {
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
    out
}

/// The row of one scenario on one database.
fn row(s: &ScenarioReport) -> String {
    let m = &s.median;
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".into(), |x| format!("{x:.prec$}"));
    format!(
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
        notes(s.scenario, m),
        targets(&s.targets)
    )
}

/// The scenario's own figures, from the medians' `extra`.
fn notes(scenario: Scenario, m: &RunResult) -> String {
    let x = |k: &str| m.extra.get(k).copied().unwrap_or(0.0);
    match scenario {
        Scenario::CatalogRead => format!(
            "body {:.0} B (baseline {:.0} B); {}",
            x("mean_body_bytes"),
            x("baseline_body_bytes"),
            wrk_note(m, m.extra.get("baseline_wrk_rps").copied())
        ),
        Scenario::HotModel => format!(
            "{:.0} transitions/s; invariants {}",
            x("transitions_per_s"),
            if x("invariants_ok") >= 1.0 {
                "hold"
            } else {
                "VIOLATED"
            }
        ),
        Scenario::ActorChurn => format!(
            "RSS before {:.1} / peak {:.1} / after idle {:.1} MB",
            x("rss_before_mb"),
            x("rss_peak_mb"),
            x("rss_after_idle_mb")
        ),
        Scenario::CatalogScale => format!(
            "start-up {:.2} s; RSS ready {:.0} MB",
            x("startup_s"),
            x("rss_ready_mb")
        ),
        Scenario::CatalogWorst => worst_notes(m),
        Scenario::ShareToggle => format!(
            "open loop 1000/s: p50 {:.2} ms, p99 {:.2} ms, {:.0} errors; {}",
            x("open_loop_p50_ms"),
            x("open_loop_p99_ms"),
            x("open_loop_errors"),
            wrk_note(m, m.baseline_throughput)
        ),
    }
}

/// wrk's figures against the same server, and its ratio to `baseline` req/s (wrk's own against
/// the baseline server for `catalog-read`, the sqlx loop's for `share-toggle`).
fn wrk_note(m: &RunResult, baseline: Option<f64>) -> String {
    let x = |k: &str| m.extra.get(k).copied();
    match (x("wrk_rps"), x("wrk_p50_ms"), x("wrk_p99_ms")) {
        (Some(rps), Some(p50), Some(p99)) => {
            let ratio = baseline.map_or(String::new(), |b| format!(", {:.2}× baseline", rps / b));
            format!(
                "wrk: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {:.0} non-2xx{ratio}",
                x("wrk_non_2xx").unwrap_or(0.0)
            )
        }
        _ => "wrk: not run".into(),
    }
}

/// `catalog-worst`'s notes: the share p99 alone and under reads, the worst shape's figures alone
/// and under load, the start-up.
fn worst_notes(m: &RunResult) -> String {
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

/// Each target with its value and whether it is met, separated by `; `.
fn targets(targets: &[Target]) -> String {
    let targets: Vec<String> = targets
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
    targets.join("; ")
}
