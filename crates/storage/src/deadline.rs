//! Client-side deadlines on database statements.
//!
//! The server's `statement_timeout` cuts off a statement the server is running, but nothing on
//! the server's side helps when the connection itself stops carrying bytes without closing (a
//! failover, a NAT or firewall that dropped its state): the client then waits for an answer that
//! never comes. So every statement that must not wait forever runs under a deadline of its own.
//!
//! A connection that missed its deadline is in an unknown state (a reply may still be on its
//! way, or never come), so on PostgreSQL it is taken from the pool explicitly and, on expiry,
//! detached and closed: returning it would make the pool test it with a ping that has no
//! deadline either, which would hold that pool slot for as long as the connection stays dead.
//! A SQLite connection is a thread on a local file; one that missed its deadline is stuck in
//! the file system, and a fresh connection could not write while it holds the file's lock, so
//! it is left to sqlx, which rolls it back and returns it when the file system answers (until
//! then the writer's pool has no free connection and writes answer `Unavailable`).
//!
//! Either way the caller gets [`StorageError::Unavailable`]: the outcome of a write that timed
//! out is unknown (it may have committed just before the connection died).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgArguments, PgPool};
use sea_orm::sqlx::{self, Arguments as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, Value,
};

use crate::error::{StorageError, classify};

/// The error for a statement that did not answer within `limit` (a connection error, so that
/// [`classify`] makes it [`StorageError::Unavailable`]).
fn late(limit: Duration) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!(
        "the database did not answer within {} ms",
        limit.as_millis()
    )))
}

/// The error for a statement that did not answer within `limit`.
pub(crate) fn timed_out(limit: Duration) -> StorageError {
    StorageError::Unavailable(late(limit))
}

/// `work`, or [`timed_out`] if it has not finished after `limit` (`work` is then dropped).
pub(crate) async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(timed_out(limit)))
}

/// Like [`within`], for sea-orm's errors.
pub(crate) async fn within_db<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(late(limit)))
}

/// A connection of its own from `pool` (waiting at most the pool's acquire timeout) for `run`,
/// given at most `limit`. On expiry the connection is detached and closed, never returned to
/// the pool.
async fn on_own_connection<T, F>(pool: &PgPool, limit: Duration, run: F) -> Result<T, DbErr>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::PgConnection,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>,
    >,
{
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
    match tokio::time::timeout(limit, run(&mut conn)).await {
        Ok(done) => done.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))),
        Err(_) => {
            // Dropping the detached connection closes its socket; the pool opens a new one.
            drop(conn.detach());
            Err(late(limit))
        }
    }
}

/// Closes the SQLite connection `pool` holds (the writer's only one), waiting at most `limit` for
/// it to come back to the pool, so that the next write opens a fresh one. After a failed write
/// transaction the connection's transaction state is unknown: SQLite may have rolled back on its
/// own (`SQLITE_FULL`, `SQLITE_IOERR`) or kept the transaction open after a failed `COMMIT`,
/// while sqlx still counts it as open, and then sea-orm would run the next transaction as a
/// `SAVEPOINT` inside the leftover one: "committed", answered, and never durable. Closing the
/// connection rolls back whatever is open.
pub(crate) async fn discard_sqlite_connection(pool: &sqlx::SqlitePool, limit: Duration) {
    match tokio::time::timeout(limit, pool.acquire()).await {
        Ok(Ok(conn)) => drop(conn.detach()),
        Ok(Err(err)) => tracing::debug!(error = %err, "no writer connection to discard"),
        Err(_) => tracing::debug!("the writer connection did not come back to be discarded"),
    }
}

/// `statement`'s rows, on a connection of its own from `pool`, within `limit`.
async fn postgres_fetch(
    pool: &PgPool,
    statement: &Statement,
    limit: Duration,
) -> Result<Vec<QueryResult>, DbErr> {
    let arguments = postgres_arguments(statement)?;
    let sql = statement.sql.clone();
    let rows = on_own_connection(pool, limit, move |conn| {
        Box::pin(async move {
            sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
                .fetch_all(conn)
                .await
        })
    })
    .await?;
    Ok(rows.into_iter().map(QueryResult::from).collect())
}

