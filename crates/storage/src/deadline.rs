//! Client-side deadlines on database statements.
//!
//! The server's `statement_timeout` cuts off a statement the server is running, but nothing on
//! the server's side helps when the connection itself stops carrying bytes without closing (a
//! failover, a NAT or firewall that dropped its state): the client then waits for an answer that
//! never comes. So every statement that must not wait forever runs under a deadline of its own.
//!
//! A statement that misses its deadline is dropped, and its connection is in an unknown state (a
//! reply may still be on its way, or never come). On PostgreSQL the store keeps its connections
//! itself ([`crate::kept`]) and closes such a one at once, so a dead connection never keeps a
//! slot, and nothing done on a connection (handing it back included) waits without a deadline.
//! A SQLite connection is a thread on a local file; one that missed its deadline is stuck in
//! the file system, and a fresh connection could not write while it holds the file's lock, so
//! it is left to sqlx, which rolls it back and returns it when the file system answers (until
//! then the writer's pool has no free connection and writes answer `Unavailable`).
//!
//! Either way the caller gets [`StorageError::Unavailable`]: the outcome of a write that timed
//! out is unknown (it may have committed just before the connection died).

use std::future::Future;
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};

use crate::error::StorageError;
use crate::kept::Kept;

/// The error for a statement that did not answer within `limit` (a connection error, so that
/// [`classify`](crate::error::classify) makes it [`StorageError::Unavailable`]).
pub(crate) fn late(limit: Duration) -> DbErr {
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

/// A database handle whose every statement has a client-side deadline (`limit`): on SQLite a
/// pool's statement under [`within_db`], on PostgreSQL a statement on a connection the store
/// keeps ([`Kept`]), whose deadline also decides what becomes of the connection. The sea-orm
/// pool itself is reached only by name ([`Bounded::pool`]), so that no statement reaches it by
/// accident.
#[derive(Clone)]
pub(crate) struct Bounded {
    db: DatabaseConnection,
    limit: Duration,
    kept: Option<Kept>,
}

impl Bounded {
    /// Statements on the pool `db`, each within `limit`.
    pub(crate) fn new(db: DatabaseConnection, limit: Duration) -> Self {
        Self {
            db,
            limit,
            kept: None,
        }
    }

    /// Statements on `kept` connections, each within `limit`; `db` for the rest.
    pub(crate) fn kept(db: DatabaseConnection, kept: Kept, limit: Duration) -> Self {
        Self {
            db,
            limit,
            kept: Some(kept),
        }
    }

    /// The sea-orm pool, without the deadline: migrations, closing, SQLite's own pools and
    /// transactions. On PostgreSQL it holds one connection, for the migrations.
    pub(crate) fn pool(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Each statement's deadline.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// The kept connections statements run on (PostgreSQL).
    pub(crate) fn connections(&self) -> Option<&Kept> {
        self.kept.as_ref()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Bounded {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.kept {
            Some(kept) => kept.execute(&stmt, self.limit).await,
            None => within_db(self.limit, self.db.execute_raw(stmt)).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.kept {
            Some(kept) => kept.execute_unprepared(sql, self.limit).await,
            None => within_db(self.limit, self.db.execute_unprepared(sql)).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => kept.fetch_optional(&stmt, self.limit).await,
            None => within_db(self.limit, self.db.query_one_raw(stmt)).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => kept.fetch_all(&stmt, self.limit).await,
            None => within_db(self.limit, self.db.query_all_raw(stmt)).await,
        }
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
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
