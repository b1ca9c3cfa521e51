//! What a group of share/unshare transitions writes, on each database; the engine that groups
//! them is [`super::group_commit`], the share events' reads are [`super::events`].

use std::collections::HashMap;

use domain::{AccountId, ShareAction};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryResult, QuerySelect, RelationTrait, Statement,
};

use super::events::event_record;
use super::{commit, to_dt, write_tx_on};
use crate::connect::Deadlines;
use crate::deadline::{Bounded, discard_sqlite_connection, within};
use crate::entities::{models, projects, share_events};
use crate::error::{StorageError, classify};
use crate::records::{Transition, TransitionOutcome, WriteGuard};
use crate::{Backend, Store};

impl Store {
    /// Shares or unshares a model if it is still at `expected_version` and in the opposite
    /// state, writing the share event in the same transaction, and counts the model's endpoints
    /// when it shares it (the catalog shows the count).
    ///
    /// Every transition goes through [`GroupCommit`]: the transitions queued while the previous
    /// commit was in flight are written together, each with its own compare-and-set. On SQLite
    /// that is one `BEGIN IMMEDIATE` transaction on the writer connection holding, per
    /// transition, `UPDATE … RETURNING` (the compare-and-set, which also reads the new row back),
    /// `INSERT … RETURNING id` and, on share, the count. On PostgreSQL it is one statement for
    /// the whole group (data-modifying CTEs over the group as a JSON record set: the conditional
    /// `UPDATE`, the event `INSERT` fed by its result, the counts in the final `SELECT`).
    /// Other instances are told with [`Store::announce_share_events`], not from inside the
    /// transaction: a `NOTIFY` holds a database-wide lock until its transaction's commit is
    /// flushed, which would make every commit wait for the previous one's disk flush.
    ///
    /// A share's [`WriteGuard`]s are checked inside the same transaction, just before its
    /// compare-and-set, so that no concurrent write can slip between the check and the write;
    /// one that fails writes nothing and answers [`TransitionOutcome::LimitReached`] (or
    /// [`TransitionOutcome::Stale`] if the model changed meanwhile). On SQLite the writer's
    /// lock serializes every write, across processes too, and the count sees the group's
    /// earlier transitions. On PostgreSQL a group holding a guarded share is not the one
    /// statement but one transaction that first locks the guarded accounts' rows (in id order,
    /// `FOR NO KEY UPDATE`), then writes each transition in model order with that statement,
    /// counting each share's guard after the transitions before it.
    pub async fn apply_transition(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        self.group_commit.submit(t).await
    }

    /// The most transitions one group commit has written together since the store opened.
    pub fn largest_transition_group(&self) -> usize {
        self.group_commit.largest()
    }

    /// How many models of the account's projects are shared.
    pub async fn count_shared_models_in_account(
        &self,
        account_id: AccountId,
    ) -> Result<u64, StorageError> {
        count_shared_in_account(&self.reader, account_id).await
    }
}

/// How many models of the account's projects are shared, as `db` sees it (inside a write
/// transaction: with that transaction's own writes).
async fn count_shared_in_account<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<u64, StorageError> {
    models::Entity::find()
        .join(
            sea_orm::JoinType::InnerJoin,
            models::Relation::Project.def(),
        )
        .filter(projects::Column::AccountId.eq(account_id.as_uuid()))
        .filter(models::Column::Shared.eq(true))
        .count(db)
        .await
        .map_err(classify)
}

/// What a transition came to in its transaction. Wrapped in an `Option`, whose `None` means
/// its compare-and-set found the model changed (nothing written).
// One per transition of a group, turned into its answer at once: boxing the row would only
// cost an allocation per write.
#[allow(clippy::large_enum_variant)]
pub(super) enum Written {
    /// Committed: the model's new row, the event id, the endpoint count.
    Applied(models::Model, i64, i64),
    /// The model was as expected but `guard` failed with `shared` shared; nothing written.
    Held { guard: WriteGuard, shared: u64 },
}

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
        server_request_id: t.server_request_id,
        at,
    };
    Ok(TransitionOutcome::Applied {
        model: row.into_record()?,
        event: event_record(event)?,
        endpoint_count,
    })
}

/// The caller's answer for a committed transition: what it wrote, why its guard held it back,
/// or stale.
pub(super) fn answer(
    t: Transition,
    written: Option<Written>,
) -> Result<TransitionOutcome, StorageError> {
    match written {
        Some(Written::Applied(row, event_id, endpoint_count)) => {
            outcome(t, row, event_id, endpoint_count)
        }
        Some(Written::Held { guard, shared }) => {
            Ok(TransitionOutcome::LimitReached { guard, shared })
        }
        None => Ok(TransitionOutcome::Stale),
    }
}