/// `statement` executed on a connection of its own from `pool`, within `limit`.
async fn postgres_execute(
    pool: &PgPool,
    statement: &Statement,
    limit: Duration,
) -> Result<ExecResult, DbErr> {
    let arguments = postgres_arguments(statement)?;
    let sql = statement.sql.clone();
    let done = on_own_connection(pool, limit, move |conn| {
        Box::pin(async move {
            sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
                .execute(conn)
                .await
        })
    })
    .await?;
    Ok(done.into())
}

/// Runs `statement` on a connection taken from `pool` for it alone, waiting at most `limit`
/// for its rows; on expiry the connection is closed and the error is [`timed_out`].
pub(crate) async fn postgres_query(
    pool: &PgPool,
    statement: &Statement,
    limit: Duration,
) -> Result<Vec<QueryResult>, StorageError> {
    postgres_fetch(pool, statement, limit)
        .await
        .map_err(classify)
}

/// A pool whose every statement has a client-side deadline (`limit`), the same way as
/// [`postgres_query`] on PostgreSQL; everything else (pool statistics, closing) is the pool's
/// own, through `Deref`. The store's readers are one: a read that would wait forever on a dead
/// connection answers `Unavailable` instead, and does not leave its pool slot behind.
#[derive(Clone)]
pub(crate) struct Bounded {
    db: DatabaseConnection,
    limit: Duration,
}

impl Bounded {
    pub(crate) fn new(db: DatabaseConnection, limit: Duration) -> Self {
        Self { db, limit }
    }

    fn postgres(&self) -> Option<&PgPool> {
        (self.db.get_database_backend() == DbBackend::Postgres)
            .then(|| self.db.get_postgres_connection_pool())
    }
}

impl Deref for Bounded {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.db
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Bounded {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.postgres() {
            Some(pool) => postgres_execute(pool, &stmt, self.limit).await,
            None => within_db(self.limit, self.db.execute_raw(stmt)).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        within_db(self.limit, self.db.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.postgres() {
            Some(pool) => Ok(postgres_fetch(pool, &stmt, self.limit)
                .await?
                .into_iter()
                .next()),
            None => within_db(self.limit, self.db.query_one_raw(stmt)).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.postgres() {
            Some(pool) => postgres_fetch(pool, &stmt, self.limit).await,
            None => within_db(self.limit, self.db.query_all_raw(stmt)).await,
        }
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}

/// The statement's values as PostgreSQL arguments (the kinds the service's statements use).
fn postgres_arguments(statement: &Statement) -> Result<PgArguments, DbErr> {
    let mut args = PgArguments::default();
    for value in statement.values.iter().flat_map(|v| v.0.iter()) {
        let added = match value {
            Value::Bool(v) => args.add(*v),
            Value::TinyInt(v) => args.add(v.map(i16::from)),
            Value::SmallInt(v) => args.add(*v),
            Value::Int(v) => args.add(*v),
            Value::BigInt(v) => args.add(*v),
            Value::TinyUnsigned(v) => args.add(v.map(i16::from)),
            Value::SmallUnsigned(v) => args.add(v.map(i32::from)),
            Value::Unsigned(v) => args.add(v.map(i64::from)),
            Value::BigUnsigned(v) => {
                let v = v
                    .map(i64::try_from)
                    .transpose()
                    .map_err(|e| DbErr::Custom(format!("parameter out of range: {e}")))?;
                args.add(v)
            }
            Value::Float(v) => args.add(*v),
            Value::Double(v) => args.add(*v),
            Value::String(v) => args.add(v.as_deref()),
            Value::Char(v) => args.add(v.map(String::from)),
            Value::Bytes(v) => args.add(v.as_deref()),
            Value::Json(v) => args.add(v.as_deref()),
            Value::Uuid(v) => args.add(*v),
            Value::ChronoDate(v) => args.add(*v),
            Value::ChronoDateTime(v) => args.add(*v),
            Value::ChronoDateTimeUtc(v) => args.add(*v),
            Value::ChronoDateTimeWithTimeZone(v) => args.add(*v),
            other => {
                return Err(DbErr::Custom(format!(
                    "no PostgreSQL binding for the parameter {other:?}"
                )));
            }
        };
        added.map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn work_past_its_deadline_is_unavailable() {
        let err = within(Duration::from_millis(10), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert_eq!(
            within(Duration::from_secs(5), async { Ok(7) })
                .await
                .unwrap(),
            7
        );
    }
}
