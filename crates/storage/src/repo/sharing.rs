//! Share/unshare transitions and the share-events outbox.

use domain::{AccountId, ApiKeyId, ModelId, ShareAction, UserId};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Statement,
};
use tokio::sync::{mpsc, oneshot};

use super::{commit, model_record, page, project_id, to_dt, to_ts, write_tx_on};
use crate::Store;
use crate::entities::{models, projects, share_events};
use crate::error::{StorageError, classify, corrupt};
use crate::records::{Page, ShareEvent, Transition, TransitionOutcome};

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
    /// On SQLite the transaction is `BEGIN IMMEDIATE` on the one writer connection, then
    /// `UPDATE … RETURNING` (the compare-and-set, which also reads the new row back),
    /// `INSERT … RETURNING id` and, on share, the count, then `COMMIT`, shared with the other
    /// transitions queued meanwhile ([`GroupCommit`]). On PostgreSQL the whole
    /// transition is one statement (data-modifying CTEs: the conditional `UPDATE` and the event
    /// `INSERT` fed by its result, atomic; the count in the final `SELECT`), so one round trip
    /// instead of six. Other instances are told with [`Store::announce_share_events`], not
    /// from inside the transaction: a `NOTIFY` holds a database-wide lock until its
    /// transaction's commit is flushed, which would make every transition wait for the
    /// previous one's disk flush.
    pub async fn apply_transition(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        if self.backend == crate::Backend::Sqlite {
            return match &self.group_commit {
                Some(group) => group.submit(t).await,
                None => apply_one(&self.writer, t).await,
            };
        }
        let sharing = t.action == ShareAction::Share;
        let time_column = if sharing { "shared_at" } else { "unshared_at" };
        let sql = format!(
            "WITH m AS (UPDATE models SET shared = $1, version = version + 1, \
             updated_at = $2, {time_column} = $2 \
             WHERE id = $3 AND version = $4 AND shared = $5 RETURNING *), \
             e AS (INSERT INTO share_events \
             (model_id, project_id, action, actor_user_id, api_key_id, request_id, at) \
             SELECT m.id, m.project_id, $6, $7, $8, $9, $2 FROM m RETURNING id) \
             SELECT m.*, e.id AS event_id, CASE WHEN $1 THEN \
             (SELECT COUNT(*) FROM endpoints WHERE model_id = m.id) ELSE 0 END \
             AS endpoint_count FROM m, e",
        );
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                sharing.into(),
                to_dt(t.at).into(),
                t.model_id.as_uuid().into(),
                t.expected_version.into(),
                (!sharing).into(),
                t.action.as_str().into(),
                t.actor_user_id.map(|u| u.as_uuid()).into(),
                t.api_key_id.map(|k| k.as_uuid()).into(),
                t.request_id.clone().into(),
            ],
        );
        let Some(found) = self
            .writer
            .query_one_raw(statement)
            .await
            .map_err(classify)?
        else {
            return Ok(TransitionOutcome::Stale);
        };
        let row = models::Model::from_query_result(&found, "").map_err(classify)?;
        let event_id: i64 = found.try_get("", "event_id").map_err(classify)?;
        let endpoint_count: i64 = found.try_get("", "endpoint_count").map_err(classify)?;
        outcome(t, row, event_id, endpoint_count)
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

/// What a SQLite transition wrote: the model's new row, the event id, the endpoint count.
type Written = (models::Model, i64, i64);

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

/// One SQLite transition in a transaction of its own.
async fn apply_one(
    writer: &DatabaseConnection,
    t: Transition,
) -> Result<TransitionOutcome, StorageError> {
    let written = commit_group(writer, [&t]).await?.pop().flatten();
    answer(t, written)
}

/// The caller's answer for a committed transition: what it wrote, or stale if nothing.
fn answer(t: Transition, written: Option<Written>) -> Result<TransitionOutcome, StorageError> {
    match written {
        Some((row, event_id, endpoint_count)) => outcome(t, row, event_id, endpoint_count),
        None => Ok(TransitionOutcome::Stale),
    }
}

/// Most transitions one group commit takes.
const MAX_GROUP: usize = 256;

type Job = (
    Transition,
    oneshot::Sender<Result<TransitionOutcome, StorageError>>,
);

