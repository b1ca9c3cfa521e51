//! Deliveries: what the API lists and redelivers, what the engine claims and records.
//!
//! # Each attempt by one instance
//!
//! An engine claims due deliveries by setting a claim token and a lease (`claimed_until`) on
//! pending rows not held under a live lease. On PostgreSQL the candidates are read
//! `FOR UPDATE SKIP LOCKED`, under a transaction-scoped advisory lock that makes claims of
//! several instances take turns (each claim is a few milliseconds), so the count of deliveries
//! in flight per webhook, which bounds its concurrency, is exact across instances. On SQLite
//! the single writer (across processes, the file's write lock) gives the same. Only the holder
//! of the token records the attempt; an engine that dies mid-attempt leaves the lease to run
//! out, and another claims the delivery after it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::{DeliveryId, DeliveryStatus, EventType, Timestamp, WebhookId, now};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement, Value,
};

use super::super::{commit, newest_first, project_id, to_dt, to_ts};
use crate::entities::{webhook_deliveries, webhooks};
use crate::error::{StorageError, classify, corrupt};
use crate::records::{
    AttemptNext, Attempted, ClaimedDelivery, Delivery, NewDelivery, Page, Recorded,
};
use crate::{Backend, Store};

/// Serializes claims across PostgreSQL instances (`pg_advisory_xact_lock`).
const CLAIM_LOCK: i64 = 0x6d73_7768_6b63_6c6d;

pub(crate) fn delivery_record(row: &webhook_deliveries::Model) -> Result<Delivery, StorageError> {
    let bad = |e: domain::UnknownValue| corrupt(format!("stored delivery {}: {e}", row.id));
    let status = row.status.parse::<DeliveryStatus>().map_err(bad)?;
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.id),
        webhook_id: WebhookId::from_uuid(row.webhook_id),
        event_id: row.event_id.clone(),
        event_type: row.event_type.parse::<EventType>().map_err(bad)?,
        attempt: row.attempt,
        status,
        response_status: row.response_status,
        duration_ms: row.duration_ms,
        error: row.error.clone(),
        attempted_at: row.attempted_at.map(to_ts),
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| to_ts(row.next_attempt_at)),
        created_at: to_ts(row.created_at),
    })
}

/// The row of a new delivery, due at `due`.
pub(crate) fn delivery_row(
    id: uuid::Uuid,
    new: NewDelivery,
    due: DateTime<Utc>,
) -> webhook_deliveries::ActiveModel {
    webhook_deliveries::ActiveModel {
        id: Set(id),
        webhook_id: Set(new.webhook_id.as_uuid()),
        project_id: Set(new.project_id.as_str().to_owned()),
        event_id: Set(new.event_id),
        event_type: Set(new.event_type.as_str().to_owned()),
        payload: Set(new.payload),
        fanout_key: Set(new.fanout_key),
        attempt: Set(0),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        response_status: Set(None),
        duration_ms: Set(None),
        error: Set(None),
        attempted_at: Set(None),
        next_attempt_at: Set(due),
        claim_token: Set(None),
        claimed_until: Set(None),
        created_at: Set(to_dt(now())),
    }
}

/// Pending, due at `at`, and not held under a live lease.
fn due_sql(backend: Backend, lock: bool) -> &'static str {
    match (backend, lock) {
        (Backend::Postgres, true) => {
            "SELECT d.id, d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.claimed_until IS NULL OR d.claimed_until < $2) AND (w.active OR d.event_type = 'ping') \
             ORDER BY d.next_attempt_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED"
        }
        (Backend::Postgres, false) => {
            "SELECT d.id, d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.claimed_until IS NULL OR d.claimed_until < $2) AND (w.active OR d.event_type = 'ping') \
             ORDER BY d.next_attempt_at, d.id LIMIT $3"
        }
        (Backend::Sqlite, _) => {
            "SELECT d.id, d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ? \
             AND (d.claimed_until IS NULL OR d.claimed_until < ?) AND (w.active OR d.event_type = 'ping') \
             ORDER BY d.next_attempt_at, d.id LIMIT ?"
        }
    }
}

/// Deliveries held under a live lease, per webhook.
fn in_flight_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT webhook_id, COUNT(*) AS n FROM webhook_deliveries \
             WHERE claimed_until >= $1 AND status = 'pending' GROUP BY webhook_id"
        }
        Backend::Sqlite => {
            "SELECT webhook_id, COUNT(*) AS n FROM webhook_deliveries INDEXED BY \
             idx_webhook_deliveries_claimed WHERE claimed_until >= ? AND status = 'pending' \
             GROUP BY webhook_id"
        }
    }
}

