//! The standing outbox: one row per change to what a key may do, so every instance's key cache
//! can forget what it holds about it.
//!
//! A row names what changed, through whichever of its columns are set: a key (`key_id`: revoked),
//! a membership (`project_id` and `user_id`: a role given, changed or taken away), or an account
//! (`account_id`: a feature switched). It is written in the transaction that makes the change,
//! so a change that commits always leaves its row and a rolled-back one never does.
//!
//! `tx` is the writing transaction on PostgreSQL (as in `share_events`), so that a tail reads
//! every row gap-free whatever order transactions commit in; 0 on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StandingEvents {
    Table,
    Id,
    KeyId,
    ProjectId,
    UserId,
    AccountId,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StandingEvents::Table)
                    .col(big_pk_auto(StandingEvents::Id))
                    .col(uuid_null(StandingEvents::KeyId))
                    .col(text_null(StandingEvents::ProjectId))
                    .col(uuid_null(StandingEvents::UserId))
                    .col(uuid_null(StandingEvents::AccountId))
                    .col(timestamp_with_time_zone(StandingEvents::At))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            // As `share_events.tx`: a default that calls a function is PostgreSQL's own syntax.
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE standing_events ADD COLUMN tx bigint NOT NULL \
                     DEFAULT (pg_current_xact_id()::text::bigint)",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX idx_standing_events_tx_id ON standing_events (tx, id)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "ALTER TABLE standing_events ADD COLUMN tx bigint NOT NULL DEFAULT 0",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StandingEvents::Table).to_owned())
            .await
    }
}
