//! Fresh databases, bulk seeding in SQL, the sqlx share-toggle baseline and the race checks.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
// Every dynamic statement below is built from this file's constants and generated names,
// never from outside input.
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, Row};
use uuid::Uuid;

use crate::load::{Rng, Stats, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn as_str(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

/// PostgreSQL databases this process created and has not dropped yet (admin url, name), so that
/// a scenario that fails still leaves nothing behind (see [`drop_leftovers`]).
static CREATED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn created() -> std::sync::MutexGuard<'static, Vec<(String, String)>> {
    CREATED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops every database this process created that is still there.
pub async fn drop_leftovers() {
    let left: Vec<(String, String)> = created().drain(..).collect();
    for (admin_url, name) in left {
        let fresh = FreshDb {
            url: String::new(),
            admin_url: Some(admin_url),
            name: Some(name.clone()),
        };
        if let Err(err) = fresh.drop_db().await {
            eprintln!("could not drop database {name}: {err:#}");
        }
    }
}

/// A database created for one scenario; dropped (PostgreSQL) or deleted with its temp dir.
pub struct FreshDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
}

impl FreshDb {
    pub async fn create(db: Db, dir: &Path, pg_admin_url: &str) -> Result<Self> {
        match db {
            Db::Sqlite => Ok(Self {
                url: format!("sqlite://{}?mode=rwc", dir.join("modelshare.db").display()),
                admin_url: None,
                name: None,
            }),
            Db::Postgres => {
                let name = format!("bench_{}", Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(pg_admin_url)
                    .await
                    .with_context(
                        || "connecting to PostgreSQL (is it running on 127.0.0.1:5432?)",
                    )?;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                created().push((pg_admin_url.to_owned(), name.clone()));
                let url = match pg_admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => bail!("the PostgreSQL url must end with /DATABASE"),
                };
                Ok(Self {
                    url,
                    admin_url: Some(pg_admin_url.to_owned()),
                    name: Some(name),
                })
            }
        }
    }

    pub async fn drop_db(self) -> Result<()> {
        if let (Some(admin_url), Some(name)) = (self.admin_url, self.name) {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await?;
            created().retain(|(_, n)| *n != name);
        }
        Ok(())
    }
}

/// A pool with the service's settings: SQLite WAL, `synchronous = FULL`, 5 s busy timeout,
/// foreign keys, `connections` connections; PostgreSQL a pool of `connections`.
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub async fn open(db: Db, url: &str, connections: u32) -> Result<Self> {
        Ok(match db {
            Db::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(connections)
                        .acquire_timeout(Duration::from_secs(30))
                        .connect_with(opts)
                        .await?,
                )
            }
            Db::Postgres => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(PgConnectOptions::from_str(url)?)
                    .await?,
            ),
        })
    }

    pub async fn close(self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Inserts `count` models of `project` in one statement: names `{prefix}-{i}`, a spread of
    /// architectures, licenses, tags, sizes; shared (newest share first by `i`) or not, with
    /// `status`. Rows look exactly like the service's: on SQLite ids are 16-byte blobs, tags a JSON
    /// text array, timestamps RFC 3339 text with `+00:00`.
    pub async fn seed_models(
        &self,
        project: &str,
        prefix: &str,
        count: u64,
        shared: bool,
        status: &str,
    ) -> Result<()> {
        let columns = "id, project_id, name, description, status, architecture, parameter_count, \
                       context_length, license, tags, shared, shared_at, unshared_at, version, \
                       created_at, updated_at";
        let common = |i: &str| {
            format!(
                "'{project}', '{prefix}-' || {i}, 'Benchmark model ' || {i} || ' of the {prefix} set, \
                 a fine-tuned checkpoint for chat and code.', '{status}', \
                 CASE {i} % 4 WHEN 0 THEN 'llama' WHEN 1 THEN 'mistral' WHEN 2 THEN 'qwen' ELSE 'gemma' END, \
                 CAST((({i} % 70) + 1) AS BIGINT) * 1000000000, \
                 CASE {i} % 3 WHEN 0 THEN 4096 WHEN 1 THEN 8192 ELSE 32768 END, \
                 CASE {i} % 3 WHEN 0 THEN 'apache-2.0' WHEN 1 THEN 'mit' ELSE 'llama3' END, \
                 '[\"chat\",\"' || CASE {i} % 2 WHEN 0 THEN 'code' ELSE 'vision' END || '\",\"t' || ({i} % 10) || '\"]'"
            )
        };
        match self {
            Pool::Sqlite(pool) => {
                let ts = "'%Y-%m-%dT%H:%M:%S+00:00'";
                let shared_at = if shared {
                    format!("strftime({ts}, 'now', '-' || i || ' seconds')")
                } else {
                    "NULL".into()
                };
                let sql = format!(
                    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {count}) \
                     INSERT INTO models ({columns}) SELECT randomblob(16), {common}, {shared}, {shared_at}, NULL, \
                     {version}, strftime({ts}, 'now', '-2 days'), strftime({ts}, 'now', '-1 days') FROM s",
                    common = common("i"),
                    shared = i32::from(shared),
                    version = i32::from(shared),
                );
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
            }
            Pool::Postgres(pool) => {
                let shared_at = if shared {
                    "date_trunc('second', now()) - make_interval(secs => i)"
                } else {
                    "NULL"
                };
                let sql = format!(
                    "INSERT INTO models ({columns}) SELECT gen_random_uuid(), {common}, {shared}, {shared_at}, \
                     NULL, {version}, date_trunc('second', now()) - interval '2 days', \
                     date_trunc('second', now()) - interval '1 day' FROM generate_series(0, {last}) AS i",
                    common = common("i"),
                    version = i32::from(shared),
                    last = count.saturating_sub(1),
                );
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
                sqlx::query("ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Ids, versions and states of the models named `{prefix}-…`.
    pub async fn model_ids(&self, prefix: &str) -> Result<Vec<(Uuid, i64, bool)>> {
        let sql = "SELECT id, version, shared FROM models WHERE name LIKE $1 ORDER BY name";
        let pattern = format!("{prefix}-%");
        let rows: Vec<(Uuid, i64, bool)> = match self {
            Pool::Sqlite(p) => sqlx::query_as(sql).bind(pattern).fetch_all(p).await?,
            Pool::Postgres(p) => sqlx::query_as(sql).bind(pattern).fetch_all(p).await?,
        };
        Ok(rows)
    }

    /// The actions of a model's share events, oldest first, and whether it is shared now.
    pub async fn history(&self, model: Uuid) -> Result<(Vec<String>, bool)> {
        let events = "SELECT action FROM share_events WHERE model_id = $1 ORDER BY id";
        let state = "SELECT shared FROM models WHERE id = $1";
        Ok(match self {
            Pool::Sqlite(p) => {
                let actions = sqlx::query(events).bind(model).fetch_all(p).await?;
                let shared: bool = sqlx::query(state)
                    .bind(model)
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                (
                    actions
                        .iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<_, _>>()?,
                    shared,
                )
            }
            Pool::Postgres(p) => {
                let actions = sqlx::query(events).bind(model).fetch_all(p).await?;
                let shared: bool = sqlx::query(state)
                    .bind(model)
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                (
                    actions
                        .iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<_, _>>()?,
                    shared,
                )
            }
        })
    }
}

/// Who the baseline's share events are attributed to (the seeded admin).
#[derive(Clone)]
pub struct Actor {
    pub project: String,
    pub user: Uuid,
    pub key: Uuid,
}

/// One share or unshare done the way a hand-written sqlx service would: a transaction with the
/// compare-and-set `UPDATE` on id, version and state, then the event `INSERT`.
async fn toggle(
    pool: &Pool,
    actor: &Actor,
    model: Uuid,
    version: i64,
    share: bool,
) -> Result<bool> {
    let (set_time, action) = if share {
        ("shared_at", "share")
    } else {
        ("unshared_at", "unshare")
    };
    let request_id = Uuid::new_v4().to_string();
    match pool {
        Pool::Sqlite(p) => {
            let now = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')";
            let update = format!(
                "UPDATE models SET shared = ?1, version = version + 1, updated_at = {now}, \
                 {set_time} = {now} WHERE id = ?2 AND version = ?3 AND shared = ?4"
            );
            let insert = format!(
                "INSERT INTO share_events (model_id, project_id, action, actor_user_id, api_key_id, \
                 request_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, {now})"
            );
            let mut conn = p.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let n = sqlx::query(AssertSqlSafe(update.clone()))
                .bind(share)
                .bind(model)
                .bind(version)
                .bind(!share)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(AssertSqlSafe(insert.clone()))
                    .bind(model)
                    .bind(&actor.project)
                    .bind(action)
                    .bind(actor.user)
                    .bind(actor.key)
                    .bind(request_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
            } else {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            }
            Ok(n == 1)
        }
        Pool::Postgres(p) => {
            let now = "date_trunc('second', now())";
            let update = format!(
                "UPDATE models SET shared = $1, version = version + 1, updated_at = {now}, \
                 {set_time} = {now} WHERE id = $2 AND version = $3 AND shared = $4"
            );
            let insert = format!(
                "INSERT INTO share_events (model_id, project_id, action, actor_user_id, api_key_id, \
                 request_id, at) VALUES ($1, $2, $3, $4, $5, $6, {now})"
            );
            let mut tx = p.begin().await?;
            let n = sqlx::query(AssertSqlSafe(update.clone()))
                .bind(share)
                .bind(model)
                .bind(version)
                .bind(!share)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(AssertSqlSafe(insert.clone()))
                    .bind(model)
                    .bind(&actor.project)
                    .bind(action)
                    .bind(actor.user)
                    .bind(actor.key)
                    .bind(request_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(n == 1)
        }
    }
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
        let mut own: Vec<(Uuid, i64, bool)> = models
            .iter()
            .enumerate()
            .filter(|(i, _)| i % workers == w)
            .map(|(_, m)| *m)
            .collect();
        let pool = Arc::clone(&pool);
        let actor = actor.clone();
        tasks.push(tokio::spawn(async move {
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
            anyhow::Ok((stats, last))
        }));
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
