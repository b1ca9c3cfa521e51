//! The catalog scenarios: anonymous reads of issue 15's query shapes ([`shapes`]), fresh pages.
//!
//! Both run the service with its page cache off (`catalog.page_cache_bytes = 0`), so every
//! answer is cut afresh from the catalog: what a read costs when the catalog has just changed.
//!
//! `catalog-read` seeds a modest catalog. Per run it starts the service, reads every page a
//! reader can ask for once ([`shapes::fetch_pages`]), and starts the baseline (this binary's
//! `baseline-server`) answering each of those paths with the service's own bytes. Then, with both
//! servers up, each shape alone, and afterwards the whole mix, is measured on the service and on
//! the baseline by the bench's client, then on both by wrk: per shape, the same paths, the same
//! body sizes, the same sitting.
//!
//! `catalog-scale` seeds a big catalog and measures the server's start-up time, its memory once
//! ready, and the latency of the list shapes' mix and of the facets shapes' mix: at saturation
//! (a closed loop, both clients) and at a fixed arrival rate ([`OPEN_RATE`], the bench's client);
//! then the same on the baseline serving the same paths with the service's bytes.

pub mod shapes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::{Env, OPEN_RATE, Prepared, RunResult, Sizes, mb, prepare, with_wrk};
use crate::db::Db;
use crate::load::{self, Stats, User};
use crate::server::{self, ServerSpec};

/// `n` readers of the list shapes' mix (other scenarios' background reads).
pub(super) fn catalog_users(n: usize) -> Vec<Box<dyn User>> {
    shapes::users(&shapes::list_paths(), n)
}

/// `catalog-read`: per run, every shape then the mix, on the service and the baseline side by
/// side, by both clients.
pub(super) async fn catalog_read(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    prepared
        .pool
        .seed_models(
            &prepared.demo.project_id,
            "cat",
            s.catalog_models,
            true,
            "ready",
        )
        .await?;
    let spec = prepared.spec.clone().without_page_cache();
    let mut results = Vec::new();
    for _ in 0..env.runs {
        results.push(read_run(&prepared, &spec, s).await?);
    }
    prepared.finish().await?;
    Ok(results)
}

/// One run of `catalog-read` on a fresh service and baseline.
async fn read_run(prepared: &Prepared, spec: &ServerSpec, s: &Sizes) -> Result<RunResult> {
    let (service, _) = spec.serve().await?;
    let all = shapes::all_paths();
    let pages = shapes::fetch_pages(service.addr, &all).await?;
    let pages_file = prepared.dir().join("baseline-pages.json");
    std::fs::write(&pages_file, serde_json::to_vec(&pages)?)?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let baseline = server::baseline(&pages_file, workers).await?;
    let servers = (service.addr, baseline.addr);

    let mut extra = BTreeMap::new();
    for shape in shapes::SHAPES {
        let queries: Arc<[String]> = vec![shape.path.to_owned()].into();
        let prefix = shapes::key(shape.name, "");
        let (svc, base) =
            side_by_side(servers, &queries, s, s.shape_duration, &prefix, &mut extra).await?;
        record_shape(&mut extra, shape.name, &svc, &base);
        eprintln!("   {}", shape_line(&extra, shape.name));
    }
    let (svc, base) = side_by_side(servers, &all, s, s.duration, "", &mut extra).await?;
    let mut result = RunResult::from_stats(&svc);
    result.baseline(&base);
    result.peak_rss_mb = mb(service.peak_rss());
    extra.insert("mean_body_bytes".into(), mean_body(&svc));
    extra.insert("baseline_body_bytes".into(), mean_body(&base));
    extra.insert("baseline_peak_rss_mb".into(), mb(baseline.peak_rss()));
    result.extra = extra;
    baseline.stop().await?;
    service.stop().await?;
    Ok(result)
}

