//! A group of transitions on SQLite: one `BEGIN IMMEDIATE` transaction on the writer.

use domain::ShareAction;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};

use super::{Written, check_guards};
use crate::connect::Deadlines;
use crate::deadline::{Bounded, discard_sqlite_connection, within};
use crate::entities::models;
use crate::error::{StorageError, classify};
use crate::records::Transition;
use crate::repo::{commit, to_dt, write_tx_on};

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
    let event_id = sqlite_event(tx, t, &row).await?;
    let endpoint_count = if sharing {
        sqlite_endpoint_count(tx, row.id).await?
    } else {
        0
    };
    Ok(Some(Written::Applied(row, event_id, endpoint_count)))
}

/// The share event of `t`, which wrote `row`, inside `tx`: its id.
async fn sqlite_event(
    tx: &impl ConnectionTrait,
    t: &Transition,
    row: &models::Model,
) -> Result<i64, StorageError> {
    let at = to_dt(t.at);
    let insert = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO share_events \
         (model_id, project_id, action, actor_user_id, api_key_id, request_id, \
         server_request_id, schedule_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            row.id.into(),
            row.project_id.clone().into(),
            t.action.as_str().into(),
            t.actor_user_id.map(|u| u.as_uuid()).into(),
            t.api_key_id.map(|k| k.as_uuid()).into(),
            t.request_id.clone().into(),
            t.server_request_id.clone().into(),
            t.schedule_id.map(|s| s.as_uuid()).into(),
            at.into(),
        ],
    );
    let inserted = tx
        .query_one_raw(insert)
        .await
        .map_err(classify)?
        .ok_or(StorageError::NotFound("share event"))?;
    inserted.try_get("", "id").map_err(classify)
}

/// How many endpoints `model` has, inside `tx`.
async fn sqlite_endpoint_count(
    tx: &impl ConnectionTrait,
    model: uuid::Uuid,
) -> Result<i64, StorageError> {
    let count = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT COUNT(*) AS n FROM endpoints WHERE model_id = ?",
        [model.into()],
    );
    Ok(tx
        .query_one_raw(count)
        .await
        .map_err(classify)?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()
        .map_err(classify)?
        .unwrap_or(0))
}

/// Every transition of `group` in one SQLite transaction; nothing is written on error. The
/// whole transaction runs under `deadlines.sqlite_transaction` (see [`crate::deadline`]); after
/// any error the writer connection is discarded ([`discard_sqlite_connection`]), so that no
/// later transaction runs on a connection whose transaction state is unknown.
pub(super) async fn group(
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
