//! Idempotency keys: the first response to a POST sent with an `Idempotency-Key`, kept for a
//! day so that a retry gets it back instead of running the request again.
//!
//! A row is claimed before the request runs (`response_status` null, `locked_until` the lease of
//! the request running it) and completed with the response after. Keys are scoped to the API key
//! that sent them, and go with it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    ApiKeyId,
    Key,
    Fingerprint,
    LockedUntil,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::ApiKeyId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Fingerprint))
                    .col(timestamp_with_time_zone(IdempotencyKeys::LockedUntil))
                    .col(integer_null(IdempotencyKeys::ResponseStatus))
                    .col(text_null(IdempotencyKeys::ResponseHeaders))
                    .col(blob_null(IdempotencyKeys::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::ApiKeyId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_api_key")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::ApiKeyId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::NoAction),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
