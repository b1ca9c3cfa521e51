//! The scenarios: seed, start the release server, drive load, measure the baseline in the same
//! run, check invariants.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{Actor, Db, FreshDb, Pool};
use crate::load::{self, Req, Rng, Stats, User, Verdict};
use crate::server::{self, ServerSpec};

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
    pub catalog_models: u64,
    pub toggle_models: u64,
    pub churn_models: u64,
    pub scale_models: u64,
    pub worst_models: u64,
    pub churn_idle_timeout_ms: u64,
}

/// Everything a scenario needs.
pub struct Env {
    pub bin: std::path::PathBuf,
    pub pg_url: String,
    pub sizes: Sizes,
    pub runs: usize,
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

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// What `modelshare --json demo` prints (the seeded admin and its project).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Demo {
    pub(crate) project_id: String,
    api_key: String,
    api_key_id: Uuid,
    user_id: Uuid,
    model_id: Uuid,
}

/// A fresh database with the schema and the demo tenant, plus a pool on it for seeding.
pub(crate) struct Prepared {
    fresh: FreshDb,
    pub(crate) spec: ServerSpec,
    pub(crate) pool: Pool,
    pub(crate) demo: Demo,
    dir: TempDir,
}

/// A temp directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("modelshare-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) async fn prepare(env: &Env, db: Db, idle_timeout_ms: Option<u64>) -> Result<Prepared> {
    let dir = TempDir::new()?;
    let fresh = FreshDb::create(db, &dir.0, &env.pg_url).await?;
    let spec = ServerSpec {
        bin: env.bin.clone(),
        workdir: dir.0.clone(),
        database_url: fresh.url.clone(),
        idle_timeout_ms,
    };
    spec.cli(&["migrate"]).await?;
    let demo: Demo = serde_json::from_str(&spec.cli(&["--json", "demo"]).await?)
        .context("reading `modelshare --json demo`")?;
    let pool = Pool::open(db, &fresh.url, 1).await?;
    Ok(Prepared {
        fresh,
        spec,
        pool,
        demo,
        dir,
    })
}

impl Prepared {
    pub(crate) async fn finish(self) -> Result<()> {
        self.pool.close().await;
        self.fresh.drop_db().await
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.demo.api_key)
    }
}

/// Runs one scenario `env.runs` times on `db`.
pub async fn run(env: &Env, scenario: Scenario, db: Db) -> Result<Vec<RunResult>> {
    match scenario {
        Scenario::CatalogRead => catalog_read(env, db).await,
        Scenario::ShareToggle => share_toggle(env, db).await,
        Scenario::HotModel => hot_model(env, db).await,
        Scenario::ActorChurn => actor_churn(env, db).await,
        Scenario::CatalogScale => catalog_scale(env, db).await,
        Scenario::CatalogWorst => crate::worst::catalog_worst(env, db).await,
    }
}

// ---------------------------------------------------------------------------------------------
// catalog reads

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

fn next_cursor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"nextCursor\":\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = body[at..].iter().position(|b| *b == b'"')?;
    String::from_utf8(body[at..at + len].to_vec()).ok()
}

