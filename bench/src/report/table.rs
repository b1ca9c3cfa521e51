//! The markdown table printed at the end of a benchmark: a line on the machine, then one row per
//! scenario and database with the medians, the baseline, the scenario's own figures (notes) and
//! its targets; then, for `catalog-read`, a table of its query shapes with both load generators'
//! figures side by side.

use super::{Report, SHAPE_RATIO, ScenarioReport, Target};
use crate::scenarios::catalog::shapes::{self, SHAPES};
use crate::scenarios::{RunResult, Scenario, worst};

/// The table of `report`, header included.
pub fn table(report: &Report) -> String {
    let mut out = header(report);
    for s in &report.scenarios {
        out.push_str(&row(s));
    }
    for s in &report.scenarios {
        if s.scenario == Scenario::CatalogRead {
            out.push_str(&shape_table(s));
        }
    }
    out
}

/// The query shapes of one `catalog-read` report: per shape, the bench's client's and wrk's
/// figures on the service and on the baseline (serving the same paths with the same bytes), the
/// ratios and the target. Empty when the report has no shape figures.
fn shape_table(s: &ScenarioReport) -> String {
    let m = &s.median;
    let x = |shape: &str, figure: &str| m.extra.get(&shapes::key(shape, figure)).copied();
    let f = |v: Option<f64>, prec: usize| v.map_or("-".into(), |v| format!("{v:.prec$}"));
    let mut out = format!(
        "\n`catalog-read` on {} by query shape (fresh pages: page cache off; target: each ratio >= {SHAPE_RATIO}):\n\n\
         | shape | body B | client req/s | client p99 ms | baseline req/s | baseline p99 ms | client ratio | wrk req/s | wrk p99 ms | wrk baseline req/s | wrk baseline p99 ms | wrk ratio | errors | target |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        s.db.as_str()
    );
    let mut rows = 0;
    for shape in SHAPES {
        let name = shape.name;
        if x(name, "rps").is_none() {
            continue;
        }
        rows += 1;
        let errors = [
            "errors",
            "baseline_errors",
            "wrk_non_2xx",
            "baseline_wrk_non_2xx",
        ]
        .iter()
        .filter_map(|figure| x(name, figure))
        .sum::<f64>();
        let verdict: Vec<&str> = s
            .targets
            .iter()
            .filter(|t| t.shape.as_deref() == Some(name))
            .map(|t| if t.met { "met" } else { "NOT MET" })
            .collect();
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {errors:.0} | {} |\n",
            f(x(name, "body_bytes"), 0),
            f(x(name, "rps"), 0),
            f(x(name, "p99_ms"), 2),
            f(x(name, "baseline_rps"), 0),
            f(x(name, "baseline_p99_ms"), 2),
            f(x(name, "ratio"), 2),
            f(x(name, "wrk_rps"), 0),
            f(x(name, "wrk_p99_ms"), 2),
            f(x(name, "baseline_wrk_rps"), 0),
            f(x(name, "baseline_wrk_p99_ms"), 2),
            f(x(name, "wrk_ratio"), 2),
            if verdict.is_empty() {
                "-".into()
            } else {
                verdict.join(" / ")
            },
        ));
    }
    if rows == 0 { String::new() } else { out }
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
pub(super) fn row(s: &ScenarioReport) -> String {
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
            "start-up {:.2} s (the port answering after {:.3} s), restart from its checkpoint {:.2} s (answering after {:.3} s; stop {:.2} s); RSS ready {:.0} MB, again {:.0} MB; list mix (fresh pages) p99 {:.2} ms, {}, open loop 1000/s: p50 {:.2} ms, p99 {:.2} ms (baseline {:.2} ms), {:.0} errors; facets mix {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms (baseline {:.0} req/s, p99 {:.2} ms), {:.0} errors, {}, open loop 1000/s: p50 {:.2} ms, p99 {:.2} ms (baseline {:.2} ms), {:.0} errors",
            x("startup_s"),
            x("answering_s"),
            x("restart_s"),
            x("restart_answering_s"),
            x("stop_s"),
            x("rss_ready_mb"),
            x("rss_restart_mb"),
            m.p99_ms,
            baseline_wrk_note(m, ""),
            x("open_loop_p50_ms"),
            x("open_loop_p99_ms"),
            x("baseline_open_loop_p99_ms"),
            x("open_loop_errors"),
            x("facets_rps"),
            x("facets_p50_ms"),
            x("facets_p99_ms"),
            x("facets_baseline_rps"),
            x("facets_baseline_p99_ms"),
            x("facets_errors") + x("facets_baseline_errors"),
            baseline_wrk_note(m, "facets_"),
            x("facets_open_loop_p50_ms"),
            x("facets_open_loop_p99_ms"),
            x("facets_baseline_open_loop_p99_ms"),
            x("facets_open_loop_errors"),
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
    wrk_figures(m, "", baseline)
}

/// wrk's figures recorded under `prefix` (e.g. `facets_`), with its ratio to wrk's own on the
/// baseline server (`{prefix}baseline_wrk_…`) and the baseline's p99 when wrk read it too.
fn baseline_wrk_note(m: &RunResult, prefix: &str) -> String {
    let x = |k: &str| m.extra.get(&format!("{prefix}baseline_wrk_{k}")).copied();
    let figures = wrk_figures(m, prefix, x("rps"));
    match x("p99_ms") {
        Some(p99) => format!("{figures} (baseline p99 {p99:.2} ms)"),
        None => figures,
    }
}

fn wrk_figures(m: &RunResult, prefix: &str, baseline: Option<f64>) -> String {
    let x = |k: &str| m.extra.get(&format!("{prefix}{k}")).copied();
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

/// Each target with its value and whether it is met, separated by `; `; the query shapes'
/// targets as one count (each is in the shape table).
fn targets(targets: &[Target]) -> String {
    let (of_shapes, others): (Vec<&Target>, Vec<&Target>) =
        targets.iter().partition(|t| t.shape.is_some());
    let mut targets: Vec<String> = others
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
    if !of_shapes.is_empty() {
        let met = of_shapes.iter().filter(|t| t.met).count();
        let mut missed: Vec<&str> = of_shapes
            .iter()
            .filter(|t| !t.met)
            .filter_map(|t| t.shape.as_deref())
            .collect();
        missed.dedup();
        targets.push(format!(
            "query shapes' ratios >= {SHAPE_RATIO}× baseline: {met} of {} met{}",
            of_shapes.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" (NOT MET for {}; see the shape table)", missed.join(", "))
            }
        ));
    }
    targets.join("; ")
}
