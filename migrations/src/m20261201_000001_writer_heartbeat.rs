//! The readiness heartbeat: one row that `GET /readyz` rewrites, so that readiness proves a
//! real write commits through the writer.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WriterHeartbeat {
    Table,
    Id,
    Beats,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WriterHeartbeat::Table)
                    .col(integer(WriterHeartbeat::Id).primary_key())
                    .col(big_integer(WriterHeartbeat::Beats))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WriterHeartbeat::Table).to_owned())
            .await
    }
}
