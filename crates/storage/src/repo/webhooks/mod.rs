//! Webhook subscriptions and their deliveries.
//!
//! * [`subscriptions`](self): create, list, read, delete, re-enable, rotate the secret.
//! * [`deliveries`]: what the delivery engine claims and records, and what the API lists.
//! * [`fanout`]: turning committed share events into deliveries, from the outbox.
//!
//! The store never sees a signing secret in the clear: the API seals it before it is written.

mod deliveries;
mod fanout;

use domain::{EventType, ProjectId, Timestamp, WebhookId, now};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{newest_first, project_id, to_dt, to_ts};
use crate::Store;
use crate::entities::webhooks;
use crate::error::{StorageError, classify, classify_as, corrupt};
use crate::records::{NewWebhook, Page, Webhook};

/// Event types as stored: a JSON array of their names.
fn events_text(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    serde_json::Value::from(names).to_string()
}

fn events_of(id: uuid::Uuid, text: &str) -> Result<Vec<EventType>, StorageError> {
    let bad = |e: String| corrupt(format!("stored webhook {id}: events {e}"));
    let names: Vec<String> = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    names
        .iter()
        .map(|n| n.parse::<EventType>().map_err(|e| bad(e.to_string())))
        .collect()
}

pub(crate) fn webhook_record(row: webhooks::Model) -> Result<Webhook, StorageError> {
    Ok(Webhook {
        id: WebhookId::from_uuid(row.id),
        project_id: project_id(&row.project_id)?,
        events: events_of(row.id, &row.events)?,
        url: row.url,
        description: row.description,
        active: row.active,
        sealed_secret: row.secret,
        previous_secret: row.previous_secret.zip(row.previous_secret_until),
        failed_events: row.failed_events,
        created_at: to_ts(row.created_at),
    })
}

impl Store {
    /// Creates an active subscription.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<Webhook, StorageError> {
        let row = webhooks::Model {
            id: WebhookId::generate().as_uuid(),
            project_id: new.project_id.as_str().to_owned(),
            url: new.url,
            events: events_text(&new.events),
            description: new.description,
            active: true,
            secret: new.sealed_secret,
            previous_secret: None,
            previous_secret_until: None,
            failed_events: 0,
            created_at: to_dt(now()),
            created_by_user_id: new.created_by_user_id.as_uuid(),
        };
        webhooks::Entity::insert(webhooks::ActiveModel {
            id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            url: Set(row.url.clone()),
            events: Set(row.events.clone()),
            description: Set(row.description.clone()),
            active: Set(row.active),
            secret: Set(row.secret.clone()),
            previous_secret: Set(None),
            previous_secret_until: Set(None),
            failed_events: Set(0),
            created_at: Set(row.created_at),
            created_by_user_id: Set(row.created_by_user_id),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(|e| classify_as(e, "webhook id", "project"))?;
        webhook_record(row)
    }

    /// Whether any project has a subscription (active or not).
    pub async fn has_webhooks(&self) -> Result<bool, StorageError> {
        let any = webhooks::Entity::find()
            .one(&self.reader)
            .await
            .map_err(classify)?;
        Ok(any.is_some())
    }

    /// How many subscriptions the project has.
    pub async fn count_webhooks(&self, project_id: &ProjectId) -> Result<u64, StorageError> {
        webhooks::Entity::find()
            .filter(webhooks::Column::ProjectId.eq(project_id.as_str()))
            .count(&self.reader)
            .await
            .map_err(classify)
    }

    /// The project's subscriptions, newest first, after the cursor.
    pub async fn list_webhooks(
        &self,
        project_id: &ProjectId,
        after: Option<(Timestamp, WebhookId)>,
        limit: u64,
    ) -> Result<Page<Webhook>, StorageError> {
        let query = newest_first(
            webhooks::Entity::find().filter(webhooks::Column::ProjectId.eq(project_id.as_str())),
            webhooks::Column::CreatedAt,
            webhooks::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, webhook_record).await
    }

    /// The project's subscription `id`, if there is one.
    pub async fn get_webhook(
        &self,
        project_id: &ProjectId,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StorageError> {
        webhooks::Entity::find_by_id(id.as_uuid())
            .filter(webhooks::Column::ProjectId.eq(project_id.as_str()))
            .one(&self.writer)
            .await
            .map_err(classify)?
            .map(webhook_record)
            .transpose()
    }

    /// Deletes the project's subscription `id` and its deliveries; whether it existed.
    pub async fn delete_webhook(
        &self,
        project_id: &ProjectId,
        id: WebhookId,
    ) -> Result<bool, StorageError> {
        let deleted = webhooks::Entity::delete_many()
            .filter(webhooks::Column::Id.eq(id.as_uuid()))
            .filter(webhooks::Column::ProjectId.eq(project_id.as_str()))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        Ok(deleted.rows_affected > 0)
    }

    /// Sets the subscription active or not; re-enabling starts its count of failed events
    /// afresh. The subscription as it is now, if it exists.
    pub async fn set_webhook_active(
        &self,
        project_id: &ProjectId,
        id: WebhookId,
        active: bool,
    ) -> Result<Option<Webhook>, StorageError> {
        let mut update = webhooks::Entity::update_many()
            .col_expr(webhooks::Column::Active, Expr::value(active))
            .filter(webhooks::Column::Id.eq(id.as_uuid()))
            .filter(webhooks::Column::ProjectId.eq(project_id.as_str()));
        if active {
            update = update.col_expr(webhooks::Column::FailedEvents, Expr::value(0));
        }
        update.exec(&self.writer).await.map_err(classify)?;
        self.get_webhook(project_id, id).await
    }

    /// Replaces the signing secret with `sealed_secret`; the former one keeps signing until
    /// `previous_until`. The subscription as it is now, if it exists.
    pub async fn rotate_webhook_secret(
        &self,
        project_id: &ProjectId,
        id: WebhookId,
        sealed_secret: String,
        previous_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Webhook>, StorageError> {
        webhooks::Entity::update_many()
            .col_expr(
                webhooks::Column::PreviousSecret,
                Expr::col(webhooks::Column::Secret),
            )
            .col_expr(
                webhooks::Column::PreviousSecretUntil,
                Expr::value(previous_until),
            )
            .col_expr(webhooks::Column::Secret, Expr::value(sealed_secret))
            .filter(webhooks::Column::Id.eq(id.as_uuid()))
            .filter(webhooks::Column::ProjectId.eq(project_id.as_str()))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        self.get_webhook(project_id, id).await
    }
}
