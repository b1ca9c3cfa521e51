//! The standing outbox: what a key may do changed (a key revoked, a membership given, changed
//! or taken away, an account's feature switched).
//!
//! Every such change writes a row of `standing_events` in its own transaction; key caches read
//! the rows gap-free (the share-events outbox's scheme: new ids, then on PostgreSQL final rows in
//! `(tx, id)` order below the oldest running transaction) and forget what the row names. On
//! PostgreSQL the transaction also sends `NOTIFY` on [`STANDING_CHANNEL`], delivered when it
//! commits, so other instances read at once; on SQLite their watchers see the file change.
//!
//! The process that makes the change tells its own caches before the call returns (see
//! [`Store::on_standing_change`]): a revoked key never works again where it was revoked.

use std::sync::{Arc, PoisonError, RwLock};

use domain::{AccountId, ApiKeyId, ProjectId, UserId, now};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::outbox::{OutboxCursor, after_id_statement, final_after_statement};
use super::{WriteTx, project_id, to_dt};
use crate::error::{StorageError, classify, corrupt};
use crate::{Backend, Store};

/// The PostgreSQL channel a standing change is announced on.
pub(crate) const STANDING_CHANNEL: &str = "modelshare_standing";

/// What a standing change is about; caches forget every key it may concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandingChange {
    /// This key was revoked.
    Key(ApiKeyId),
    /// This user's role in this project was given, changed or taken away.
    Membership {
        project_id: ProjectId,
        user_id: UserId,
    },
    /// One of this account's features was switched on or off.
    Account(AccountId),
}

/// One row of the standing outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingEvent {
    pub id: i64,
    /// The writing transaction (PostgreSQL); 0 on SQLite.
    pub tx: i64,
    pub change: StandingChange,
}

impl StandingEvent {
    pub fn cursor(&self) -> OutboxCursor {
        OutboxCursor {
            tx: self.tx,
            id: self.id,
        }
    }
}

type Listener = Arc<dyn Fn(&StandingChange) + Send + Sync>;

/// Who in this process hears of a standing change made through this store.
#[derive(Default)]
pub(crate) struct StandingListeners(RwLock<Vec<Listener>>);

impl StandingListeners {
    fn tell(&self, change: &StandingChange) {
        let listeners = self.0.read().unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.iter() {
            listener(change);
        }
    }
}

/// Writes the row for `change` (and on PostgreSQL its `NOTIFY`) inside `tx`.
pub(crate) async fn record_standing(
    tx: &WriteTx,
    change: &StandingChange,
) -> Result<(), StorageError> {
    let backend = tx.get_database_backend();
    let (key, project, user, account): (Value, Value, Value, Value) = match change {
        StandingChange::Key(id) => (
            Some(id.as_uuid()).into(),
            None::<String>.into(),
            None::<uuid::Uuid>.into(),
            None::<uuid::Uuid>.into(),
        ),
        StandingChange::Membership {
            project_id,
            user_id,
        } => (
            None::<uuid::Uuid>.into(),
            Some(project_id.as_str().to_owned()).into(),
            Some(user_id.as_uuid()).into(),
            None::<uuid::Uuid>.into(),
        ),
        StandingChange::Account(id) => (
            None::<uuid::Uuid>.into(),
            None::<String>.into(),
            None::<uuid::Uuid>.into(),
            Some(id.as_uuid()).into(),
        ),
    };
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO standing_events (key_id, project_id, user_id, account_id, at) \
             VALUES ($1, $2, $3, $4, $5)"
        }
        _ => {
            "INSERT INTO standing_events (key_id, project_id, user_id, account_id, at) \
             VALUES (?, ?, ?, ?, ?)"
        }
    };
    let at: Value = to_dt(now()).into();
    tx.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [key, project, user, account, at],
    ))
    .await
    .map_err(classify)?;
    if backend == DbBackend::Postgres {
        // Delivered when (and only if) the transaction commits. Standing changes are rare: one
        // notification each costs nothing next to the commit.
        tx.execute_unprepared(&format!("SELECT pg_notify('{STANDING_CHANNEL}', '')"))
            .await
            .map_err(classify)?;
    }
    Ok(())
}

fn standing_event(row: &QueryResult) -> Result<StandingEvent, StorageError> {
    let id: i64 = row.try_get("", "id").map_err(classify)?;
    let tx: i64 = row.try_get("", "tx").map_err(classify)?;
    let key: Option<uuid::Uuid> = row.try_get("", "key_id").map_err(classify)?;
    let project: Option<String> = row.try_get("", "project_id").map_err(classify)?;
    let user: Option<uuid::Uuid> = row.try_get("", "user_id").map_err(classify)?;
    let account: Option<uuid::Uuid> = row.try_get("", "account_id").map_err(classify)?;
    let change = match (key, project, user, account) {
        (Some(key), None, None, None) => StandingChange::Key(ApiKeyId::from_uuid(key)),
        (None, Some(project), Some(user), None) => StandingChange::Membership {
            project_id: project_id(&project)?,
            user_id: UserId::from_uuid(user),
        },
        (None, None, None, Some(account)) => StandingChange::Account(AccountId::from_uuid(account)),
        _ => return Err(corrupt(format!("standing event {id} names no one change"))),
    };
    Ok(StandingEvent { id, tx, change })
}

const COLUMNS: &str = "id, tx, key_id, project_id, user_id, account_id";

impl Store {
    /// Calls `listener` with every standing change made through this store (or a clone of it),
    /// after it commits and before the call that made it returns.
    pub fn on_standing_change(&self, listener: impl Fn(&StandingChange) + Send + Sync + 'static) {
        self.standing_listeners
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(listener));
    }

    /// Tells this process's listeners; call after the change committed.
    pub(crate) fn standing_changed(&self, change: &StandingChange) {
        self.standing_listeners.tell(change);
    }

    /// The highest standing-event id visible now (0 when there is none).
    pub async fn standing_newest_id(&self) -> Result<i64, StorageError> {
        let statement = Statement::from_string(
            self.reader.get_database_backend(),
            "SELECT COALESCE(MAX(id), 0) AS newest FROM standing_events",
        );
        let row = self
            .reader
            .query_one_raw(statement)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("standing events"))?;
        row.try_get("", "newest").map_err(classify)
    }

    /// Visible standing events with `id > after_id`, by id.
    pub async fn standing_after_id(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<StandingEvent>, StorageError> {
        let statement = after_id_statement(
            self.reader.get_database_backend(),
            COLUMNS,
            "standing_events",
            after_id,
            limit,
        );
        self.standing_events(statement).await
    }

    /// Final standing events after `after` in `(tx, id)` order: those whose transaction is below
    /// `horizon` ([`Store::outbox_horizon`]). PostgreSQL only; empty on SQLite.
    pub async fn standing_final_after(
        &self,
        after: OutboxCursor,
        horizon: i64,
        limit: u64,
    ) -> Result<Vec<StandingEvent>, StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let statement = final_after_statement(COLUMNS, "standing_events", after, horizon, limit);
        self.standing_events(statement).await
    }

    async fn standing_events(
        &self,
        statement: Statement,
    ) -> Result<Vec<StandingEvent>, StorageError> {
        self.reader
            .query_all_raw(statement)
            .await
            .map_err(classify)?
            .iter()
            .map(standing_event)
            .collect()
    }
}
