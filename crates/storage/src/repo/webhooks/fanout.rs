//! Turning committed share events into deliveries: the webhooks' outbox tail.
//!
//! One row (`webhook_fanout`) holds how far the fan-out has read, in the outbox's gap-free
//! order (see [`super::super::outbox`]): on SQLite `id`, since ids are in commit order. On
//! PostgreSQL two reads, as the catalog's tail makes them: new ids (`id > newest_id`, at once,
//! whatever older transaction is still open) and final events in `(tx, id)` order (those whose
//! transaction is below the horizon read before the batch), so an event whose transaction
//! commits late, below ids already read, is read once it has ended: never skipped. An event met
//! by both reads makes its deliveries once: `(webhook_id, fanout_key)` is unique, and the
//! insert skips what exists.
//!
//! A batch is read, turned into deliveries and the positions advanced in one transaction that
//! locks the row: an instance that dies halfway leaves nothing (its transaction rolls back), and
//! two instances take turns.

use std::collections::{BTreeMap, BTreeSet};

use domain::{EndpointId, EventType, ModelId, ProjectId, ShareAction, WebhookId};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Statement, Value,
};

use super::super::commit;
use super::super::events::event_record;
use super::deliveries::delivery_row;
use super::webhook_record;
use crate::entities::{endpoints, share_events, webhook_deliveries, webhooks};
use crate::error::{StorageError, classify};
use crate::records::{EndpointProject, FanoutEvent, NewDelivery, Webhook};
use crate::{Backend, Store};

/// Final share events after the position, in the outbox's order (PostgreSQL).
const FINAL_EVENTS: &str = "SELECT * FROM share_events WHERE (tx, id) > ($1, $2) AND tx < $3 \
                            ORDER BY tx, id LIMIT $4";
/// Share events by id after a position: PostgreSQL's fast read, SQLite's only one.
fn new_events_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT * FROM share_events WHERE id > $1 ORDER BY id LIMIT $2",
        Backend::Sqlite => "SELECT * FROM share_events WHERE id > ? ORDER BY id LIMIT ?",
    }
}

fn subscribers(
    hooks: &[Webhook],
    project: &ProjectId,
    event: &FanoutInput,
) -> Vec<(WebhookId, Vec<EventType>)> {
    hooks
        .iter()
        .filter(|w| &w.project_id == project && w.created_at <= event.at)
        .map(|w| (w.id, w.events.clone()))
        .collect()
}

/// What matching needs of an event.
struct FanoutInput {
    at: domain::Timestamp,
}

