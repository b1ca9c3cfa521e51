//! `catalog-worst`: the most expensive catalog reads anyone can send, and what they do to shares.
//!
//! A big catalog (`Sizes::worst_models` shared models) is seeded. Each query shape below is sent
//! by one connection on its own (every request with a fresh value, so no kept page ever answers
//! and each read costs what a new anonymous query costs); the shape with the highest median is
//! the worst. Then shares and unshares run alone (the baseline), and again while
//! [`WORST_READERS`] connections send the worst shape without pause: the share p99 of the two
//! phases shows whether reads hold up the catalog's writer.

use std::time::Duration;

use anyhow::Result;

use crate::db::Db;
use crate::load::{self, Req, User, Verdict};
use crate::scenarios::{Env, RunResult, mb, prepare, toggle_users};

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
        let (service, startup) = prepared.spec.serve().await?;
        let rss_ready = service.rss();
        let mut result = RunResult::default();
        result
            .extra
            .insert("startup_s".into(), startup.as_secs_f64());
        result.extra.insert("rss_ready_mb".into(), mb(rss_ready));
        let mut worst = (0, f64::MIN);
        for (i, (name, shape)) in SHAPES.iter().enumerate() {
            let stats = load::run(service.addr, worst_users(shape, 1), s.warmup, probe).await?;
            eprintln!(
                "   {name}: p50 {:.2} ms p99 {:.2} ms ({} requests, {} errors)",
                stats.p50_ms(),
                stats.p99_ms(),
                stats.requests(),
                stats.errors
            );
            result
                .extra
                .insert(format!("{name}_p50_ms"), stats.p50_ms());
            result
                .extra
                .insert(format!("{name}_p99_ms"), stats.p99_ms());
            if stats.p50_ms() > worst.1 {
                worst = (i, stats.p50_ms());
            }
        }
        let (worst_name, worst_shape) = SHAPES[worst.0];
        result.extra.insert("worst_shape".into(), worst.0 as f64);
        eprintln!("   worst shape: {worst_name}");

        // Shares alone: the baseline.
        let svc = prepared.pool.model_ids("svc").await?;
        let alone = load::run(
            service.addr,
            toggle_users(&prepared, &svc, TOGGLERS, run),
            s.warmup,
            s.duration,
        )
        .await?;
        // Shares while the worst shape is read without pause.
        let svc = prepared.pool.model_ids("svc").await?;
        let (shares, reads) = tokio::join!(
            load::run(
                service.addr,
                toggle_users(&prepared, &svc, TOGGLERS, run + 100),
                s.warmup,
                s.duration,
            ),
            load::run(
                service.addr,
                worst_users(worst_shape, WORST_READERS),
                s.warmup,
                s.duration,
            ),
        );
        let (shares, reads) = (shares?, reads?);
        let mut merged = RunResult::from_stats(&shares);
        merged.baseline(&alone);
        merged.extra = result.extra;
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
        results.push(merged);
    }
    prepared.finish().await?;
    Ok(results)
}
