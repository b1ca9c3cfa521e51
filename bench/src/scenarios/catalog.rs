//! The catalog scenarios: anonymous catalog reads over a mix of queries and their cursors.
//!
//! `catalog-read` measures them on a modest catalog against a baseline in the same run: this
//! binary's `baseline-server` answering every GET with a real first page, pre-serialized.
//! `catalog-scale` seeds a big catalog and measures the server's start-up time, its memory once
//! ready and the same reads' latency.

use anyhow::{Result, bail};
use hyper::body::Bytes;

use super::{Env, Prepared, RunResult, Sizes, mb, prepare};
use crate::db::Db;
use crate::load::{self, Req, Rng, User, Verdict};
use crate::server;

/// The query mix: default and other sorts, every filter, selective and broad ones. Each user
/// picks one at random and follows its `nextCursor` for up to two more pages.
const CATALOG_QUERIES: &[&str] = &[
    "/v1/catalog/models?limit=20",
    "/v1/catalog/models?sort=name",
    "/v1/catalog/models?sort=endpoints",
    "/v1/catalog/models?architecture=llama",
    "/v1/catalog/models?license=mit&sort=name",
    "/v1/catalog/models?tag=code",
    "/v1/catalog/models?minParameters=20000000000&maxParameters=60000000000",
    "/v1/catalog/models?q=checkpoint&sort=name",
    "/v1/catalog/models?architecture=mistral&minContextLength=8192",
    "/v1/catalog/models?tag=t3&sort=endpoints",
    "/v1/catalog/models?q=-12",
];

/// Reads the catalog anonymously: a random query of [`CATALOG_QUERIES`], then up to two more
/// of its pages.
struct CatalogUser {
    rng: Rng,
    base: &'static str,
    cursor: Option<String>,
    follow: u32,
}

impl User for CatalogUser {
    fn next(&mut self) -> Option<Req> {
        let path = match self.cursor.take() {
            Some(cursor) if self.follow > 0 => {
                self.follow -= 1;
                format!("{}&after={cursor}", self.base)
            }
            _ => {
                self.base = CATALOG_QUERIES[self.rng.below(CATALOG_QUERIES.len())];
                self.follow = 2;
                self.base.to_owned()
            }
        };
        Some(Req {
            post: false,
            path,
            auth: None,
        })
    }

    fn answer(&mut self, status: u16, body: &[u8]) -> Verdict {
        if status != 200 {
            return Verdict::Error;
        }
        self.cursor = next_cursor(body);
        Verdict::Ok
    }
}

/// The last `"nextCursor":"…"` value of a page, if it has one.
fn next_cursor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"nextCursor\":\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = body[at..].iter().position(|b| *b == b'"')?;
    String::from_utf8(body[at..at + len].to_vec()).ok()
}

/// `n` catalog readers, each with its own random sequence of queries.
pub(super) fn catalog_users(n: usize) -> Vec<Box<dyn User>> {
    (0..n)
        .map(|i| {
            Box::new(CatalogUser {
                rng: Rng::new(i as u64 + 7),
                base: CATALOG_QUERIES[0],
                cursor: None,
                follow: 0,
            }) as Box<dyn User>
        })
        .collect()
}

/// `catalog-read`: the service's reads, then the baseline's, per run.
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
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let (mut result, page) = read_service(&prepared, s).await?;
        read_baseline(&prepared, s, &page, &mut result).await?;
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

/// Starts the server and measures its catalog reads. Returns the figures and a real first page of
/// the default listing, the baseline's body.
async fn read_service(prepared: &Prepared, s: &Sizes) -> Result<(RunResult, Bytes)> {
    let (service, _) = prepared.spec.serve().await?;
    // The baseline's body: a real first page of the default listing.
    let (status, page) = load::once(
        service.addr,
        &Req {
            post: false,
            path: CATALOG_QUERIES[0].into(),
            auth: None,
        },
    )
    .await?;
    if status != 200 {
        bail!("catalog page answered {status}");
    }
    let stats = load::run(
        service.addr,
        catalog_users(s.connections),
        s.warmup,
        s.duration,
    )
    .await?;
    let mut result = RunResult::from_stats(&stats);
    result.peak_rss_mb = mb(service.peak_rss());
    result.extra.insert(
        "mean_body_bytes".into(),
        stats.bytes as f64 / stats.requests().max(1) as f64,
    );
    super::with_wrk(
        &mut result.extra,
        "",
        service.addr,
        "catalog.lua",
        &CATALOG_QUERIES
            .iter()
            .map(|q| (*q).to_owned())
            .collect::<Vec<_>>(),
        (s.connections, s.connections),
        s.duration,
    )
    .await?;
    service.stop().await?;
    Ok((result, page))
}

/// Starts the baseline server on `page` and adds its figures to `result`.
async fn read_baseline(
    prepared: &Prepared,
    s: &Sizes,
    page: &[u8],
    result: &mut RunResult,
) -> Result<()> {
    let body_file = prepared.dir().join("baseline-body.json");
    std::fs::write(&body_file, page)?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let baseline = server::baseline(&body_file, workers).await?;
    let base = load::run(
        baseline.addr,
        catalog_users(s.connections),
        s.warmup,
        s.duration,
    )
    .await?;
    result.baseline(&base);
    result
        .extra
        .insert("baseline_body_bytes".into(), page.len() as f64);
    super::with_wrk(
        &mut result.extra,
        "baseline_",
        baseline.addr,
        "catalog.lua",
        &CATALOG_QUERIES
            .iter()
            .map(|q| (*q).to_owned())
            .collect::<Vec<_>>(),
        (s.connections, s.connections),
        s.duration,
    )
    .await?;
    result
        .extra
        .insert("baseline_peak_rss_mb".into(), mb(baseline.peak_rss()));
    baseline.stop().await?;
    Ok(())
}

/// `catalog-scale`: start-up, memory and reads of a big catalog (seeded once, served per run).
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
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let (service, startup) = prepared.spec.serve().await?;
        let rss_ready = service.rss();
        let stats = load::run(
            service.addr,
            catalog_users(s.connections),
            s.warmup,
            s.duration,
        )
        .await?;
        let mut result = RunResult::from_stats(&stats);
        result.peak_rss_mb = mb(service.peak_rss());
        result
            .extra
            .insert("startup_s".into(), startup.as_secs_f64());
        result.extra.insert("rss_ready_mb".into(), mb(rss_ready));
        result
            .extra
            .insert("rss_after_load_mb".into(), mb(service.rss()));
        result.extra.insert("seed_s".into(), seed_secs);
        service.stop().await?;
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}
