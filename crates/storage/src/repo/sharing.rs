//! Share/unshare transitions and the share-events outbox.

use domain::{AccountId, ApiKeyId, ModelId, ShareAction, UserId};
use std::collections::HashMap;

use super::{commit, model_record, page, project_id, to_dt, to_ts, write_tx_on};
use crate::connect::Deadlines;
use crate::deadline::{discard_sqlite_connection, postgres_query, within};
use crate::entities::{models, projects, share_events};
use crate::error::{StorageError, classify, corrupt};
use crate::records::{Page, ShareEvent, Transition, TransitionOutcome};
use crate::{Backend, Store};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Statement,
};

fn event_record(row: share_events::Model) -> Result<ShareEvent, StorageError> {
    Ok(ShareEvent {
        id: row.id,
        model_id: ModelId::from_uuid(row.model_id),
        project_id: project_id(&row.project_id)?,
        action: row
            .action
            .parse()
            .map_err(|e| corrupt(format!("stored share event {}: {e}", row.id)))?,
        actor_user_id: row.actor_user_id.map(UserId::from_uuid),
        api_key_id: row.api_key_id.map(ApiKeyId::from_uuid),
        request_id: row.request_id,
        at: to_ts(row.at),
    })
}

impl Store {
    /// Shares or unshares a model if it is still at `expected_version` and in the opposite
    /// state, writing the share event in the same transaction, and counts the model's endpoints
    /// when it shares it (the catalog shows the count).
    ///
    /// Every transition goes through [`GroupCommit`](super::GroupCommit): the transitions queued while the previous
    /// commit was in flight are written together, each with its own compare-and-set. On SQLite
    /// that is one `BEGIN IMMEDIATE` transaction on the writer connection holding, per
    /// transition, `UPDATE … RETURNING` (the compare-and-set, which also reads the new row back),
    /// `INSERT … RETURNING id` and, on share, the count. On PostgreSQL it is one statement for
    /// the whole group (data-modifying CTEs over the group as a JSON record set: the conditional
    /// `UPDATE`, the event `INSERT` fed by its result, the counts in the final `SELECT`).
    /// Other instances are told with [`Store::announce_share_events`], not from inside the
    /// transaction: a `NOTIFY` holds a database-wide lock until its transaction's commit is
    /// flushed, which would make every commit wait for the previous one's disk flush.
    pub async fn apply_transition(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        self.group_commit.submit(t).await
    }

    /// The most transitions one group commit has written together since the store opened.
    pub fn largest_transition_group(&self) -> usize {
        self.group_commit.largest()
    }

