//! `catalog-worst`: the most expensive catalog reads anyone can send, and what they do to shares.
//!
//! A big catalog (`Sizes::worst_models` shared models) is seeded. Each query shape below is sent
//! by one connection on its own (every request with a fresh value, so no kept page ever answers
//! and each read costs what a new anonymous query costs); the shape with the highest median is
//! the worst. Then shares and unshares run alone (the baseline), and again while
//! [`WORST_READERS`] connections send the worst shape without pause: the share p99 of the two
//! phases shows whether reads hold up the catalog's writer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;

use super::{Env, Prepared, RunResult, Sizes, mb, prepare, toggle_users};
use crate::db::Db;
use crate::load::{self, Req, Stats, User, Verdict};

/// The query shapes tried, by name; `{n}` is a value no model has, new for every request.
pub const SHAPES: &[(&str, &str)] = &[
    ("absent-architecture", "architecture=none-{n}"),
    ("absent-tag-by-name", "tag=none-{n}&sort=name"),
    ("rare-q", "q=zq{n}x"),
    ("rare-q-by-name", "q=zq{n}x&sort=name"),
    ("empty-range", "minParameters=1{n}000"),
    (
        "dense-facet-empty-range",
        "architecture=llama&minContextLength=100000{n}",
    ),
    (
        "dense-tag-rare-q-by-endpoints",
        "tag=chat&q=zq{n}x&sort=endpoints",
    ),
];

/// Connections sending the worst shape while shares run.
pub const WORST_READERS: usize = 4;
/// Connections sharing and unsharing.
const TOGGLERS: usize = 4;

/// Sends one query shape, with a value never sent before each time.
struct WorstUser {
    shape: &'static str,
    next: u64,
}

impl User for WorstUser {
    fn next(&mut self) -> Option<Req> {
        self.next += 1;
        Some(Req {
            post: false,
            path: format!(
                "/v1/catalog/models?{}",
                self.shape.replace("{n}", &self.next.to_string())
            ),
            auth: None,
        })
    }

    fn answer(&mut self, status: u16, _body: &[u8]) -> Verdict {
        if status == 200 {
            Verdict::Ok
        } else {
            Verdict::Error
        }
    }
}

/// `n` users sending `shape`, each from its own range of values.
fn worst_users(shape: &'static str, n: usize) -> Vec<Box<dyn User>> {
    (0..n)
        .map(|i| {
            Box::new(WorstUser {
                shape,
                next: (i as u64 + 1) * 100_000_000,
            }) as Box<dyn User>
        })
        .collect()
}

/// `catalog-worst`: seeds the big catalog and the models to share once, then per run probes
/// every shape and measures shares alone and under the worst one.
pub async fn catalog_worst(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    let project = prepared.demo.project_id.clone();
    prepared
        .pool
        .seed_models(&project, "worst", s.worst_models, true, "ready")
        .await?;
    prepared
        .pool
        .seed_models(&project, "svc", 256, false, "ready")
        .await?;
    // Each shape alone for a fifth of the measured time (at least a second).
    let probe = (s.duration / 5).max(Duration::from_secs(1));
    let mut results = Vec::new();
    for run in 0..env.runs {
        results.push(worst_run(&prepared, s, probe, run).await?);
    }
    prepared.finish().await?;
    Ok(results)
}

/// One run on a fresh server: its start-up figures, each shape probed for `probe`, then the
/// shares alone and under the worst shape. The figures are the shares' under reads, with the
/// shares alone as their baseline.
async fn worst_run(
    prepared: &Prepared,
    s: &Sizes,
    probe: Duration,
    run: usize,
) -> Result<RunResult> {
    let (service, startup) = prepared.spec.serve().await?;
    let rss_ready = service.rss();
    let mut extra = BTreeMap::new();
    extra.insert("startup_s".into(), startup.as_secs_f64());
    extra.insert("rss_ready_mb".into(), mb(rss_ready));
    let worst = probe_shapes(service.addr, s.warmup, probe, &mut extra).await?;
    let (worst_name, worst_shape) = SHAPES[worst];
    extra.insert("worst_shape".into(), worst as f64);
    eprintln!("   worst shape: {worst_name}");

    let (alone, shares, reads) =
        shares_under_reads(prepared, service.addr, s, run, worst_shape).await?;
    let mut merged = RunResult::from_stats(&shares);
    merged.baseline(&alone);
    merged.extra = extra;
    merged.peak_rss_mb = mb(service.peak_rss());
    merged
        .extra
        .insert("worst_reads_p50_ms".into(), reads.p50_ms());
    merged
        .extra
        .insert("worst_reads_p99_ms".into(), reads.p99_ms());
    merged
        .extra
        .insert("worst_reads_per_s".into(), reads.throughput());
    merged
        .extra
        .insert("worst_reads_errors".into(), reads.errors as f64);
    service.stop().await?;
    Ok(merged)
}

/// Sends each shape of [`SHAPES`] from one connection for `probe` (after `warmup`), records its
/// p50 and p99 in `extra` (`{name}_p50_ms`, `{name}_p99_ms`) and returns the index of the shape
/// with the highest p50 (the first of equals).
async fn probe_shapes(
    addr: SocketAddr,
    warmup: Duration,
    probe: Duration,
    extra: &mut BTreeMap<String, f64>,
) -> Result<usize> {
    let mut worst = (0, f64::MIN);
    for (i, (name, shape)) in SHAPES.iter().enumerate() {
        let stats = load::run(addr, worst_users(shape, 1), warmup, probe).await?;
        eprintln!(
            "   {name}: p50 {:.2} ms p99 {:.2} ms ({} requests, {} errors)",
            stats.p50_ms(),
            stats.p99_ms(),
            stats.requests(),
            stats.errors
        );
        extra.insert(format!("{name}_p50_ms"), stats.p50_ms());
        extra.insert(format!("{name}_p99_ms"), stats.p99_ms());
        if stats.p50_ms() > worst.1 {
            worst = (i, stats.p50_ms());
        }
    }
    Ok(worst.0)
}

/// [`TOGGLERS`] connections sharing and unsharing the `svc-…` models alone, then again while
/// [`WORST_READERS`] connections send `worst_shape`. Returns the shares alone, the shares under
/// reads and the reads.
async fn shares_under_reads(
    prepared: &Prepared,
    addr: SocketAddr,
    s: &Sizes,
    run: usize,
    worst_shape: &'static str,
) -> Result<(Stats, Stats, Stats)> {
    // Shares alone: the baseline.
    let svc = prepared.pool.model_ids("svc").await?;
    let alone = load::run(
        addr,
        toggle_users(prepared, &svc, TOGGLERS, run),
        s.warmup,
        s.duration,
    )
    .await?;
    // Shares while the worst shape is read without pause.
    let svc = prepared.pool.model_ids("svc").await?;
    let (shares, reads) = tokio::join!(
        load::run(
            addr,
            toggle_users(prepared, &svc, TOGGLERS, run + 100),
            s.warmup,
            s.duration,
        ),
        load::run(
            addr,
            worst_users(worst_shape, WORST_READERS),
            s.warmup,
            s.duration,
        ),
    );
    Ok((alone, shares?, reads?))
}
