//! A group of transitions on SQLite: one `BEGIN IMMEDIATE` transaction on the writer.
//!
//! Every statement is a round trip to the driver's worker thread (a channel send, a thread
//! woken, the answer sent back), so the group's unguarded transitions are written a batch at a
//! time: one `UPDATE … FROM (VALUES …) RETURNING *` for the compare-and-sets of the batch, one
//! `INSERT … RETURNING` for its events, one `SELECT … GROUP BY` for its shares' endpoint counts,
//! instead of those three statements per transition. A guarded share is written alone, in its
//! place in the group, so that its count sees every write before it.

use std::collections::HashMap;

use domain::ShareAction;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::{Written, check_guards};
use crate::connect::Deadlines;
use crate::deadline::{Bounded, discard_sqlite_connection, within};
use crate::entities::models;
use crate::error::{StorageError, classify};
use crate::records::Transition;
use crate::repo::{commit_or_roll_back, to_dt, write_tx_on};

/// A guarded transition inside `tx`: its guards, then (if they hold) its writes as a batch of
/// one. `None` when the model was not at `expected_version` in the opposite state (nothing
/// written).
async fn guarded_transition(
    tx: &impl ConnectionTrait,
    t: &Transition,
) -> Result<Option<Written>, StorageError> {
    if let Err(answer) = check_guards(tx, t).await? {
        return Ok(answer);
    }
    Ok(write_batch(tx, &[t]).await?.pop().flatten())
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
        let written = write_group(&tx, group).await;
        commit_or_roll_back(tx, written).await
    })
    .await;
    if let Err(err) = &result {
        tracing::debug!(error = %err, "SQLite group failed; discarding the writer connection");
        let pool = writer.pool().get_sqlite_connection_pool();
        discard_sqlite_connection(pool, deadlines.sqlite_read).await;
    }
    result
}

/// Most transitions one batch statement names (its `UPDATE` binds five values per transition,
/// its `INSERT` nine: far below SQLite's 32,766).
const MAX_BATCH: usize = 256;

/// What every transition of `group` writes inside `tx`, in order: runs of unguarded
/// transitions in batches, a guarded share alone (its guard counts what the writes before it
/// left). The group names a model at most once (see the group-commit engine); were a model
/// named twice in a batch, its row would be updated once and the other transition answered
/// stale, never written twice.
async fn write_group(
    tx: &impl ConnectionTrait,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let unguarded = |t: &&Transition| t.guards_to_check().is_empty();
    let mut written = Vec::with_capacity(group.len());
    // Runs of unguarded transitions, and each guarded one on its own.
    for run in group.chunk_by(|a, b| unguarded(a) && unguarded(b)) {
        match run {
            [one] if !unguarded(one) => written.push(guarded_transition(tx, one).await?),
            _ => {
                for batch in batches(run) {
                    written.extend(write_batch(tx, batch).await?);
                }
            }
        }
    }
    Ok(written)
}

/// `items` cut into batches whose sizes are powers of two (at most [`MAX_BATCH`]): a batch
/// statement's text depends on its size, and the driver keeps each text it prepared, so the
/// sizes are kept to a few.
fn batches<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let size = match rest.len() {
            0 => return None,
            n => (1_usize << n.ilog2()).min(MAX_BATCH),
        };
        let (batch, after) = rest.split_at_checked(size)?;
        rest = after;
        Some(batch)
    })
}