/// Reads `queries` on the service, then on the baseline, with the bench's client for
/// `duration` each (after the warm-up); then both with wrk, whose figures go to `extra` under
/// `{prefix}wrk_…` and `{prefix}baseline_wrk_…`, with their ratio as `{prefix}wrk_ratio`.
/// Returns the bench's client's figures on the service and on the baseline.
async fn side_by_side(
    (service, baseline): (SocketAddr, SocketAddr),
    queries: &Arc<[String]>,
    s: &Sizes,
    duration: Duration,
    prefix: &str,
    extra: &mut BTreeMap<String, f64>,
) -> Result<(Stats, Stats)> {
    let svc = load::run(
        service,
        shapes::users(queries, s.connections),
        s.warmup,
        duration,
    )
    .await?;
    let base = load::run(
        baseline,
        shapes::users(queries, s.connections),
        s.warmup,
        duration,
    )
    .await?;
    let args: Vec<String> = queries.to_vec();
    let wrk = (s.connections, s.connections);
    with_wrk(extra, prefix, service, "catalog.lua", &args, wrk, duration).await?;
    let base_prefix = format!("{prefix}baseline_");
    with_wrk(
        extra,
        &base_prefix,
        baseline,
        "catalog.lua",
        &args,
        wrk,
        duration,
    )
    .await?;
    let figure = |k: &str| extra.get(&format!("{prefix}{k}")).copied();
    if let (Some(rps), Some(base_rps)) = (figure("wrk_rps"), figure("baseline_wrk_rps"))
        && base_rps > 0.0
    {
        extra.insert(format!("{prefix}wrk_ratio"), rps / base_rps);
    }
    Ok((svc, base))
}

/// The bench's client's figures of one shape, on the service (`svc`) and the baseline.
fn record_shape(extra: &mut BTreeMap<String, f64>, shape: &str, svc: &Stats, base: &Stats) {
    let mut put = |figure: &str, value: f64| {
        extra.insert(shapes::key(shape, figure), value);
    };
    put("rps", svc.throughput());
    put("p50_ms", svc.p50_ms());
    put("p99_ms", svc.p99_ms());
    put("errors", svc.errors as f64);
    put("body_bytes", mean_body(svc));
    put("baseline_rps", base.throughput());
    put("baseline_p99_ms", base.p99_ms());
    put("baseline_errors", base.errors as f64);
    put("baseline_body_bytes", mean_body(base));
    if base.throughput() > 0.0 {
        put("ratio", svc.throughput() / base.throughput());
    }
}

/// A log line of one shape's figures.
fn shape_line(extra: &BTreeMap<String, f64>, shape: &str) -> String {
    let x = |figure: &str| {
        extra
            .get(&shapes::key(shape, figure))
            .copied()
            .unwrap_or(f64::NAN)
    };
    format!(
        "{shape}: {:.0} req/s ({:.2}× baseline), p99 {:.2} ms, {:.0} errors, body {:.0} B; wrk {:.0} req/s ({:.2}×), p99 {:.2} ms",
        x("rps"),
        x("ratio"),
        x("p99_ms"),
        x("errors") + x("baseline_errors"),
        x("body_bytes"),
        x("wrk_rps"),
        x("wrk_ratio"),
        x("wrk_p99_ms"),
    )
}

/// The list and facets mixes on the baseline: this binary's bare actix-web server answering
/// every path a reader of `catalog-scale` can ask for with the service's own bytes, read as
/// [`read_mixes`] reads the service, its figures under `baseline_…` and `facets_baseline_…`:
/// what this machine and its load generators cost under the same load with no work behind the
/// answer, the floor under each of the service's latencies. Returns the bench's client's
/// figures of the list mix's closed loop.
async fn baseline_mixes(
    prepared: &Prepared,
    service: SocketAddr,
    mixes: (&Arc<[String]>, &Arc<[String]>),
    s: &Sizes,
    extra: &mut BTreeMap<String, f64>,
) -> Result<Stats> {
    let pages = shapes::fetch_pages(service, &shapes::all_paths()).await?;
    let pages_file = prepared.dir().join("baseline-pages.json");
    std::fs::write(&pages_file, serde_json::to_vec(&pages)?)?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let baseline = server::baseline(&pages_file, workers).await?;
    let listed = read_mixes(baseline.addr, mixes, s, "baseline_", extra).await?;
    baseline.stop().await?;
    Ok(listed)
}

