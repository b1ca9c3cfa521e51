//! The databases the scenarios run on: a fresh one per scenario (a file in its temp directory, or a
//! new PostgreSQL database dropped afterwards), a sqlx pool with the service's settings, and the
//! reads the scenarios check with (model ids and states, a model's share events). Bulk seeding is
//! in [`seed`], the sqlx share-toggle baseline in [`baseline`].

mod baseline;
mod seed;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
// Every dynamic statement below is built from generated names, never from outside input.
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, Row};
use uuid::Uuid;

pub use baseline::{Actor, toggle_baseline};

/// The database a scenario runs on (`--db`; each scenario runs on each one chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    /// Its name in logs, tables and results.
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