impl Store {
    /// Makes a delivery due now (a ping, or a redelivery).
    pub async fn insert_delivery(&self, new: NewDelivery) -> Result<Delivery, StorageError> {
        // Time-ordered, so that deliveries made in one second list in the order made.
        let id = uuid::Uuid::now_v7();
        webhook_deliveries::Entity::insert(delivery_row(id, new, chrono::Utc::now()))
            .exec_without_returning(&self.writer)
            .await
            .map_err(classify)?;
        let row = webhook_deliveries::Entity::find_by_id(id)
            .one(&self.writer)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("delivery"))?;
        delivery_record(&row)
    }

    /// The webhook's deliveries, newest first, after the cursor.
    pub async fn list_deliveries(
        &self,
        webhook_id: WebhookId,
        after: Option<(Timestamp, DeliveryId)>,
        limit: u64,
    ) -> Result<Page<Delivery>, StorageError> {
        let query = newest_first(
            webhook_deliveries::Entity::find()
                .filter(webhook_deliveries::Column::WebhookId.eq(webhook_id.as_uuid())),
            webhook_deliveries::Column::CreatedAt,
            webhook_deliveries::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, |row| delivery_record(&row))
            .await
    }

    /// Sends the webhook's delivery `id` again, as a new delivery of the same event (same
    /// event id and body), due now. `None` if the webhook has no such delivery.
    pub async fn redeliver(
        &self,
        webhook_id: WebhookId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>, StorageError> {
        let Some(original) = webhook_deliveries::Entity::find_by_id(id.as_uuid())
            .filter(webhook_deliveries::Column::WebhookId.eq(webhook_id.as_uuid()))
            .one(&self.reader)
            .await
            .map_err(classify)?
        else {
            return Ok(None);
        };
        let event_type = original
            .event_type
            .parse::<EventType>()
            .map_err(|e| corrupt(format!("stored delivery {}: {e}", original.id)))?;
        let new = NewDelivery {
            webhook_id,
            project_id: project_id(&original.project_id)?,
            event_id: original.event_id,
            event_type,
            payload: original.payload,
            fanout_key: format!("redelivery:{}", uuid::Uuid::new_v4().simple()),
        };
        self.insert_delivery(new).await.map(Some)
    }

    /// Whether any delivery is due at `at` and free to claim: a read, so that engines with
    /// nothing to do never take the writer.
    pub async fn has_due_deliveries(&self, at: DateTime<Utc>) -> Result<bool, StorageError> {
        let statement = Statement::from_sql_and_values(
            self.reader.get_database_backend(),
            due_sql(self.backend, false),
            [Value::from(at), Value::from(at), Value::from(1_i64)],
        );
        let row = self
            .reader
            .query_one_raw(statement)
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    /// Deletes deliveries made before `before` that are finished (succeeded or failed); pending
    /// ones stay whatever their age. How many went.
    pub async fn delete_finished_deliveries(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let deleted = webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::Status.ne(DeliveryStatus::Pending.as_str()))
            .filter(webhook_deliveries::Column::CreatedAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        Ok(deleted.rows_affected)
    }

    /// Deliveries still pending (due or not), for the queue-depth gauge.
    pub async fn pending_deliveries(&self) -> Result<u64, StorageError> {
        use sea_orm::PaginatorTrait;
        webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .count(&self.reader)
            .await
            .map_err(classify)
    }

    /// Claims up to `limit` deliveries due at `at` for `claim`, oldest due first, with at most
    /// `per_webhook` in flight per webhook (counting those other claims hold): see the
    /// module's notes.
    pub async fn claim_deliveries(
        &self,
        at: DateTime<Utc>,
        token: uuid::Uuid,
        until: DateTime<Utc>,
        limit: u64,
        per_webhook: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let tx = self.write_tx().await?;
        let backend = tx.get_database_backend();
        if self.backend == Backend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                backend,
                "SELECT pg_advisory_xact_lock($1)",
                [CLAIM_LOCK.into()],
            ))
            .await
            .map_err(classify)?;
        }
        // Read past what other webhooks may take, so that one at its bound does not starve them.
        let scan = i64::try_from(limit.saturating_mul(4)).unwrap_or(i64::MAX);
        let candidates = tx
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                due_sql(self.backend, true),
                [Value::from(at), Value::from(at), Value::from(scan)],
            ))
            .await
            .map_err(classify)?;
        if candidates.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let mut in_flight: HashMap<uuid::Uuid, i64> = HashMap::new();
        for row in tx
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                in_flight_sql(self.backend),
                [Value::from(at)],
            ))
            .await
            .map_err(classify)?
        {
            let webhook: uuid::Uuid = row.try_get("", "webhook_id").map_err(classify)?;
            let n: i64 = row.try_get("", "n").map_err(classify)?;
            in_flight.insert(webhook, n);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut picked = Vec::new();
        for row in &candidates {
            if picked.len() >= limit {
                break;
            }
            let id: uuid::Uuid = row.try_get("", "id").map_err(classify)?;
            let webhook: uuid::Uuid = row.try_get("", "webhook_id").map_err(classify)?;
            let busy = in_flight.entry(webhook).or_insert(0);
            if *busy < i64::from(per_webhook) {
                *busy += 1;
                picked.push(id);
            }
        }
        if picked.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        webhook_deliveries::Entity::update_many()
            .col_expr(webhook_deliveries::Column::ClaimToken, Expr::value(token))
            .col_expr(webhook_deliveries::Column::ClaimedUntil, Expr::value(until))
            .filter(webhook_deliveries::Column::Id.is_in(picked.clone()))
            .exec(&tx)
            .await
            .map_err(classify)?;
        let rows = webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::Id.is_in(picked))
            .all(&tx)
            .await
            .map_err(classify)?;
        let hooks: HashMap<uuid::Uuid, webhooks::Model> = webhooks::Entity::find()
            .filter(webhooks::Column::Id.is_in(rows.iter().map(|r| r.webhook_id)))
            .all(&tx)
            .await
            .map_err(classify)?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        commit(tx).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(hook) = hooks.get(&row.webhook_id) else {
                continue;
            };
            claimed.push(ClaimedDelivery {
                delivery: delivery_record(&row)?,
                payload: row.payload,
                url: hook.url.clone(),
                sealed_secret: hook.secret.clone(),
                previous_secret: hook.previous_secret.clone().zip(hook.previous_secret_until),
            });
        }
        claimed.sort_by_key(|c| (c.delivery.next_attempt_at, c.delivery.id));
        Ok(claimed)
    }

    /// Records an attempt of delivery `id` made under `claim_token`, and what it means for its
    /// webhook: a success starts its count of failed events afresh; a delivery with no attempt
    /// left adds one, and at `disable_after` the webhook is set inactive.
    pub async fn record_attempt(
        &self,
        id: DeliveryId,
        claim_token: uuid::Uuid,
        attempted: &Attempted,
        disable_after: u32,
    ) -> Result<Recorded, StorageError> {
        let tx = self.write_tx().await?;
        let status = match attempted.next {
            AttemptNext::Succeeded => DeliveryStatus::Succeeded,
            AttemptNext::RetryAt(_) => DeliveryStatus::Pending,
            AttemptNext::Failed => DeliveryStatus::Failed,
        };
        let mut update = webhook_deliveries::Entity::update_many()
            .col_expr(
                webhook_deliveries::Column::Attempt,
                Expr::col(webhook_deliveries::Column::Attempt).add(1),
            )
            .col_expr(
                webhook_deliveries::Column::Status,
                Expr::value(status.as_str()),
            )
            .col_expr(
                webhook_deliveries::Column::ResponseStatus,
                Expr::value(attempted.response_status),
            )
            .col_expr(
                webhook_deliveries::Column::DurationMs,
                Expr::value(attempted.duration_ms),
            )
            .col_expr(
                webhook_deliveries::Column::Error,
                Expr::value(attempted.error.clone()),
            )
            .col_expr(
                webhook_deliveries::Column::AttemptedAt,
                Expr::value(attempted.at),
            )
            .col_expr(
                webhook_deliveries::Column::ClaimToken,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .col_expr(
                webhook_deliveries::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        if let AttemptNext::RetryAt(next) = attempted.next {
            update = update.col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(next));
        }
        let written = update
            .filter(webhook_deliveries::Column::Id.eq(id.as_uuid()))
            .filter(webhook_deliveries::Column::ClaimToken.eq(claim_token))
            .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(&tx)
            .await
            .map_err(classify)?;
        if written.rows_affected == 0 {
            tx.rollback().await?;
            return Ok(Recorded::NotHeld);
        }
        let webhook = webhook_deliveries::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .map(|row| row.webhook_id)
            .ok_or(StorageError::NotFound("delivery"))?;
        let mut recorded = Recorded::Written;
        match attempted.next {
            AttemptNext::Succeeded => {
                webhooks::Entity::update_many()
                    .col_expr(webhooks::Column::FailedEvents, Expr::value(0))
                    .filter(webhooks::Column::Id.eq(webhook))
                    .filter(webhooks::Column::FailedEvents.ne(0))
                    .exec(&tx)
                    .await
                    .map_err(classify)?;
            }
            AttemptNext::RetryAt(_) => {}
            AttemptNext::Failed => {
                webhooks::Entity::update_many()
                    .col_expr(
                        webhooks::Column::FailedEvents,
                        Expr::col(webhooks::Column::FailedEvents).add(1),
                    )
                    .filter(webhooks::Column::Id.eq(webhook))
                    .exec(&tx)
                    .await
                    .map_err(classify)?;
                let limit = i32::try_from(disable_after).unwrap_or(i32::MAX);
                let disabled = webhooks::Entity::update_many()
                    .col_expr(webhooks::Column::Active, Expr::value(false))
                    .filter(webhooks::Column::Id.eq(webhook))
                    .filter(webhooks::Column::Active.eq(true))
                    .filter(webhooks::Column::FailedEvents.gte(limit))
                    .exec(&tx)
                    .await
                    .map_err(classify)?;
                if disabled.rows_affected > 0 {
                    recorded = Recorded::Disabled;
                }
            }
        }
        commit(tx).await?;
        Ok(recorded)
    }
}
