//! Repositories: inherent `async` methods on [`Store`](crate::Store) that speak domain types.
//! Writes go through the writer (one connection on SQLite), reads through the reader pool.

mod accounts;
mod catalog;
mod endpoints;
mod events;
mod group_commit;
mod idempotency;
mod keys;
mod models;
mod outbox;
mod schedules;
mod sharing;
mod standing;
mod webhooks;

pub use catalog::Loaded;
pub use idempotency::{Claimed, IdempotencyClaim, StoredResponse};
pub use outbox::{OutboxCursor, OutboxEvent};
pub use standing::{StandingChange, StandingEvent};

pub(crate) use group_commit::GroupCommit;
pub(crate) use idempotency::IdempotencyLane;
pub(crate) use standing::{STANDING_CHANNEL, StandingListeners};

use chrono::{DateTime, Utc};
use domain::{AccountId, ProjectId, Timestamp};
use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, ExecResult,
    IdenStatic, Iterable, QueryFilter, QueryOrder, QueryResult, QuerySelect, Select,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::Store;
use crate::deadline::Bounded;
use crate::entities::{account_features, accounts as account_rows, projects};
use crate::error::{StorageError, classify, corrupt};
use crate::kept::KeptTransaction;
use crate::records::{Account, FeatureName, Page, Project};

pub(crate) fn to_ts(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(at)
}

pub(crate) fn to_dt(at: Timestamp) -> DateTime<Utc> {
    at.as_datetime()
}

pub(crate) fn project_id(raw: &str) -> Result<ProjectId, StorageError> {
    ProjectId::parse(raw).map_err(|e| corrupt(format!("stored project id {raw:?}: {e}")))
}

/// `query` newest first, by `(created, id)` descending, after the keyset cursor `after` (the
/// creation time and id of the previous page's last row).
pub(crate) fn newest_first<E: EntityTrait>(
    query: Select<E>,
    created: E::Column,
    id: E::Column,
    after: Option<(Timestamp, uuid::Uuid)>,
) -> Select<E> {
    let query = match after {
        Some((at, last)) => {
            let at = to_dt(at);
            query.filter(
                Condition::any()
                    .add(created.lt(at))
                    .add(Condition::all().add(created.eq(at)).add(id.lt(last))),
            )
        }
        None => query,
    };
    query.order_by_desc(created).order_by_desc(id)
}

impl Store {
    /// One page of `query` (filtered and ordered): at most `limit` rows read through the
    /// readers, each made a record by `record`, and whether more follow.
    pub(crate) async fn read_page<E: EntityTrait, T>(
        &self,
        query: Select<E>,
        limit: u64,
        record: impl Fn(E::Model) -> Result<T, StorageError>,
    ) -> Result<Page<T>, StorageError> {
        let rows = query
            .limit(limit.saturating_add(1))
            .all(&self.reader)
            .await
            .map_err(classify)?;
        let items = rows
            .into_iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, limit))
    }
}

/// Cuts a `limit + 1` fetch down to a page.
pub(crate) fn page<T>(mut items: Vec<T>, limit: u64) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = items.len() > limit;
    items.truncate(limit);
    Page { items, has_more }
}