/// Whether `t`'s guards hold inside `tx` (whose counts include its own earlier writes). When
/// one fails, `Err` holds the transition's answer, nothing being written: held if the model is
/// still as expected, else stale, as its compare-and-set would say (the caller re-reads, and
/// may find the model already shared).
async fn check_guards(
    tx: &impl ConnectionTrait,
    t: &Transition,
) -> Result<Result<(), Option<Written>>, StorageError> {
    for guard in t.guards_to_check() {
        let (shared, limit) = match *guard {
            WriteGuard::MaxSharedInAccount { account_id, limit } => {
                (count_shared_in_account(tx, account_id).await?, limit)
            }
        };
        if shared < limit {
            continue;
        }
        let as_expected = models::Entity::find_by_id(t.model_id.as_uuid())
            .filter(models::Column::Version.eq(t.expected_version))
            .filter(models::Column::Shared.eq(false))
            .count(tx)
            .await
            .map_err(classify)?;
        let held = Written::Held {
            guard: *guard,
            shared,
        };
        return Ok(Err((as_expected > 0).then_some(held)));
    }
    Ok(Ok(()))
}

/// One SQLite transition inside `tx`: its guards, the compare-and-set `UPDATE … RETURNING`,
/// the event `INSERT … RETURNING id` and, on share, the endpoint count. `None` when the model
/// was not at `expected_version` in the opposite state (nothing written).
async fn sqlite_transition(
    tx: &impl ConnectionTrait,
    t: &Transition,
) -> Result<Option<Written>, StorageError> {
    if let Err(answer) = check_guards(tx, t).await? {
        return Ok(answer);
    }
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
         (model_id, project_id, action, actor_user_id, api_key_id, request_id, \
         server_request_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            row.id.into(),
            row.project_id.clone().into(),
            t.action.as_str().into(),
            t.actor_user_id.map(|u| u.as_uuid()).into(),
            t.api_key_id.map(|k| k.as_uuid()).into(),
            t.request_id.clone().into(),
            t.server_request_id.clone().into(),
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
    Ok(Some(Written::Applied(row, event_id, endpoint_count)))
}

/// Every transition of `group` in one SQLite transaction; nothing is written on error. The
/// whole transaction runs under `deadlines.sqlite_transaction` (see [`crate::deadline`]); after
/// any error the writer connection is discarded ([`discard_sqlite_connection`]), so that no
/// later transaction runs on a connection whose transaction state is unknown.
async fn sqlite_group(
    writer: &Bounded,
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
        let pool = writer.pool().get_sqlite_connection_pool();
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
    server_request_id: Option<&'a str>,
}

/// The PostgreSQL group statement. `t` is the group; `m` applies each compare-and-set (a model
/// not at its expected version in the opposite state matches nothing and is left alone); `e`
/// writes one event per updated model, in the group's order; the final `SELECT` returns, per
/// updated model, its new row, its event id and (on share) its endpoint count. A group never
/// names a model twice, so `model_id` pairs the rows up.
const POSTGRES_GROUP: &str = "\
WITH t AS (SELECT * FROM json_to_recordset($1::json) AS t(ord integer, model_id uuid, \
expected_version bigint, share boolean, at timestamptz, actor_user_id uuid, api_key_id uuid, \
request_id text, server_request_id text)), \
m AS (UPDATE models SET shared = t.share, version = models.version + 1, updated_at = t.at, \
shared_at = CASE WHEN t.share THEN t.at ELSE models.shared_at END, \
unshared_at = CASE WHEN t.share THEN models.unshared_at ELSE t.at END \
FROM t WHERE models.id = t.model_id AND models.version = t.expected_version \
AND models.shared <> t.share RETURNING models.*), \
e AS (INSERT INTO share_events \
(model_id, project_id, action, actor_user_id, api_key_id, request_id, server_request_id, at) \
SELECT m.id, m.project_id, CASE WHEN t.share THEN 'share' ELSE 'unshare' END, \
t.actor_user_id, t.api_key_id, t.request_id, t.server_request_id, t.at \
FROM m JOIN t ON t.model_id = m.id \
ORDER BY t.ord RETURNING id, model_id) \
SELECT m.*, e.id AS event_id, CASE WHEN m.shared THEN \
(SELECT COUNT(*) FROM endpoints WHERE endpoints.model_id = m.id) ELSE 0 END AS endpoint_count \
FROM m JOIN e ON e.model_id = m.id";

/// Every transition of `group` in one PostgreSQL statement (so one transaction: nothing is
/// written on error), or, when one is a guarded share, in [`postgres_guarded_group`]. Each
/// statement sent, the group's or the guarded transaction's, runs under the writer's deadline
/// (see [`crate::deadline`]).
async fn postgres_group(
    writer: &Bounded,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    if group.iter().any(|t| !t.guards_to_check().is_empty()) {
        return postgres_guarded_group(writer, group).await;
    }
    let rows = writer
        .query_all_raw(group_statement(group)?)
        .await
        .map_err(classify)?;
    let mut written = decode_group(&rows)?;
    Ok(group
        .iter()
        .map(|t| written.remove(&t.model_id.as_uuid()))
        .collect())
}

/// A PostgreSQL group holding a guarded share, in one transaction (nothing is written on
/// error): the rows of the accounts the shares' guards count are locked first, in id order,
/// then each transition is checked against its guards and written by the group statement, in
/// model order. The lock makes the count and the write one step for every writer of that
/// account, other instances included (each counts after the previous one committed); taking
/// accounts before models, each in order, keeps two such transactions from waiting on each
/// other in a cycle. `FOR NO KEY UPDATE` leaves rows that merely reference the account (a new
/// project) free to be written.
async fn postgres_guarded_group(
    writer: &Bounded,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let tx = write_tx_on(writer).await?;
    match postgres_guarded_in(&tx, group).await {
        Ok(written) => {
            commit(tx).await?;
            Ok(written)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rollback failed");
            }
            Err(err)
        }
    }
}

