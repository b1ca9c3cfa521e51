//! The share scenarios: authenticated share and unshare transitions through the models' actors.
//!
//! `share-toggle` spreads them over many models, every request a real transition, and compares
//! them with a hand-written sqlx baseline doing the same transactions on the same database
//! ([`crate::db::toggle_baseline`]). `hot-model` sends them all at one model and then checks,
//! from its share events, that no race got through: the events alternate, the model's state
//! matches the last one, and every unshare answered 200 left exactly one event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use uuid::Uuid;

use super::{Env, OPEN_RATE, Prepared, RunResult, Sizes, mb, prepare};
use crate::db::{self, Actor, Db, Pool};
use crate::load::{self, Req, Rng, Stats, User, Verdict};

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

/// `share-toggle`: the service's transitions, then the sqlx baseline's, per run. Each side has
/// its own models (`svc-…` and `base-…`) in the same database.
pub(super) async fn share_toggle(env: &Env, db: Db) -> Result<Vec<RunResult>> {
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
    let actor = Actor {
        project: project.clone(),
        user: prepared.demo.user_id,
        key: prepared.demo.api_key_id,
    };
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let mut result = toggle_service(&prepared, s).await?;
        let base = toggle_sqlx(&prepared, db, &actor, s).await?;
        result.baseline(&base);
        results.push(result);
    }
    prepared.finish().await?;
    Ok(results)
}

/// Starts the server and measures its transitions of the `svc-…` models: closed loop (each
/// connection sends when its last answer is read), then open loop at [`OPEN_RATE`].
async fn toggle_service(prepared: &Prepared, s: &Sizes) -> Result<RunResult> {
    let svc = prepared.pool.model_ids("svc").await?;
    let (service, _) = prepared.spec.serve().await?;
    let users = toggle_users(prepared, &svc, s.connections, 0);
    let stats = load::run(service.addr, users, s.warmup, s.duration).await?;
    let mut result = RunResult::from_stats(&stats);
    // Then at a fixed arrival rate, from the models' state as the closed loop left it.
    let svc = prepared.pool.model_ids("svc").await?;
    let users = toggle_users(prepared, &svc, s.connections, 1);
    let open = load::run_open(service.addr, users, OPEN_RATE, s.warmup, s.duration).await?;
    super::record_open(&mut result.extra, "", &open);
    // Then wrk: one connection per model, each toggling its own.
    let ids: Vec<String> = svc
        .iter()
        .take(s.connections)
        .map(|(id, _, _)| id.to_string())
        .collect();
    let args = [
        prepared.api_key().to_owned(),
        prepared.demo.project_id.clone(),
        ids.join(","),
    ];
    super::with_wrk(
        &mut result.extra,
        "",
        service.addr,
        "share-toggle.lua",
        &args,
        (s.connections, s.connections),
        s.duration,
    )
    .await?;
    result.peak_rss_mb = mb(service.peak_rss());
    service.stop().await?;
    Ok(result)
}

/// The sqlx baseline's transitions of the `base-…` models, on a pool of its own with the
/// best size for it: one writer connection on SQLite, 16 connections on PostgreSQL (more only
/// queue on the server's 2 cores).
async fn toggle_sqlx(prepared: &Prepared, db: Db, actor: &Actor, s: &Sizes) -> Result<Stats> {
    let connections = match db {
        Db::Sqlite => 1,
        Db::Postgres => 16,
    };
    let base_models = prepared.pool.model_ids("base").await?;
    let pool = Arc::new(Pool::open(db, prepared.url(), connections).await?);
    let base = db::toggle_baseline(
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
    Ok(base)
}

/// Alternates share and unshare on one model; 200 and 409 (`model_not_shared`, when another
/// user's unshare came first) are both correct answers.
struct HotUser {
    auth: String,
    share: String,
    unshare: String,
    next_share: bool,
    unshares_ok: Arc<AtomicU64>,
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
                    self.unshares_ok.fetch_add(1, Ordering::Relaxed);
                }
                Verdict::Ok
            }
            409 if !was_share => Verdict::Ok,
            _ => Verdict::Error,
        }
    }
}

/// `hot-model`: every connection shares and unshares the demo model; the figures of each run
/// include whether the race invariants held (`invariants_ok`) and the transitions per second.
pub(super) async fn hot_model(env: &Env, db: Db) -> Result<Vec<RunResult>> {
    let s = &env.sizes;
    let prepared = prepare(env, db, None).await?;
    let model = prepared.demo.model_id;
    let mut results = Vec::new();
    for _ in 0..env.runs {
        let (before, _) = prepared.pool.history(model).await?;
        let (service, _) = prepared.spec.serve().await?;
        let unshares_ok = Arc::new(AtomicU64::new(0));
        let users = hot_users(&prepared, s.connections, &unshares_ok);
        // No warm-up: every request of the run is counted, so the invariants can be checked.
        let stats = load::run(service.addr, users, Duration::ZERO, s.duration).await?;
        let mut result = RunResult::from_stats(&stats);
        result.peak_rss_mb = mb(service.peak_rss());
        service.stop().await?;
        let (events, shared) = prepared.pool.history(model).await?;
        let unshare_200s = unshares_ok.load(Ordering::Relaxed);
        let ok = invariants_hold(db, &before, &events, shared, unshare_200s);
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

/// `n` users on the demo model, half starting with a share and half with an unshare, counting
/// their unshares answered 200 in `unshares_ok`.
fn hot_users(prepared: &Prepared, n: usize, unshares_ok: &Arc<AtomicU64>) -> Vec<Box<dyn User>> {
    let project = &prepared.demo.project_id;
    let model = prepared.demo.model_id;
    (0..n)
        .map(|w| {
            Box::new(HotUser {
                auth: prepared.auth(),
                share: format!("/{project}/v1/models/{model}/share"),
                unshare: format!("/{project}/v1/models/{model}/unshare"),
                next_share: w % 2 == 0,
                unshares_ok: Arc::clone(unshares_ok),
            }) as Box<dyn User>
        })
        .collect()
}

/// Whether the model's share events (`before` the run, all of them `events` after it) and its
/// state `shared` show no race: the events alternate, starting with a share; the state matches
/// the last event; the run added exactly one unshare event per unshare answered 200. Says on
/// stderr which one failed.
fn invariants_hold(
    db: Db,
    before: &[String],
    events: &[String],
    shared: bool,
    unshare_200s: u64,
) -> bool {
    let alternate = events
        .iter()
        .enumerate()
        .all(|(i, a)| a == if i % 2 == 0 { "share" } else { "unshare" });
    let state_matches = shared == (events.last().map(String::as_str) == Some("share"));
    let new_unshares = events[before.len()..]
        .iter()
        .filter(|a| *a == "unshare")
        .count() as u64;
    let ok = alternate && state_matches && new_unshares == unshare_200s;
    if !ok {
        eprintln!(
            "hot-model on {}: INVARIANT VIOLATED: alternate={alternate} state_matches={state_matches} \
             unshare events={new_unshares} unshare 200s={unshare_200s}",
            db.as_str()
        );
    }
    ok
}