fn catalog_users(n: usize) -> Vec<Box<dyn User>> {
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

async fn catalog_read(env: &Env, db: Db) -> Result<Vec<RunResult>> {
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
        service.stop().await?;

        let body_file = prepared.dir.0.join("baseline-body.json");
        std::fs::write(&body_file, &page)?;
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
        result
            .extra
            .insert("baseline_peak_rss_mb".into(), mb(baseline.peak_rss()));
        baseline.stop().await?;
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

// ---------------------------------------------------------------------------------------------
// share/unshare

/// Owns some models and toggles a random one of them per request: every request is a real
/// transition (share of an unshared model, unshare of a shared one), so every answer must be 200.
struct ToggleUser {
    rng: Rng,
    auth: String,
    project: String,
    own: Vec<(Uuid, bool)>,
    pending: usize,
}

impl User for ToggleUser {
    fn next(&mut self) -> Option<Req> {
        if self.own.is_empty() {
            return None;
        }
        self.pending = self.rng.below(self.own.len());
        let (id, shared) = self.own[self.pending];
        let action = if shared { "unshare" } else { "share" };
        Some(Req {
            post: true,
            path: format!("/{}/v1/models/{id}/{action}", self.project),
            auth: Some(self.auth.clone()),
        })
    }

    fn answer(&mut self, status: u16, _body: &[u8]) -> Verdict {
        if status == 200 {
            self.own[self.pending].1 = !self.own[self.pending].1;
            Verdict::Ok
        } else {
            Verdict::Error
        }
    }
}

/// `n` users that toggle the models `svc` (ids and states, as `Pool::model_ids` reads them),
/// each its own share of them; `seed` varies their random picks.
pub(crate) fn toggle_users(
    prepared: &Prepared,
    svc: &[(Uuid, i64, bool)],
    n: usize,
    seed: usize,
) -> Vec<Box<dyn User>> {
    (0..n)
        .map(|w| {
            Box::new(ToggleUser {
                rng: Rng::new((seed * n + w) as u64 + 11),
                auth: prepared.auth(),
                project: prepared.demo.project_id.clone(),
                own: svc
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % n == w)
                    .map(|(_, (id, _, shared))| (*id, *shared))
                    .collect(),
                pending: 0,
            }) as Box<dyn User>
        })
        .collect()
}

async fn share_toggle(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    let project = prepared.demo.project_id.clone();
    // The service's models and the baseline's, in the same database.
    prepared
        .pool
        .seed_models(&project, "svc", s.toggle_models, false, "ready")
        .await?;
    prepared
        .pool
        .seed_models(&project, "base", s.toggle_models, false, "ready")
        .await?;
    // The service's defaults: one writer connection on SQLite, a pool of 8 on PostgreSQL.
    let connections = match db {
        Db::Sqlite => 1,
        Db::Postgres => 8,
    };
    let actor = Actor {
        project: project.clone(),
        user: prepared.demo.user_id,
        key: prepared.demo.api_key_id,
    };
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let svc = prepared.pool.model_ids("svc").await?;
        let (service, _) = prepared.spec.serve().await?;
        let users = toggle_users(&prepared, &svc, s.connections, 0);
        let stats = load::run(service.addr, users, s.warmup, s.duration).await?;
        let mut result = RunResult::from_stats(&stats);
        result.peak_rss_mb = mb(service.peak_rss());
        service.stop().await?;

        let base_models = prepared.pool.model_ids("base").await?;
        let pool = Arc::new(Pool::open(db, &prepared.fresh.url, connections).await?);
        let base = crate::db::toggle_baseline(
            Arc::clone(&pool),
            actor.clone(),
            &base_models,
            s.connections,
            s.warmup,
            s.duration,
        )
        .await?;
        if let Ok(pool) = Arc::try_unwrap(pool) {
            pool.close().await;
        }
        result.baseline(&base);
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

/// Alternates share and unshare on one model; 200 and 409 (`model_not_shared`, when another
/// user's unshare came first) are both correct answers.
struct HotUser {
    auth: String,
    share: String,
    unshare: String,
    next_share: bool,
    unshares_ok: Arc<std::sync::atomic::AtomicU64>,
}

impl User for HotUser {
    fn next(&mut self) -> Option<Req> {
        let path = if self.next_share {
            self.share.clone()
        } else {
            self.unshare.clone()
        };
        Some(Req {
            post: true,
            path,
            auth: Some(self.auth.clone()),
        })
    }

    fn answer(&mut self, status: u16, _body: &[u8]) -> Verdict {
        let was_share = self.next_share;
        self.next_share = !self.next_share;
        match status {
            200 => {
                if !was_share {
                    self.unshares_ok
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Verdict::Ok
            }
            409 if !was_share => Verdict::Ok,
            _ => Verdict::Error,
        }
    }
}

async fn hot_model(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    let model = prepared.demo.model_id;
    let project = prepared.demo.project_id.clone();
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let (before, _) = prepared.pool.history(model).await?;
        let (service, _) = prepared.spec.serve().await?;
        let unshares_ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let users = (0..s.connections)
            .map(|w| {
                Box::new(HotUser {
                    auth: prepared.auth(),
                    share: format!("/{project}/v1/models/{model}/share"),
                    unshare: format!("/{project}/v1/models/{model}/unshare"),
                    next_share: w % 2 == 0,
                    unshares_ok: Arc::clone(&unshares_ok),
                }) as Box<dyn User>
            })
            .collect();
        // No warm-up: every request of the run is counted, so the invariants can be checked.
        let stats = load::run(service.addr, users, Duration::ZERO, s.duration).await?;
        let mut result = RunResult::from_stats(&stats);
        result.peak_rss_mb = mb(service.peak_rss());
        service.stop().await?;
        let (events, shared) = prepared.pool.history(model).await?;
        let alternate = events
            .iter()
            .enumerate()
            .all(|(i, a)| a == if i % 2 == 0 { "share" } else { "unshare" });
        let state_matches = shared == (events.last().map(String::as_str) == Some("share"));
        let new_unshares = events[before.len()..]
            .iter()
            .filter(|a| *a == "unshare")
            .count() as u64;
        let unshare_200s = unshares_ok.load(std::sync::atomic::Ordering::Relaxed);
        let ok = alternate && state_matches && new_unshares == unshare_200s;
        if !ok {
            eprintln!(
                "hot-model on {}: INVARIANT VIOLATED: alternate={alternate} state_matches={state_matches} \
                 unshare events={new_unshares} unshare 200s={unshare_200s}",
                db.as_str()
            );
        }
        result
            .extra
            .insert("invariants_ok".into(), if ok { 1.0 } else { 0.0 });
        result.extra.insert(
            "transitions_per_s".into(),
            (events.len() - before.len()) as f64 / stats.elapsed.as_secs_f64().max(1e-9),
        );
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

// ---------------------------------------------------------------------------------------------
// actors

/// Touches each of its models once (an unshare of an unshared model: the model's actor starts,
/// reads the model, runs the policy chain and answers 409 `model_not_shared`), then stops.
struct ChurnUser {
    auth: String,
    project: String,
    models: Vec<Uuid>,
}

impl User for ChurnUser {
    fn next(&mut self) -> Option<Req> {
        let id = self.models.pop()?;
        Some(Req {
            post: true,
            path: format!("/{}/v1/models/{id}/unshare", self.project),
            auth: Some(self.auth.clone()),
        })
    }

    fn answer(&mut self, status: u16, _body: &[u8]) -> Verdict {
        if status == 409 {
            Verdict::Ok
        } else {
            Verdict::Error
        }
    }
}

async fn actor_churn(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let idle = s.churn_idle_timeout_ms;
    let prepared = prepare(env, db, Some(idle)).await?;
    let project = prepared.demo.project_id.clone();
    prepared
        .pool
        .seed_models(&project, "churn", s.churn_models, false, "ready")
        .await?;
    let ids: Vec<Uuid> = prepared
        .pool
        .model_ids("churn")
        .await?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let (service, _) = prepared.spec.serve().await?;
        // Warm up every worker, pool connection and the demo model's actor, then let that
        // actor go idle, so "before" is a server that has served requests.
        warm(&service.addr, &prepared, Duration::from_secs(1)).await?;
        tokio::time::sleep(Duration::from_millis(idle * 2 + 1000)).await;
        let before = service.rss();
        service.reset_peak();
        let users = (0..s.connections)
            .map(|w| {
                Box::new(ChurnUser {
                    auth: prepared.auth(),
                    project: project.clone(),
                    models: ids
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % s.connections == w)
                        .map(|(_, id)| *id)
                        .collect(),
                }) as Box<dyn User>
            })
            .collect();
        // Runs until every model was touched (the duration is only a safety limit).
        let stats = load::run(
            service.addr,
            users,
            Duration::ZERO,
            Duration::from_secs(600),
        )
        .await?;
        let peak = service.sampled_peak();
        tokio::time::sleep(Duration::from_millis(idle * 2 + 2000)).await;
        let after = service.rss();
        let mut result = RunResult::from_stats(&stats);
        result.peak_rss_mb = mb(peak);
        result.extra.insert("rss_before_mb".into(), mb(before));
        result.extra.insert("rss_peak_mb".into(), mb(peak));
        result.extra.insert("rss_after_idle_mb".into(), mb(after));
        result
            .extra
            .insert("rss_after_minus_before_mb".into(), mb(after) - mb(before));
        result
            .extra
            .insert("models_touched".into(), stats.ok as f64);
        service.stop().await?;
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

async fn warm(addr: &SocketAddr, prepared: &Prepared, for_: Duration) -> Result<()> {
    let users: Vec<Box<dyn User>> = (0..8)
        .map(|_| {
            Box::new(ChurnUser {
                auth: prepared.auth(),
                project: prepared.demo.project_id.clone(),
                models: vec![prepared.demo.model_id; 50],
            }) as Box<dyn User>
        })
        .chain(catalog_users(8))
        .collect();
    load::run(*addr, users, Duration::ZERO, for_).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// a big catalog

async fn catalog_scale(env: &Env, db: Db) -> Result<Vec<RunResult>> {
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
