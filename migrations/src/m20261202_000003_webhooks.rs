//! Webhook subscriptions, their deliveries, and where the fan-out from the outbox stands.
//!
//! `webhooks` holds one row per subscription. `secret` (and `previous_secret`, which keeps
//! signing until `previous_secret_until` after a rotation) is the signing secret encrypted by
//! the service (never the secret itself). `events` is a JSON array of event types.
//! `failed_events` counts the events in a row whose every attempt failed; at the configured
//! limit the webhook is set inactive.
//!
//! `webhook_deliveries` holds one row per event per webhook: the event's body as sent (the same
//! bytes on every attempt), its state, and the claim (`claim_token`, `claimed_until`) of the
//! instance delivering it now. `fanout_key` is unique per webhook: the event id for a delivery
//! made from the outbox, so that fanning an event out twice makes one delivery.
//!
//! `webhook_fanout` is one row: the outbox positions up to which share events have been turned
//! into deliveries: `(cursor_tx, cursor_id)` in the gap-free order of final events (`id` alone
//! on SQLite), and on PostgreSQL `newest_id`, the highest id read so far (a fast path that does
//! not wait for older transactions to end). Both start at the newest event when the table is
//! made: no subscription existed before, so nothing earlier is owed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    ProjectId,
    Url,
    Events,
    Description,
    Active,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    FailedEvents,
    CreatedAt,
    CreatedByUserId,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    ProjectId,
    EventId,
    EventType,
    Payload,
    FanoutKey,
    Attempt,
    Status,
    ResponseStatus,
    DurationMs,
    Error,
    AttemptedAt,
    NextAttemptAt,
    ClaimToken,
    ClaimedUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookFanout {
    Table,
    Id,
    CursorTx,
    CursorId,
    NewestId,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(pk_uuid(Webhooks::Id))
                    .col(text(Webhooks::ProjectId))
                    .col(text(Webhooks::Url))
                    .col(text(Webhooks::Events))
                    .col(text(Webhooks::Description))
                    .col(boolean(Webhooks::Active))
                    .col(text(Webhooks::Secret))
                    .col(text_null(Webhooks::PreviousSecret))
                    .col(timestamp_with_time_zone_null(Webhooks::PreviousSecretUntil))
                    .col(integer(Webhooks::FailedEvents).default(0))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(uuid(Webhooks::CreatedByUserId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhooks_project")
                            .from(Webhooks::Table, Webhooks::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_project_created")
                    .table(Webhooks::Table)
                    .col(Webhooks::ProjectId)
                    .col(Webhooks::CreatedAt)
                    .col(Webhooks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(text(WebhookDeliveries::ProjectId))
                    .col(text(WebhookDeliveries::EventId))
                    .col(text(WebhookDeliveries::EventType))
                    .col(text(WebhookDeliveries::Payload))
                    .col(text(WebhookDeliveries::FanoutKey))
                    .col(integer(WebhookDeliveries::Attempt).default(0))
                    .col(text(WebhookDeliveries::Status))
                    .col(integer_null(WebhookDeliveries::ResponseStatus))
                    .col(big_integer_null(WebhookDeliveries::DurationMs))
                    .col(text_null(WebhookDeliveries::Error))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::AttemptedAt,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(uuid_null(WebhookDeliveries::ClaimToken))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::ClaimedUntil,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        // One delivery per event per webhook, however often the event is fanned out.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_fanout")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::FanoutKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The engine's claim: pending rows by when they are due.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // Deliveries in flight (under a live lease), counted per webhook at each claim: only
        // claimed rows have a lease, so the count reads those and not the backlog.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_claimed")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::ClaimedUntil)
                    .to_owned(),
            )
            .await?;
        // A webhook's deliveries, newest first (the listing's order).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_created")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::CreatedAt)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookFanout::Table)
                    .col(integer(WebhookFanout::Id).primary_key())
                    .col(big_integer(WebhookFanout::CursorTx))
                    .col(big_integer(WebhookFanout::CursorId))
                    .col(big_integer(WebhookFanout::NewestId))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO webhook_fanout (id, cursor_tx, cursor_id, newest_id) \
                 SELECT 1, COALESCE(MAX(tx), 0), COALESCE(MAX(id), 0), COALESCE(MAX(id), 0) \
                 FROM share_events",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_fanout", "webhook_deliveries", "webhooks"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