impl Store {
    /// Whether any event is past the fan-out's position: a read, so that an engine with
    /// nothing to fan out never takes the writer.
    async fn has_events_to_fan_out(&self, horizon: Option<i64>) -> Result<bool, StorageError> {
        let backend = self.reader.get_database_backend();
        let (sql, values): (&str, Vec<Value>) = match (self.backend, horizon) {
            (Backend::Postgres, Some(horizon)) => (
                "SELECT 1 AS one FROM share_events e, webhook_fanout f WHERE f.id = 1 \
                 AND (e.id > f.newest_id OR ((e.tx, e.id) > (f.cursor_tx, f.cursor_id) \
                 AND e.tx < $1)) LIMIT 1",
                vec![horizon.into()],
            ),
            (Backend::Postgres, None) => return Ok(false),
            (Backend::Sqlite, _) => (
                "SELECT 1 AS one FROM share_events e, webhook_fanout f WHERE f.id = 1 \
                 AND e.id > f.cursor_id LIMIT 1",
                Vec::new(),
            ),
        };
        let row = self
            .reader
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    /// Fans out up to `limit` share events after the stored position: each becomes the
    /// deliveries `build` makes of it (with everyone it concerns), and the position moves past
    /// them, in one transaction. `horizon` is [`Store::outbox_horizon`] read before the call
    /// (PostgreSQL). How many events were read; 0 when there is nothing new. Events concerning
    /// no active subscription are passed over: an inactive webhook's are not kept for when it
    /// is turned back on, and a webhook made later only gets events written after it. (The
    /// engine calls this only while some webhook exists.)
    pub async fn fan_out_webhooks(
        &self,
        horizon: Option<i64>,
        limit: u64,
        build: impl Fn(&FanoutEvent) -> Vec<NewDelivery>,
    ) -> Result<u64, StorageError> {
        if !self.has_events_to_fan_out(horizon).await? {
            return Ok(0);
        }
        let tx = self.write_tx().await?;
        let backend = tx.get_database_backend();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let position = tx
            .query_one_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT cursor_tx, cursor_id, newest_id FROM webhook_fanout WHERE id = 1{lock}"
                ),
            ))
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("webhook fan-out position"))?;
        let mut cursor_tx: i64 = position.try_get("", "cursor_tx").map_err(classify)?;
        let mut cursor_id: i64 = position.try_get("", "cursor_id").map_err(classify)?;
        let mut newest_id: i64 = position.try_get("", "newest_id").map_err(classify)?;
        let limit_value = Value::from(i64::try_from(limit).unwrap_or(i64::MAX));
        let after = match self.backend {
            Backend::Postgres => newest_id,
            Backend::Sqlite => cursor_id,
        };
        let mut rows = tx
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                new_events_sql(self.backend),
                [after.into(), limit_value.clone()],
            ))
            .await
            .map_err(classify)?;
        let mut read = rows.len();
        if let Some(last) = rows.last() {
            let id: i64 = last.try_get("", "id").map_err(classify)?;
            newest_id = newest_id.max(id);
            if self.backend == Backend::Sqlite {
                cursor_id = id;
            }
        }
        if let (Backend::Postgres, Some(horizon)) = (self.backend, horizon) {
            let finals = tx
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    FINAL_EVENTS,
                    [
                        cursor_tx.into(),
                        cursor_id.into(),
                        horizon.into(),
                        limit_value,
                    ],
                ))
                .await
                .map_err(classify)?;
            read = read.max(finals.len());
            if let Some(last) = finals.last() {
                cursor_tx = last.try_get("", "tx").map_err(classify)?;
                cursor_id = last.try_get("", "id").map_err(classify)?;
            }
            rows.extend(finals);
        }
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut seen = BTreeSet::new();
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let event = share_events::Model::from_query_result(row, "")
                .map_err(classify)
                .and_then(event_record)?;
            if seen.insert(event.id) {
                events.push(event);
            }
        }
        // Who had endpoints on each unshared model: other projects are told.
        let unshared: BTreeSet<ModelId> = events
            .iter()
            .filter(|e| e.action == ShareAction::Unshare)
            .map(|e| e.model_id)
            .collect();
        let mut endpoints_of: BTreeMap<ModelId, BTreeMap<ProjectId, Vec<EndpointId>>> =
            BTreeMap::new();
        if !unshared.is_empty() {
            let rows = endpoints::Entity::find()
                .filter(endpoints::Column::ModelId.is_in(unshared.iter().map(|m| m.as_uuid())))
                .all(&tx)
                .await
                .map_err(classify)?;
            for row in rows {
                endpoints_of
                    .entry(ModelId::from_uuid(row.model_id))
                    .or_default()
                    .entry(super::super::project_id(&row.project_id)?)
                    .or_default()
                    .push(EndpointId::from_uuid(row.id));
            }
        }
        let projects: BTreeSet<String> = events
            .iter()
            .map(|e| e.project_id.as_str().to_owned())
            .chain(
                endpoints_of
                    .values()
                    .flat_map(|by_project| by_project.keys().map(|p| p.as_str().to_owned())),
            )
            .collect();
        let hooks = webhooks::Entity::find()
            .filter(webhooks::Column::Active.eq(true))
            .filter(webhooks::Column::ProjectId.is_in(projects))
            .all(&tx)
            .await
            .map_err(classify)?
            .into_iter()
            .map(webhook_record)
            .collect::<Result<Vec<_>, _>>()?;
        let mut deliveries = Vec::new();
        for event in events {
            let input = FanoutInput { at: event.at };
            let owner_webhooks = subscribers(&hooks, &event.project_id, &input);
            let endpoint_projects = endpoints_of
                .get(&event.model_id)
                .filter(|_| event.action == ShareAction::Unshare)
                .map(|by_project| {
                    by_project
                        .iter()
                        .filter(|(project, _)| **project != event.project_id)
                        .map(|(project, ids)| {
                            let mut endpoint_ids = ids.clone();
                            endpoint_ids.sort();
                            EndpointProject {
                                project_id: project.clone(),
                                endpoint_ids,
                                webhooks: subscribers(&hooks, project, &input),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let fanout = FanoutEvent {
                event,
                owner_webhooks,
                endpoint_projects,
            };
            deliveries.extend(build(&fanout));
        }
        let now = chrono::Utc::now();
        for chunk in deliveries.chunks(100) {
            let rows = chunk
                .iter()
                .cloned()
                .map(|new| delivery_row(uuid::Uuid::now_v7(), new, now));
            webhook_deliveries::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    webhook_deliveries::Column::WebhookId,
                    webhook_deliveries::Column::FanoutKey,
                ])
                .exec_without_returning(&tx)
                .await
                .map_err(classify)?;
        }
        let advance = match self.backend {
            Backend::Postgres => {
                "UPDATE webhook_fanout SET cursor_tx = $1, cursor_id = $2, newest_id = $3 WHERE id = 1"
            }
            Backend::Sqlite => {
                "UPDATE webhook_fanout SET cursor_tx = ?, cursor_id = ?, newest_id = ? WHERE id = 1"
            }
        };
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            advance,
            [cursor_tx.into(), cursor_id.into(), newest_id.into()],
        ))
        .await
        .map_err(classify)?;
        commit(tx).await?;
        Ok(u64::try_from(read).unwrap_or(u64::MAX))
    }
}
