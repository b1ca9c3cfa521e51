//! A group of transitions on PostgreSQL: one statement, or one transaction when a share is
//! guarded.

use std::collections::HashMap;

use domain::{AccountId, ShareAction};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement};

use super::{Written, check_guards};
use crate::deadline::Bounded;
use crate::entities::models;
use crate::error::{StorageError, classify};
use crate::records::{Transition, WriteGuard};
use crate::repo::{commit_or_roll_back, to_dt, write_tx_on};

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
    schedule_id: Option<uuid::Uuid>,
}

/// The PostgreSQL group statement. `t` is the group; `m` applies each compare-and-set (a model
/// not at its expected version in the opposite state matches nothing and is left alone); `e`
/// writes one event per updated model, in the group's order; the final `SELECT` returns, per
/// updated model, its new row, its event id and (on share) its endpoint count. A group never
/// names a model twice, so `model_id` pairs the rows up.
const POSTGRES_GROUP: &str = "\
WITH t AS (SELECT * FROM json_to_recordset($1::json) AS t(ord integer, model_id uuid, \
expected_version bigint, share boolean, at timestamptz, actor_user_id uuid, api_key_id uuid, \
request_id text, server_request_id text, schedule_id uuid)), \
m AS (UPDATE models SET shared = t.share, version = models.version + 1, updated_at = t.at, \
shared_at = CASE WHEN t.share THEN t.at ELSE models.shared_at END, \
unshared_at = CASE WHEN t.share THEN models.unshared_at ELSE t.at END \
FROM t WHERE models.id = t.model_id AND models.version = t.expected_version \
AND models.shared <> t.share RETURNING models.*), \
e AS (INSERT INTO share_events \
(model_id, project_id, action, actor_user_id, api_key_id, request_id, server_request_id, \
schedule_id, at) \
SELECT m.id, m.project_id, CASE WHEN t.share THEN 'share' ELSE 'unshare' END, \
t.actor_user_id, t.api_key_id, t.request_id, t.server_request_id, t.schedule_id, t.at \
FROM m JOIN t ON t.model_id = m.id \
ORDER BY t.ord RETURNING id, model_id) \
SELECT m.*, e.id AS event_id, CASE WHEN m.shared THEN \
(SELECT COUNT(*) FROM endpoints WHERE endpoints.model_id = m.id) ELSE 0 END AS endpoint_count \
FROM m JOIN e ON e.model_id = m.id";

/// Every transition of `group` in one PostgreSQL statement (so one transaction: nothing is
/// written on error), or, when one is a guarded share, in [`postgres_guarded_group`]. Each
/// statement sent, the group's or the guarded transaction's, runs under the writer's deadline
/// (see [`crate::deadline`]).
pub(super) async fn group(
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
    let written = postgres_guarded_in(&tx, group).await;
    commit_or_roll_back(tx, written).await
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
            schedule_id: t.schedule_id.map(|s| s.as_uuid()),
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
