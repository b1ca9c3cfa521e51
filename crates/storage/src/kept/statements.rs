//! Statements and transactions on a [`Lease`]: each under its deadline, bound with sea-query's
//! sqlx values (as sea-orm binds them), rows handed back as sea-orm [`QueryResult`]s.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{self, Executor as _};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement, Values,
};
use sea_query_sqlx::SqlxValues;

use super::Lease;
use crate::deadline::late;

impl Lease {
    /// `work` on the connection within `limit`. On an answer the connection stays in the lease
    /// (for [`Lease::keep`]); when the conversation is no longer intact (no answer in time, an
    /// error on the wire) it is closed, and the lease is empty from then on.
    pub(super) async fn run<T>(
        &mut self,
        limit: Duration,
        work: impl for<'a> FnOnce(&'a mut PgConnection) -> BoxFuture<'a, Result<T, sqlx::Error>>,
    ) -> Result<T, DbErr> {
        let outcome = tokio::time::timeout(limit, work(self.raw()?)).await;
        match outcome {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(err)) => {
                if !intact(&err) {
                    self.conn = None;
                }
                Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(err))))
            }
            Err(_) => {
                self.conn = None;
                Err(late(limit))
            }
        }
    }
}

impl Lease {
    pub(super) async fn fetch_all(
        &mut self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self
            .run(limit, |raw| Box::pin(query(statement).fetch_all(raw)))
            .await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    pub(super) async fn fetch_optional(
        &mut self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<Option<QueryResult>, DbErr> {
        let row = self
            .run(limit, |raw| Box::pin(query(statement).fetch_optional(raw)))
            .await?;
        Ok(row.map(QueryResult::from))
    }

    pub(super) async fn execute(
        &mut self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<ExecResult, DbErr> {
        let done = self
            .run(limit, |raw| Box::pin(query(statement).execute(raw)))
            .await?;
        Ok(done.into())
    }

    pub(super) async fn execute_unprepared(
        &mut self,
        sql: &str,
        limit: Duration,
    ) -> Result<ExecResult, DbErr> {
        let done = self.run(limit, |raw| raw.execute(raw_sql(sql))).await?;
        Ok(done.into())
    }
}

/// Whether the conversation on a connection is intact after `err`: the server answered with an
/// error that does not mean it is going away.
fn intact(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| !crate::error::pg_state_unavailable(pg.code())),
        _ => false,
    }
}

/// The statement as sqlx's query, with sea-query's values bound the way sea-orm binds them.
fn query(statement: &Statement) -> sqlx::query::Query<'static, sqlx::Postgres, SqlxValues> {
    let values = statement.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(
        sqlx::AssertSqlSafe(statement.sql.clone()),
        SqlxValues(values),
    )
}

fn raw_sql(sql: &str) -> sqlx::RawSql {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
}

/// A transaction on a connection of its own ([`Kept::begin`]). Dropped without
/// [`KeptTransaction::commit`] or [`KeptTransaction::rollback`], its connection is closed, which
/// rolls it back.
pub(crate) struct KeptTransaction {
    pub(super) lease: tokio::sync::Mutex<Lease>,
    pub(super) limit: Duration,
}

impl KeptTransaction {
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.end("COMMIT").await
    }

    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        self.end("ROLLBACK").await
    }

    async fn end(self, how: &'static str) -> Result<(), DbErr> {
        let mut lease = self.lease.into_inner();
        lease.run(self.limit, |raw| raw.execute(how)).await?;
        lease.keep();
        Ok(())
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for KeptTransaction {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.lease.lock().await.execute(&stmt, self.limit).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.lease
            .lock()
            .await
            .execute_unprepared(sql, self.limit)
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.lease
            .lock()
            .await
            .fetch_optional(&stmt, self.limit)
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.lease.lock().await.fetch_all(&stmt, self.limit).await
    }

    fn support_returning(&self) -> bool {
        true
    }
}
