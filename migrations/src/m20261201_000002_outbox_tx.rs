//! The outbox learns which transaction wrote each event, and keeps the server's own request id.
//!
//! On PostgreSQL, event ids are handed out when a row is inserted, not when its transaction
//! commits, so a tail that only follows ids can miss an event whose transaction commits late.
//! `tx` records the writing transaction (`pg_current_xact_id()`, filled by the column's
//! default, so no writer can forget it); a tail then treats an event as final once `tx` is
//! below the oldest transaction still running (`pg_snapshot_xmin`), which no later commit can
//! change. SQLite has one writer at a time, so its ids are already in commit order; there the
//! column is 0.
//!
//! `server_request_id` is the id the service gave the request, next to `request_id` (the
//! client's `x-request-id` when it sent a valid one).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ShareEvents {
    Table,
    ServerRequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            // A column default that calls a function is not expressible in sea-query's
            // portable builders; the statement is PostgreSQL's own.
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE share_events ADD COLUMN tx bigint NOT NULL \
                     DEFAULT (pg_current_xact_id()::text::bigint)",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX idx_share_events_tx_id ON share_events (tx, id)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "ALTER TABLE share_events ADD COLUMN tx bigint NOT NULL DEFAULT 0",
                )
                .await?;
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ShareEvents::Table)
                    .add_column(ColumnDef::new(ShareEvents::ServerRequestId).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS idx_share_events_tx_id")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE share_events DROP COLUMN server_request_id")
            .await?;
        db.execute_unprepared("ALTER TABLE share_events DROP COLUMN tx")
            .await?;
        Ok(())
    }
}