/// Group commit of SQLite transitions. Every transition must reach the disk before it is
/// answered (`synchronous = full`), and one writer commits at a time, so one transaction per
/// transition makes each wait for the flushes of all queued before it. Instead a thread of its
/// own takes every transition queued while the previous commit was flushing and writes them in
/// one transaction: one flush for the lot. Each keeps its own compare-and-set (one that finds
/// its model changed writes nothing and is answered [`TransitionOutcome::Stale`]); if anything
/// else fails, the group is rolled back and each transition is retried alone, so an error
/// reaches only the transition it belongs to. Nothing is answered before its commit.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::UnboundedSender<Job>,
    /// The most transitions committed together so far (read by tests).
    #[cfg_attr(not(test), allow(dead_code))]
    largest: Arc<AtomicUsize>,
}

impl GroupCommit {
    /// Starts the committing thread on `writer`; it ends when every handle is dropped.
    pub(crate) fn start(writer: DatabaseConnection) -> Result<Self, StorageError> {
        let (queue, jobs) = mpsc::unbounded_channel();
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&largest);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Unavailable(DbErr::Custom(e.to_string())))?;
        std::thread::Builder::new()
            .name("sqlite-group-commit".into())
            .spawn(move || runtime.block_on(run_groups(writer, jobs, seen)))
            .map_err(|e| StorageError::Unavailable(DbErr::Custom(e.to_string())))?;
        Ok(Self { queue, largest })
    }

    #[cfg(test)]
    fn largest(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }

    async fn submit(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        let stopped = || StorageError::Unavailable(DbErr::Custom("the writer has stopped".into()));
        let (reply, answer) = oneshot::channel();
        self.queue.send((t, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run_groups(
    writer: DatabaseConnection,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    largest: Arc<AtomicUsize>,
) {
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if group.len() > 1 {
            match commit_group(&writer, group.iter().map(|(t, _)| t)).await {
                Ok(written) => {
                    largest.fetch_max(written.len(), Ordering::Relaxed);
                    for ((t, reply), written) in group.into_iter().zip(written) {
                        // A caller that went away has nothing to hear; its write stands.
                        let _ = reply.send(answer(t, written));
                    }
                    continue;
                }
                Err(err) => {
                    tracing::debug!(error = %err, size = group.len(), "group commit failed; one by one");
                }
            }
        }
        for (t, reply) in group {
            let _ = reply.send(apply_one(&writer, t).await);
        }
    }
}

/// Every transition of `group` in one transaction; nothing is written on error.
async fn commit_group<'a>(
    writer: &DatabaseConnection,
    group: impl IntoIterator<Item = &'a Transition>,
) -> Result<Vec<Option<Written>>, StorageError> {
    let tx = write_tx_on(writer).await?;
    let mut written = Vec::new();
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::repo::testing::{model, store_with_project};

    /// Concurrent transitions share commits; each keeps its own compare-and-set and event.
    #[tokio::test]
    async fn grouped_transitions_keep_their_own_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let (store, project) = store_with_project(&dir).await;
        let mut models = Vec::new();
        for i in 0..40 {
            models.push(model(&store, &project, i).await);
        }
        // Every other transition names a version the model is not at: it must write nothing,
        // whatever group it lands in, and the others must all commit.
        let calls = models.iter().enumerate().map(|(i, model)| {
            let store = store.clone();
            let t = Transition {
                model_id: model.id,
                expected_version: model.version + i64::from(i % 2 == 1),
                action: ShareAction::Share,
                at: domain::now(),
                actor_user_id: None,
                api_key_id: None,
                request_id: format!("r{i}"),
            };
            tokio::spawn(async move { store.apply_transition(t).await })
        });
        let outcomes = futures_util::future::join_all(calls).await;
        for (i, (model, outcome)) in models.iter().zip(outcomes).enumerate() {
            let outcome = outcome.unwrap().unwrap();
            let events = store.list_share_events(model.id, None, 10).await.unwrap();
            let now = store.get_model(model.id).await.unwrap().unwrap();
            if i % 2 == 1 {
                assert_eq!(outcome, TransitionOutcome::Stale, "model {i}");
                assert!(events.items.is_empty(), "model {i}");
                assert!(!now.shared);
            } else {
                let TransitionOutcome::Applied {
                    model: after,
                    event,
                    ..
                } = outcome
                else {
                    panic!("model {i}: {outcome:?}");
                };
                assert!(after.shared && now.shared);
                assert_eq!(after.version, model.version + 1);
                assert_eq!(events.items.len(), 1, "model {i}");
                assert_eq!(events.items[0].id, event.id);
                assert_eq!(event.request_id, format!("r{i}"));
            }
        }
        let group = store.group_commit.as_ref().unwrap().largest();
        assert!(
            group > 1,
            "the transitions were never committed together ({group})"
        );
    }
}