    /// A model's share history, newest first (`id DESC`), before the cursor `after`.
    pub async fn list_share_events(
        &self,
        model_id: ModelId,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<ShareEvent>, StorageError> {
        let mut query = share_events::Entity::find()
            .filter(share_events::Column::ModelId.eq(model_id.as_uuid()));
        if let Some(after) = after {
            query = query.filter(share_events::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(share_events::Column::Id)
            .limit(limit.saturating_add(1))
            .all(&self.reader)
            .await
            .map_err(classify)?;
        let items = rows
            .into_iter()
            .map(event_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, limit))
    }

    /// Events with `id > after_id`, oldest first: the outbox tail.
    pub async fn share_events_after(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<ShareEvent>, StorageError> {
        share_events::Entity::find()
            .filter(share_events::Column::Id.gt(after_id))
            .order_by_asc(share_events::Column::Id)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(classify)?
            .into_iter()
            .map(event_record)
            .collect()
    }

    /// The newest event id, 0 when there is none.
    pub async fn max_share_event_id(&self) -> Result<i64, StorageError> {
        let max: Option<Option<i64>> = share_events::Entity::find()
            .select_only()
            .column_as(share_events::Column::Id.max(), "max_id")
            .into_tuple()
            .one(&self.reader)
            .await
            .map_err(classify)?;
        Ok(max.flatten().unwrap_or(0))
    }

    /// How many models of the account's projects are shared.
    pub async fn count_shared_models_in_account(
        &self,
        account_id: AccountId,
    ) -> Result<u64, StorageError> {
        models::Entity::find()
            .join(
                sea_orm::JoinType::InnerJoin,
                models::Relation::Project.def(),
            )
            .filter(projects::Column::AccountId.eq(account_id.as_uuid()))
            .filter(models::Column::Shared.eq(true))
            .count(&self.reader)
            .await
            .map_err(classify)
    }
}

/// What a committed transition wrote: the model's new row, the event id, the endpoint count.
pub(super) type Written = (models::Model, i64, i64);

/// A committed transition as the caller sees it.
fn outcome(
    t: Transition,
    row: models::Model,
    event_id: i64,
    endpoint_count: i64,
) -> Result<TransitionOutcome, StorageError> {
    let at = to_dt(t.at);
    let event = share_events::Model {
        id: event_id,
        model_id: row.id,
        project_id: row.project_id.clone(),
        action: t.action.as_str().to_owned(),
        actor_user_id: t.actor_user_id.map(|u| u.as_uuid()),
        api_key_id: t.api_key_id.map(|k| k.as_uuid()),
        request_id: t.request_id,
        at,
    };
    Ok(TransitionOutcome::Applied {
        model: model_record(row)?,
        event: event_record(event)?,
        endpoint_count,
    })
}

/// The caller's answer for a committed transition: what it wrote, or stale if nothing.
pub(super) fn answer(
    t: Transition,
    written: Option<Written>,
) -> Result<TransitionOutcome, StorageError> {
    match written {
        Some((row, event_id, endpoint_count)) => outcome(t, row, event_id, endpoint_count),
        None => Ok(TransitionOutcome::Stale),
    }
}

/// One SQLite transition inside `tx`: the compare-and-set `UPDATE … RETURNING`, the event
/// `INSERT … RETURNING id` and, on share, the endpoint count. `None` when the model was not at
/// `expected_version` in the opposite state (nothing written).
async fn sqlite_transition(
    tx: &DatabaseTransaction,
    t: &Transition,
) -> Result<Option<Written>, StorageError> {
    let sharing = t.action == ShareAction::Share;
    let at = to_dt(t.at);
    let time_column = if sharing { "shared_at" } else { "unshared_at" };
    let update = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "UPDATE models SET shared = ?, version = version + 1, updated_at = ?, \
             {time_column} = ? WHERE id = ? AND version = ? AND shared = ? RETURNING *"
        ),
        [
            sharing.into(),
            at.into(),
            at.into(),
            t.model_id.as_uuid().into(),
            t.expected_version.into(),
            (!sharing).into(),
        ],
    );
    let Some(found) = tx.query_one_raw(update).await.map_err(classify)? else {
        return Ok(None);
    };
    let row = models::Model::from_query_result(&found, "").map_err(classify)?;
    let insert = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO share_events \
         (model_id, project_id, action, actor_user_id, api_key_id, request_id, at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            row.id.into(),
            row.project_id.clone().into(),
            t.action.as_str().into(),
            t.actor_user_id.map(|u| u.as_uuid()).into(),
            t.api_key_id.map(|k| k.as_uuid()).into(),
            t.request_id.clone().into(),
            at.into(),
        ],
    );
    let inserted = tx
        .query_one_raw(insert)
        .await
        .map_err(classify)?
        .ok_or(StorageError::NotFound("share event"))?;
    let event_id: i64 = inserted.try_get("", "id").map_err(classify)?;
    let endpoint_count = if sharing {
        let count = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM endpoints WHERE model_id = ?",
            [row.id.into()],
        );
        tx.query_one_raw(count)
            .await
            .map_err(classify)?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()
            .map_err(classify)?
            .unwrap_or(0)
    } else {
        0
    };
    Ok(Some((row, event_id, endpoint_count)))
}

/// Every transition of `group` in one SQLite transaction; nothing is written on error. The
/// whole transaction runs under `deadlines.sqlite_transaction` (see [`crate::deadline`]); after
/// any error the writer connection is discarded ([`discard_sqlite_connection`]), so that no
/// later transaction runs on a connection whose transaction state is unknown.
async fn sqlite_group(
    writer: &DatabaseConnection,
    deadlines: Deadlines,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let result = within(deadlines.sqlite_transaction, async {
        let tx = write_tx_on(writer).await?;
        let mut written = Vec::with_capacity(group.len());
        for t in group {
            match sqlite_transition(&tx, t).await {
                Ok(w) => written.push(w),
                Err(err) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::debug!(error = %rollback, "rollback failed");
                    }
                    return Err(err);
                }
            }
        }
        commit(tx).await?;
        Ok(written)
    })
    .await;
    if let Err(err) = &result {
        tracing::debug!(error = %err, "SQLite group failed; discarding the writer connection");
        let pool = writer.get_sqlite_connection_pool();
        discard_sqlite_connection(pool, deadlines.sqlite_read).await;
    }
    result
}

