//! Scheduled shares and unshares, and the share event's link to the schedule that wrote it.
//!
//! `schedules` holds one row per schedule. A runner claims due rows by setting `claim_token`
//! and `claimed_until` (a lease); a claim whose lease ran out may be taken over by another
//! instance. `status` is `pending` until the schedule ran or was cancelled. `result` and
//! `error` hold JSON text: the seed's response body, or the error object, as the API answered.
//!
//! `share_events.schedule_id` names the schedule whose run wrote the event (null otherwise);
//! indexed, so that a runner taking over a claim can tell whether the transition was already
//! written.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    ProjectId,
    ModelId,
    Action,
    At,
    Status,
    CreatedAt,
    CreatedByUserId,
    CreatedByKeyId,
    ResultAt,
    Result,
    Error,
    CancelledAt,
    ClaimToken,
    ClaimedUntil,
    Attempts,
}

#[derive(DeriveIden)]
enum ShareEvents {
    Table,
    ScheduleId,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(pk_uuid(Schedules::Id))
                    .col(text(Schedules::ProjectId))
                    .col(uuid(Schedules::ModelId))
                    .col(text(Schedules::Action))
                    .col(timestamp_with_time_zone(Schedules::At))
                    .col(text(Schedules::Status))
                    .col(timestamp_with_time_zone(Schedules::CreatedAt))
                    .col(uuid(Schedules::CreatedByUserId))
                    .col(uuid(Schedules::CreatedByKeyId))
                    .col(timestamp_with_time_zone_null(Schedules::ResultAt))
                    .col(text_null(Schedules::Result))
                    .col(text_null(Schedules::Error))
                    .col(timestamp_with_time_zone_null(Schedules::CancelledAt))
                    .col(uuid_null(Schedules::ClaimToken))
                    .col(timestamp_with_time_zone_null(Schedules::ClaimedUntil))
                    .col(integer(Schedules::Attempts).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schedules_project")
                            .from(Schedules::Table, Schedules::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::NoAction),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schedules_model")
                            .from(Schedules::Table, Schedules::ModelId)
                            .to(Models::Table, Models::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        // The runner's claim: due pending rows, oldest `at` first.
        manager
            .create_index(
                Index::create()
                    .name("idx_schedules_status_at")
                    .table(Schedules::Table)
                    .col(Schedules::Status)
                    .col(Schedules::At)
                    .to_owned(),
            )
            .await?;
        // A model's schedules, newest first (the listing's order).
        manager
            .create_index(
                Index::create()
                    .name("idx_schedules_model_created")
                    .table(Schedules::Table)
                    .col(Schedules::ModelId)
                    .col(Schedules::CreatedAt)
                    .col(Schedules::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ShareEvents::Table)
                    .add_column(ColumnDef::new(ShareEvents::ScheduleId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_share_events_schedule")
                    .table(ShareEvents::Table)
                    .col(ShareEvents::ScheduleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_share_events_schedule")
                    .table(ShareEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE share_events DROP COLUMN schedule_id")
            .await?;
        manager
            .drop_table(Table::drop().table(Schedules::Table).to_owned())
            .await
    }
}