/// The list and facets mixes on the server at `addr`: each in a closed loop by the bench's
/// client and then by wrk, and then each at [`OPEN_RATE`]. The facets mix's figures go to
/// `extra` under `facets_{prefix}…`, wrk's and the open loops' under `{prefix}…` and
/// `facets_{prefix}…`. Returns the bench's client's figures of the list mix's closed loop.
async fn read_mixes(
    addr: SocketAddr,
    (list, facets): (&Arc<[String]>, &Arc<[String]>),
    s: &Sizes,
    prefix: &str,
    extra: &mut BTreeMap<String, f64>,
) -> Result<Stats> {
    let wrk = (s.connections, s.connections);
    let users = |paths: &Arc<[String]>| shapes::users(paths, s.connections);
    let facets_prefix = format!("facets_{prefix}");
    let listed = load::run(addr, users(list), s.warmup, s.duration).await?;
    with_wrk(extra, prefix, addr, "catalog.lua", list, wrk, s.duration).await?;
    let read = load::run(addr, users(facets), s.warmup, s.duration).await?;
    let mut put =
        |figure: &str, value: f64| extra.insert(format!("{facets_prefix}{figure}"), value);
    put("rps", read.throughput());
    put("p50_ms", read.p50_ms());
    put("p99_ms", read.p99_ms());
    put("errors", read.errors as f64);
    let at = facets_prefix.as_str();
    with_wrk(extra, at, addr, "catalog.lua", facets, wrk, s.duration).await?;
    // The same mixes at a fixed arrival rate: their latency without a saturating queue.
    for (prefix, paths) in [(prefix, list), (at, facets)] {
        let open = load::run_open(addr, users(paths), OPEN_RATE, s.warmup, s.duration).await?;
        super::record_open(extra, prefix, &open);
    }
    Ok(listed)
}

/// Mean bytes of the bodies read.
fn mean_body(stats: &Stats) -> f64 {
    stats.bytes as f64 / stats.requests().max(1) as f64
}

/// `catalog-scale`: start-up, memory and fresh reads of a big catalog (seeded once, served per
/// run): the list shapes' mix (the run's main figures) and the facets shapes' mix (`facets_…`),
/// each in a closed loop by both clients, then each in an open loop at [`OPEN_RATE`]
/// (`open_loop_…`, `facets_open_loop_…`).
pub(super) async fn catalog_scale(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    let seeded = std::time::Instant::now();
    prepared
        .pool
        .seed_models(
            &prepared.demo.project_id,
            "big",
            s.scale_models,
            true,
            "ready",
        )
        .await?;
    let seed_secs = seeded.elapsed().as_secs_f64();
    let spec = prepared.spec.clone().without_page_cache();
    let (list, facets) = (shapes::list_paths(), shapes::facets_paths());
    let mut results = Vec::new();
    for _ in 0..env.runs {
        // A cold start: the catalog read from the database and indexed.
        spec.forget_checkpoint()?;
        let (service, startup) = spec.serve_timed().await?;
        let addr = service.addr;
        let rss_ready = service.rss();
        let mut extra = BTreeMap::new();
        let stats = read_mixes(addr, (&list, &facets), s, "", &mut extra).await?;
        let base = baseline_mixes(&prepared, addr, (&list, &facets), s, &mut extra).await?;
        let mut result = RunResult::from_stats(&stats);
        result.baseline(&base);
        result.extra = extra;
        let extra = &mut result.extra;
        extra.insert("startup_s".into(), startup.ready.as_secs_f64());
        extra.insert("answering_s".into(), startup.answering.as_secs_f64());
        extra.insert("rss_ready_mb".into(), mb(rss_ready));
        extra.insert("rss_after_load_mb".into(), mb(service.rss()));
        extra.insert("seed_s".into(), seed_secs);
        result.peak_rss_mb = mb(service.peak_rss());
        // A restart: stopped as an operator does (it writes its catalog checkpoint), then
        // started again from it.
        let stopping = service.terminate(Duration::from_secs(120)).await?;
        let (restarted, restart) = spec.serve_timed().await?;
        let extra = &mut result.extra;
        extra.insert("stop_s".into(), stopping.as_secs_f64());
        extra.insert("restart_s".into(), restart.ready.as_secs_f64());
        extra.insert(
            "restart_answering_s".into(),
            restart.answering.as_secs_f64(),
        );
        extra.insert("rss_restart_mb".into(), mb(restarted.rss()));
        restarted.stop().await?;
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}