/// A transition as the PostgreSQL group statement reads it (one element of `$1`).
#[derive(serde::Serialize)]
struct GroupRow<'a> {
    ord: usize,
    model_id: uuid::Uuid,
    expected_version: i64,
    share: bool,
    at: chrono::DateTime<chrono::Utc>,
    actor_user_id: Option<uuid::Uuid>,
    api_key_id: Option<uuid::Uuid>,
    request_id: &'a str,
}

/// The PostgreSQL group statement. `t` is the group; `m` applies each compare-and-set (a model
/// not at its expected version in the opposite state matches nothing and is left alone); `e`
/// writes one event per updated model, in the group's order; the final `SELECT` returns, per
/// updated model, its new row, its event id and (on share) its endpoint count. A group never
/// names a model twice, so `model_id` pairs the rows up.
const POSTGRES_GROUP: &str = "\
WITH t AS (SELECT * FROM json_to_recordset($1::json) AS t(ord integer, model_id uuid, \
expected_version bigint, share boolean, at timestamptz, actor_user_id uuid, api_key_id uuid, \
request_id text)), \
m AS (UPDATE models SET shared = t.share, version = models.version + 1, updated_at = t.at, \
shared_at = CASE WHEN t.share THEN t.at ELSE models.shared_at END, \
unshared_at = CASE WHEN t.share THEN models.unshared_at ELSE t.at END \
FROM t WHERE models.id = t.model_id AND models.version = t.expected_version \
AND models.shared <> t.share RETURNING models.*), \
e AS (INSERT INTO share_events \
(model_id, project_id, action, actor_user_id, api_key_id, request_id, at) \
SELECT m.id, m.project_id, CASE WHEN t.share THEN 'share' ELSE 'unshare' END, \
t.actor_user_id, t.api_key_id, t.request_id, t.at FROM m JOIN t ON t.model_id = m.id \
ORDER BY t.ord RETURNING id, model_id) \
SELECT m.*, e.id AS event_id, CASE WHEN m.shared THEN \
(SELECT COUNT(*) FROM endpoints WHERE endpoints.model_id = m.id) ELSE 0 END AS endpoint_count \
FROM m JOIN e ON e.model_id = m.id";

/// Every transition of `group` in one PostgreSQL statement (so one transaction: nothing is
/// written on error). The rows go in model order, so that two instances' groups lock the
/// models they share in the same order. The statement runs on a connection of its own under
/// `deadlines.statement`; one that misses it is closed (see [`crate::deadline`]).
async fn postgres_group(
    writer: &DatabaseConnection,
    deadlines: Deadlines,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let mut rows: Vec<GroupRow<'_>> = group
        .iter()
        .enumerate()
        .map(|(ord, t)| GroupRow {
            ord,
            model_id: t.model_id.as_uuid(),
            expected_version: t.expected_version,
            share: t.action == ShareAction::Share,
            at: to_dt(t.at),
            actor_user_id: t.actor_user_id.map(|u| u.as_uuid()),
            api_key_id: t.api_key_id.map(|k| k.as_uuid()),
            request_id: &t.request_id,
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.model_id);
    let json = serde_json::to_string(&rows)
        .map_err(|e| StorageError::Unavailable(DbErr::Custom(e.to_string())))?;
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, POSTGRES_GROUP, [json.into()]);
    let mut written = HashMap::with_capacity(group.len());
    let pool = writer.get_postgres_connection_pool();
    for found in postgres_query(pool, &statement, deadlines.statement).await? {
        let row = models::Model::from_query_result(&found, "").map_err(classify)?;
        let event_id: i64 = found.try_get("", "event_id").map_err(classify)?;
        let endpoint_count: i64 = found.try_get("", "endpoint_count").map_err(classify)?;
        written.insert(row.id, (row, event_id, endpoint_count));
    }
    Ok(group
        .iter()
        .map(|t| written.remove(&t.model_id.as_uuid()))
        .collect())
}

/// Every transition of `group` in one transaction on `backend`, in order; for each, what it
/// wrote (`None`: its compare-and-set found the model changed).
pub(super) async fn commit_group(
    writer: &DatabaseConnection,
    backend: Backend,
    deadlines: Deadlines,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    match backend {
        Backend::Sqlite => sqlite_group(writer, deadlines, group).await,
        Backend::Postgres => postgres_group(writer, deadlines, group).await,
    }
}
