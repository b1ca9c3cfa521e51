//! Reading the share-events outbox, gap-free whatever order transactions commit in.
//!
//! On SQLite one writer commits at a time and an event's id is handed out inside its
//! transaction, so ids are in commit order: reading `id > last` never misses a commit. On
//! PostgreSQL ids are handed out at insert time, so a transaction can commit an event whose id
//! is lower than ids already read. Each event therefore records its transaction (`tx`), and
//! [`Store::outbox_horizon`] tells the oldest transaction still running: every event whose
//! `tx` is below it is final (its transaction has ended), and no event below it can appear
//! later. A tail reads new ids for speed ([`Store::outbox_after_id`]) and, to be sure, every
//! final event in `(tx, id)` order exactly once ([`Store::outbox_final_after`]).

use domain::{ModelId, Timestamp};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};

use super::to_ts;
use crate::error::{StorageError, classify};
use crate::{Backend, Store};

/// What a tail needs of one share event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    /// The writing transaction (PostgreSQL); 0 on SQLite.
    pub tx: i64,
    pub model_id: ModelId,
    pub at: Timestamp,
}

/// A position in the `(tx, id)` order of final events; reads continue strictly after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutboxCursor {
    pub tx: i64,
    pub id: i64,
}

impl OutboxCursor {
    /// Before every event of transaction `tx` and of any later one.
    pub fn before_tx(tx: i64) -> Self {
        Self {
            tx: tx.saturating_sub(1),
            id: i64::MAX,
        }
    }

    pub fn at(event: &OutboxEvent) -> Self {
        Self {
            tx: event.tx,
            id: event.id,
        }
    }
}

/// What a tail reads of a share event.
const COLUMNS: &str = "id, tx, model_id, at";

/// The fast read of an outbox table (`share_events`, `standing_events`): rows with
/// `id > after_id`, by id.
pub(crate) fn after_id_statement(
    backend: DbBackend,
    columns: &str,
    table: &str,
    after_id: i64,
    limit: u64,
) -> Statement {
    let (first, second) = match backend {
        DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let sql =
        format!("SELECT {columns} FROM {table} WHERE id > {first} ORDER BY id LIMIT {second}");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(backend, sql, [after_id.into(), limit.into()])
}

/// The final read of an outbox table (PostgreSQL): rows after `after` in `(tx, id)` order
/// whose transaction is below `horizon`.
pub(crate) fn final_after_statement(
    columns: &str,
    table: &str,
    after: OutboxCursor,
    horizon: i64,
    limit: u64,
) -> Statement {
    let sql = format!(
        "SELECT {columns} FROM {table} \
         WHERE (tx, id) > ($1, $2) AND tx < $3 ORDER BY tx, id LIMIT $4"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            after.tx.into(),
            after.id.into(),
            horizon.into(),
            limit.into(),
        ],
    )
}

fn outbox_event(row: &QueryResult) -> Result<OutboxEvent, StorageError> {
    Ok(OutboxEvent {
        id: row.try_get("", "id").map_err(classify)?,
        tx: row.try_get("", "tx").map_err(classify)?,
        model_id: ModelId::from_uuid(row.try_get("", "model_id").map_err(classify)?),
        at: to_ts(row.try_get("", "at").map_err(classify)?),
    })
}

impl Store {
    /// PostgreSQL: the oldest transaction still running (`pg_snapshot_xmin`); every event whose
    /// `tx` is below it is final. `None` on SQLite, where every visible event is final.
    pub async fn outbox_horizon(&self) -> Result<Option<i64>, StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon";
        let row = self
            .reader
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("snapshot horizon"))?;
        row.try_get("", "horizon").map(Some).map_err(classify)
    }

    /// Visible events with `id > after_id`, by id.
    pub async fn outbox_after_id(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<OutboxEvent>, StorageError> {
        let statement = after_id_statement(
            self.reader.get_database_backend(),
            COLUMNS,
            "share_events",
            after_id,
            limit,
        );
        self.outbox_events(statement).await
    }

    /// Final events after `after` in `(tx, id)` order: those whose transaction is below
    /// `horizon` (see [`Store::outbox_horizon`]). PostgreSQL only; empty on SQLite.
    pub async fn outbox_final_after(
        &self,
        after: OutboxCursor,
        horizon: i64,
        limit: u64,
    ) -> Result<Vec<OutboxEvent>, StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let statement = final_after_statement(COLUMNS, "share_events", after, horizon, limit);
        self.outbox_events(statement).await
    }

    async fn outbox_events(&self, statement: Statement) -> Result<Vec<OutboxEvent>, StorageError> {
        self.reader
            .query_all_raw(statement)
            .await
            .map_err(classify)?
            .iter()
            .map(outbox_event)
            .collect()
    }

    /// Every shared model's id and version, for reconciling a catalog with the database.
    pub async fn shared_model_versions(&self) -> Result<Vec<(ModelId, i64)>, StorageError> {
        // In no order: the caller looks them up. Sorting a million rows took SQLite seconds,
        // reading them half a second.
        self.ids_with("SELECT id, version AS n FROM models WHERE shared")
            .await
    }

    /// The database's identity token (see the `database_identity` migration).
    pub async fn database_identity(&self) -> Result<String, StorageError> {
        let backend = self.reader.get_database_backend();
        let statement =
            Statement::from_string(backend, "SELECT token FROM database_identity WHERE id = 1");
        let row = self
            .reader
            .query_one_raw(statement)
            .await
            .map_err(classify)?
            .ok_or_else(|| {
                StorageError::Unavailable(sea_orm::DbErr::RecordNotFound(
                    "database_identity".into(),
                ))
            })?;
        row.try_get("", "token").map_err(classify)
    }

    /// How many endpoints each shared model has, for the models that have any.
    pub async fn shared_endpoint_counts(&self) -> Result<Vec<(ModelId, i64)>, StorageError> {
        self.ids_with(
            "SELECT e.model_id AS id, COUNT(*) AS n FROM endpoints e \
             JOIN models m ON m.id = e.model_id WHERE m.shared GROUP BY e.model_id",
        )
        .await
    }

    /// Each row's model `id` and number `n`, of `sql` on the reader.
    async fn ids_with(&self, sql: &str) -> Result<Vec<(ModelId, i64)>, StorageError> {
        let statement = Statement::from_string(self.reader.get_database_backend(), sql);
        self.reader
            .query_all_raw(statement)
            .await
            .map_err(classify)?
            .iter()
            .map(|row| {
                let id = row.try_get("", "id").map_err(classify)?;
                let n = row.try_get("", "n").map_err(classify)?;
                Ok((ModelId::from_uuid(id), n))
            })
            .collect()
    }
}