/// Adds every column of `E` to `select`, aliased `{prefix}{column}`, so that
/// `E::Model::from_query_result(row, prefix)` can read it back from a join.
pub(crate) fn select_prefixed<E: EntityTrait + Default>(
    select: &mut SelectStatement,
    table: &str,
    prefix: &str,
) {
    for column in E::Column::iter() {
        select.expr_as(
            Expr::col((Alias::new(table), Alias::new(column.as_str()))),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

pub(crate) fn project_record(row: projects::Model) -> Result<Project, StorageError> {
    Ok(Project {
        id: project_id(&row.id)?,
        account_id: AccountId::from_uuid(row.account_id),
        slug: domain::ProjectSlug::parse(&row.slug)
            .map_err(|e| corrupt(format!("stored project slug {:?}: {e}", row.slug)))?,
        name: row.name,
        created_at: to_ts(row.created_at),
    })
}

pub(crate) fn account_record(
    row: account_rows::Model,
    features: Vec<account_features::Model>,
) -> Account {
    Account {
        id: AccountId::from_uuid(row.id),
        name: row.name,
        features: features
            .into_iter()
            .map(|f| FeatureName(f.feature))
            .collect(),
        created_at: to_ts(row.created_at),
    }
}

impl Store {
    /// A transaction on the writer. On SQLite it is `BEGIN IMMEDIATE`: it takes the file's write
    /// lock up front (waiting up to the busy timeout if another process holds it), so a
    /// read-then-write inside it can never fail to upgrade its lock halfway.
    pub(crate) async fn write_tx(&self) -> Result<WriteTx, StorageError> {
        write_tx_on(&self.writer).await
    }
}

/// A write transaction: sea-orm's on SQLite (`BEGIN IMMEDIATE` on the writer), one on a kept
/// connection on PostgreSQL, each of whose statements runs under the statement deadline.
pub(crate) enum WriteTx {
    Pool(DatabaseTransaction),
    Kept(KeptTransaction),
}

/// [`Store::write_tx`] on a given writer.
pub(crate) async fn write_tx_on(writer: &Bounded) -> Result<WriteTx, StorageError> {
    if let Some(kept) = writer.connections() {
        return kept
            .begin(writer.limit())
            .await
            .map(WriteTx::Kept)
            .map_err(classify);
    }
    let options = TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    writer
        .pool()
        .begin_with_options(options)
        .await
        .map(WriteTx::Pool)
        .map_err(classify)
}

/// Commits, sorting the error.
pub(crate) async fn commit(tx: WriteTx) -> Result<(), StorageError> {
    match tx {
        WriteTx::Pool(tx) => tx.commit().await,
        WriteTx::Kept(tx) => tx.commit().await,
    }
    .map_err(classify)
}

/// Ends `tx` as `written` says: committed (and `written`'s value returned) when it holds one,
/// else rolled back (a failed rollback only logged) and its error returned.
pub(crate) async fn commit_or_roll_back<T>(
    tx: WriteTx,
    written: Result<T, StorageError>,
) -> Result<T, StorageError> {
    match written {
        Ok(value) => {
            commit(tx).await?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rollback failed");
            }
            Err(err)
        }
    }
}

impl WriteTx {
    pub(crate) async fn rollback(self) -> Result<(), StorageError> {
        match self {
            WriteTx::Pool(tx) => tx.rollback().await,
            WriteTx::Kept(tx) => tx.rollback().await,
        }
        .map_err(classify)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        match self {
            WriteTx::Pool(tx) => tx.get_database_backend(),
            WriteTx::Kept(tx) => tx.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            WriteTx::Pool(tx) => tx.execute_raw(stmt).await,
            WriteTx::Kept(tx) => tx.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            WriteTx::Pool(tx) => tx.execute_unprepared(sql).await,
            WriteTx::Kept(tx) => tx.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            WriteTx::Pool(tx) => tx.query_one_raw(stmt).await,
            WriteTx::Kept(tx) => tx.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            WriteTx::Pool(tx) => tx.query_all_raw(stmt).await,
            WriteTx::Kept(tx) => tx.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            WriteTx::Pool(tx) => tx.support_returning(),
            WriteTx::Kept(tx) => tx.support_returning(),
        }
    }
}

/// Reads the account and its features through `db` (two queries).
pub(crate) async fn load_account<C: ConnectionTrait>(
    db: &C,
    id: AccountId,
) -> Result<Option<Account>, StorageError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let Some(row) = account_rows::Entity::find_by_id(id.as_uuid())
        .one(db)
        .await
        .map_err(classify)?
    else {
        return Ok(None);
    };
    let features = account_features::Entity::find()
        .filter(account_features::Column::AccountId.eq(id.as_uuid()))
        .order_by_asc(account_features::Column::Feature)
        .all(db)
        .await
        .map_err(classify)?;
    Ok(Some(account_record(row, features)))
}

/// What the storage unit tests set up: a fresh SQLite store with one project, and its models.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use domain::{ModelId, ModelStatus, ProjectId, ProjectSlug};

    use crate::connect::sqlite_test_settings;
    use crate::{Model, NewModel, NewProject, SqliteSynchronous, Store};

    /// A migrated store in `dir` with the project `proj_TEST01`.
    pub(crate) async fn store_with_project(dir: &tempfile::TempDir) -> (Store, ProjectId) {
        let settings = sqlite_test_settings(&dir.path().join("t.db"), SqliteSynchronous::Full);
        let store = Store::connect(&settings).await.unwrap();
        store.migrate().await.unwrap();
        let account = store.create_account("Acme", &[]).await.unwrap();
        let project = store
            .create_project(NewProject {
                id: ProjectId::parse("proj_TEST01").unwrap(),
                account_id: account.id,
                slug: ProjectSlug::parse("test").unwrap(),
                name: "Test".into(),
            })
            .await
            .unwrap();
        (store, project.id)
    }

    /// A `ready` model named `m{i}` with `i` parameters and the tag `t{i}`.
    pub(crate) async fn model(store: &Store, project: &ProjectId, i: i64) -> Model {
        store
            .create_model(NewModel {
                id: ModelId::new(),
                project_id: project.clone(),
                name: format!("m{i}"),
                description: "d".into(),
                status: ModelStatus::Ready,
                architecture: None,
                parameter_count: Some(i),
                context_length: None,
                license: None,
                tags: vec![format!("t{i}")],
            })
            .await
            .unwrap()
    }
}