/// `(?, ?, …), (?, ?, …), …`: `rows` rows of `columns` placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// Transitions of distinct models inside `tx` (their guards, if any, already checked), each
/// answered in order: the compare-and-sets in one statement, then the events of those that
/// applied, then the endpoint counts of the shares among them.
async fn write_batch(
    tx: &impl ConnectionTrait,
    batch: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 5);
    for t in batch {
        let sharing = t.action == ShareAction::Share;
        values.extend([
            t.model_id.as_uuid().into(),
            t.expected_version.into(),
            sharing.into(),
            (!sharing).into(),
            to_dt(t.at).into(),
        ]);
    }
    let update = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "WITH v(id, version, sharing, was, at) AS (VALUES {}) \
             UPDATE models SET shared = v.sharing, version = models.version + 1, \
             updated_at = v.at, \
             shared_at = CASE WHEN v.sharing THEN v.at ELSE models.shared_at END, \
             unshared_at = CASE WHEN v.sharing THEN models.unshared_at ELSE v.at END \
             FROM v WHERE models.id = v.id AND models.version = v.version \
             AND models.shared = v.was RETURNING *",
            placeholders(batch.len(), 5)
        ),
        values,
    );
    let mut rows: HashMap<Uuid, models::Model> = HashMap::with_capacity(batch.len());
    for found in tx.query_all_raw(update).await.map_err(classify)? {
        let row = models::Model::from_query_result(&found, "").map_err(classify)?;
        rows.insert(row.id, row);
    }
    let applied: Vec<(&Transition, &models::Model)> = batch
        .iter()
        .filter_map(|t| Some((*t, rows.get(&t.model_id.as_uuid())?)))
        .collect();
    let mut events = HashMap::with_capacity(applied.len());
    for part in batches(&applied) {
        events.extend(batch_events(tx, part).await?);
    }
    let shares: Vec<Uuid> = applied
        .iter()
        .filter(|(t, _)| t.action == ShareAction::Share)
        .map(|(_, row)| row.id)
        .collect();
    let mut counts = HashMap::new();
    for part in batches(&shares) {
        counts.extend(batch_endpoint_counts(tx, part).await?);
    }
    batch
        .iter()
        .map(|t| {
            let id = t.model_id.as_uuid();
            let Some(row) = rows.remove(&id) else {
                return Ok(None);
            };
            let event_id = *events
                .get(&id)
                .ok_or(StorageError::NotFound("share event"))?;
            let endpoint_count = counts.get(&id).copied().unwrap_or(0);
            Ok(Some(Written::Applied(row, event_id, endpoint_count)))
        })
        .collect()
}

/// The share events of transitions that wrote their rows, inserted in the order given (so
/// their ids follow it): each model's event id.
async fn batch_events(
    tx: &impl ConnectionTrait,
    applied: &[(&Transition, &models::Model)],
) -> Result<HashMap<Uuid, i64>, StorageError> {
    let mut values: Vec<Value> = Vec::with_capacity(applied.len() * 9);
    for (t, row) in applied {
        values.extend([
            row.id.into(),
            row.project_id.clone().into(),
            t.action.as_str().into(),
            t.actor_user_id.map(|u| u.as_uuid()).into(),
            t.api_key_id.map(|k| k.as_uuid()).into(),
            t.request_id.clone().into(),
            t.server_request_id.clone().into(),
            t.schedule_id.map(|s| s.as_uuid()).into(),
            to_dt(t.at).into(),
        ]);
    }
    let insert = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "INSERT INTO share_events \
             (model_id, project_id, action, actor_user_id, api_key_id, request_id, \
             server_request_id, schedule_id, at) VALUES {} RETURNING id, model_id",
            placeholders(applied.len(), 9)
        ),
        values,
    );
    by_model(tx, insert, "id").await
}

/// The rows of `statement`, each a `model_id` and the integer column `value`, by model.
async fn by_model(
    tx: &impl ConnectionTrait,
    statement: Statement,
    value: &str,
) -> Result<HashMap<Uuid, i64>, StorageError> {
    tx.query_all_raw(statement)
        .await
        .map_err(classify)?
        .iter()
        .map(|r| Ok((r.try_get("", "model_id")?, r.try_get("", value)?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(classify)
}

/// How many endpoints each of `shared` has (a model with none is absent).
async fn batch_endpoint_counts(
    tx: &impl ConnectionTrait,
    shared: &[Uuid],
) -> Result<HashMap<Uuid, i64>, StorageError> {
    let count = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "SELECT model_id, COUNT(*) AS n FROM endpoints WHERE model_id IN ({}) \
             GROUP BY model_id",
            vec!["?"; shared.len()].join(", ")
        ),
        shared.iter().map(|id| Value::from(*id)),
    );
    by_model(tx, count, "n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_powers_of_two_in_order() {
        let items: Vec<usize> = (0..23).collect();
        let sizes: Vec<usize> = batches(&items).map(<[usize]>::len).collect();
        assert_eq!(sizes, [16, 4, 2, 1]);
        assert_eq!(
            batches(&items).flatten().copied().collect::<Vec<_>>(),
            items
        );
        let many: Vec<usize> = (0..600).collect();
        let sizes: Vec<usize> = batches(&many).map(<[usize]>::len).collect();
        assert_eq!(sizes, [256, 256, 64, 16, 8]);
        assert_eq!(batches::<usize>(&[]).count(), 0);
    }

    #[test]
    fn placeholders_make_rows() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }
}