/// The body of [`postgres_guarded_group`]'s transaction.
async fn postgres_guarded_in(
    tx: &impl ConnectionTrait,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let mut accounts: Vec<AccountId> = group
        .iter()
        .flat_map(|t| t.guards_to_check())
        .map(WriteGuard::account_id)
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    for account in accounts {
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
            [account.as_uuid().into()],
        );
        tx.query_one_raw(lock).await.map_err(classify)?;
    }
    let mut order: Vec<(usize, &Transition)> = group.iter().copied().enumerate().collect();
    order.sort_unstable_by_key(|(_, t)| t.model_id);
    let mut written: Vec<(usize, Option<Written>)> = Vec::with_capacity(group.len());
    for (i, t) in order {
        let outcome = match check_guards(tx, t).await? {
            Err(answer) => answer,
            Ok(()) => {
                let rows = tx
                    .query_all_raw(group_statement(&[t])?)
                    .await
                    .map_err(classify)?;
                decode_group(&rows)?.remove(&t.model_id.as_uuid())
            }
        };
        written.push((i, outcome));
    }
    // Back in the group's order.
    written.sort_unstable_by_key(|(i, _)| *i);
    Ok(written.into_iter().map(|(_, w)| w).collect())
}

/// [`POSTGRES_GROUP`] over `group`. The rows go in model order, so that two instances' groups
/// lock the models they share in the same order.
fn group_statement(group: &[&Transition]) -> Result<Statement, StorageError> {
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
            server_request_id: t.server_request_id.as_deref(),
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.model_id);
    let json = serde_json::to_string(&rows).map_err(StorageError::bug)?;
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        POSTGRES_GROUP,
        [json.into()],
    ))
}

/// What each transition of a [`group_statement`] wrote, by model.
fn decode_group(rows: &[QueryResult]) -> Result<HashMap<uuid::Uuid, Written>, StorageError> {
    let mut written = HashMap::with_capacity(rows.len());
    for found in rows {
        let row = models::Model::from_query_result(found, "").map_err(classify)?;
        let event_id: i64 = found.try_get("", "event_id").map_err(classify)?;
        let endpoint_count: i64 = found.try_get("", "endpoint_count").map_err(classify)?;
        written.insert(row.id, Written::Applied(row, event_id, endpoint_count));
    }
    Ok(written)
}

/// Every transition of `group` in one transaction on `backend`, in order; for each, what it
/// wrote (`None`: its compare-and-set found the model changed).
pub(super) async fn commit_group(
    writer: &Bounded,
    backend: Backend,
    deadlines: Deadlines,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    match backend {
        Backend::Sqlite => sqlite_group(writer, deadlines, group).await,
        Backend::Postgres => postgres_group(writer, group).await,
    }
}
