//! The share-toggle baseline: shares and unshares done the way a hand-written sqlx service
//! would do them, with no actor, cache or outbox, on a pool of the service's default size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
// The dynamic statements below are built from this file's constants only.
use sea_orm::sqlx::postgres::PgPool;
use sea_orm::sqlx::sqlite::SqlitePool;
use sea_orm::sqlx::{self, AssertSqlSafe};
use uuid::Uuid;

use super::Pool;
use crate::load::{Rng, Stats, Verdict};

/// Who the baseline's share events are attributed to (the seeded admin).
#[derive(Clone)]
pub struct Actor {
    pub project: String,
    pub user: Uuid,
    pub key: Uuid,
}

/// One transition to make: model `model` at `version`, to shared (`share`) or unshared.
struct Toggle<'a> {
    actor: &'a Actor,
    model: Uuid,
    version: i64,
    share: bool,
    request_id: String,
}

impl Toggle<'_> {
    /// The compare-and-set `UPDATE` on id, version and state and the event `INSERT`, with
    /// placeholders `{p}1`, `{p}2`, … and `now` as the dialect's current second.
    fn statements(&self, p: char, now: &str) -> (String, String) {
        let set_time = if self.share {
            "shared_at"
        } else {
            "unshared_at"
        };
        let update = format!(
            "UPDATE models SET shared = {p}1, version = version + 1, updated_at = {now}, \
             {set_time} = {now} WHERE id = {p}2 AND version = {p}3 AND shared = {p}4"
        );
        let insert = format!(
            "INSERT INTO share_events (model_id, project_id, action, actor_user_id, api_key_id, \
             request_id, at) VALUES ({p}1, {p}2, {p}3, {p}4, {p}5, {p}6, {now})"
        );
        (update, insert)
    }

    /// The event's action.
    fn action(&self) -> &'static str {
        if self.share { "share" } else { "unshare" }
    }
}

/// One share or unshare done the way a hand-written sqlx service would: a transaction with the
/// compare-and-set `UPDATE` on id, version and state, then the event `INSERT`. Whether the
/// `UPDATE` matched (if not, the transaction is rolled back).
async fn toggle(
    pool: &Pool,
    actor: &Actor,
    model: Uuid,
    version: i64,
    share: bool,
) -> Result<bool> {
    let toggle = Toggle {
        actor,
        model,
        version,
        share,
        request_id: Uuid::new_v4().to_string(),
    };
    match pool {
        Pool::Sqlite(p) => toggle_sqlite(p, &toggle).await,
        Pool::Postgres(p) => toggle_postgres(p, &toggle).await,
    }
}

/// [`toggle`] on SQLite: `BEGIN IMMEDIATE` on one connection, so the write lock is taken first.
async fn toggle_sqlite(p: &SqlitePool, t: &Toggle<'_>) -> Result<bool> {
    let (update, insert) = t.statements('?', "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')");
    let mut conn = p.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let n = sqlx::query(AssertSqlSafe(update))
        .bind(t.share)
        .bind(t.model)
        .bind(t.version)
        .bind(!t.share)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 1 {
        sqlx::query(AssertSqlSafe(insert))
            .bind(t.model)
            .bind(&t.actor.project)
            .bind(t.action())
            .bind(t.actor.user)
            .bind(t.actor.key)
            .bind(&t.request_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
    } else {
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    }
    Ok(n == 1)
}

/// [`toggle`] on PostgreSQL: a sqlx transaction.
async fn toggle_postgres(p: &PgPool, t: &Toggle<'_>) -> Result<bool> {
    let (update, insert) = t.statements('$', "date_trunc('second', now())");
    let mut tx = p.begin().await?;
    let n = sqlx::query(AssertSqlSafe(update))
        .bind(t.share)
        .bind(t.model)
        .bind(t.version)
        .bind(!t.share)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 1 {
        sqlx::query(AssertSqlSafe(insert))
            .bind(t.model)
            .bind(&t.actor.project)
            .bind(t.action())
            .bind(t.actor.user)
            .bind(t.actor.key)
            .bind(&t.request_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(n == 1)
}

/// The share-toggle baseline: `workers` tasks, each owning the models `i % workers == w`,
/// toggling a random one of its own per transaction (so every transaction is a real transition).
pub async fn toggle_baseline(
    pool: Arc<Pool>,
    actor: Actor,
    models: &[(Uuid, i64, bool)],
    workers: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Stats> {
    let start = Instant::now();
    let record_from = start + warmup;
    let deadline = record_from + duration;
    let mut tasks = Vec::new();
    for w in 0..workers {
        // (id, version, shared)
        let own: Vec<(Uuid, i64, bool)> = models
            .iter()
            .enumerate()
            .filter(|(i, _)| i % workers == w)
            .map(|(_, m)| *m)
            .collect();
        let pool = Arc::clone(&pool);
        let actor = actor.clone();
        tasks.push(tokio::spawn(toggle_worker(
            pool,
            actor,
            own,
            w,
            record_from,
            deadline,
        )));
    }
    let mut total = Stats::new()?;
    let mut last = record_from;
    for task in tasks {
        let (stats, l) = task.await??;
        total.merge(&stats)?;
        last = last.max(l);
    }
    total.elapsed = last.saturating_duration_since(record_from);
    Ok(total)
}

/// Worker `w` of [`toggle_baseline`]: toggles a random model of `own` (id, version, shared) per
/// transaction until `deadline`, recording those sent from `record_from` on. Returns its figures
/// and when its last recorded transaction ended.
async fn toggle_worker(
    pool: Arc<Pool>,
    actor: Actor,
    mut own: Vec<(Uuid, i64, bool)>,
    w: usize,
    record_from: Instant,
    deadline: Instant,
) -> Result<(Stats, Instant)> {
    let mut stats = Stats::new()?;
    let mut rng = Rng::new(w as u64 + 1);
    let mut last = Instant::now();
    while !own.is_empty() && Instant::now() < deadline {
        let pick = rng.below(own.len());
        let (id, version, shared) = own[pick];
        let sent = Instant::now();
        let verdict = match toggle(&pool, &actor, id, version, !shared).await {
            Ok(true) => {
                own[pick] = (id, version + 1, !shared);
                Verdict::Ok
            }
            _ => Verdict::Error,
        };
        let done = Instant::now();
        if sent >= record_from {
            stats.record(done - sent, verdict);
            last = done;
        }
    }
    Ok((stats, last))
}
