//! The initial schema: tenants, keys, models, endpoints and the share-event outbox.
//!
//! Timestamps are `timestamptz` on PostgreSQL and text on SQLite; the service only ever writes
//! whole-second UTC values, so text comparisons order them exactly.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AccountFeatures {
    Table,
    AccountId,
    Feature,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    AccountId,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    AccountId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    ProjectId,
    UserId,
    Role,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    ProjectId,
    UserId,
    KeyHash,
    DisplayPrefix,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
    ProjectId,
    Name,
    Description,
    Status,
    Architecture,
    ParameterCount,
    ContextLength,
    License,
    Tags,
    Shared,
    SharedAt,
    UnsharedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Endpoints {
    Table,
    Id,
    ProjectId,
    Slug,
    ModelId,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ShareEvents {
    Table,
    Id,
    ModelId,
    ProjectId,
    Action,
    ActorUserId,
    ApiKeyId,
    RequestId,
    At,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::NoAction)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(pk_uuid(Accounts::Id))
                    .col(text(Accounts::Name))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_name")
                    .table(Accounts::Table)
                    .col(Accounts::Name)
                    .col(Accounts::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountFeatures::Table)
                    .col(uuid(AccountFeatures::AccountId))
                    .col(text(AccountFeatures::Feature))
                    .primary_key(
                        Index::create()
                            .col(AccountFeatures::AccountId)
                            .col(AccountFeatures::Feature),
                    )
                    .foreign_key(&mut fk(
                        "fk_account_features_account",
                        (AccountFeatures::Table, AccountFeatures::AccountId),
                        (Accounts::Table, Accounts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(text(Projects::Id).primary_key())
                    .col(uuid(Projects::AccountId))
                    .col(text(Projects::Slug))
                    .col(text(Projects::Name))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_projects_account",
                        (Projects::Table, Projects::AccountId),
                        (Accounts::Table, Accounts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_projects_slug")
                    .table(Projects::Table)
                    .col(Projects::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_projects_account")
                    .table(Projects::Table)
                    .col(Projects::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::AccountId))
                    .col(text(Users::Email))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_users_account",
                        (Users::Table, Users::AccountId),
                        (Accounts::Table, Accounts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_users_account_email")
                    .table(Users::Table)
                    .col(Users::AccountId)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(text(Memberships::ProjectId))
                    .col(uuid(Memberships::UserId))
                    .col(text(Memberships::Role))
                    .primary_key(
                        Index::create()
                            .col(Memberships::ProjectId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(&mut fk(
                        "fk_memberships_project",
                        (Memberships::Table, Memberships::ProjectId),
                        (Projects::Table, Projects::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_user",
                        (Memberships::Table, Memberships::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(text(ApiKeys::ProjectId))
                    .col(uuid(ApiKeys::UserId))
                    .col(binary_len(ApiKeys::KeyHash, 32))
                    .col(text(ApiKeys::DisplayPrefix))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .foreign_key(&mut fk(
                        "fk_api_keys_project",
                        (ApiKeys::Table, ApiKeys::ProjectId),
                        (Projects::Table, Projects::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_api_keys_user",
                        (ApiKeys::Table, ApiKeys::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_api_keys_key_hash")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::KeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_project")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::ProjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_user")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Models::Table)
                    .col(pk_uuid(Models::Id))
                    .col(text(Models::ProjectId))
                    .col(text(Models::Name))
                    .col(text(Models::Description).default(""))
                    .col(text(Models::Status))
                    .col(text_null(Models::Architecture))
                    .col(big_integer_null(Models::ParameterCount))
                    .col(big_integer_null(Models::ContextLength))
                    .col(text_null(Models::License))
                    .col(text(Models::Tags).default("[]"))
                    .col(boolean(Models::Shared).default(false))
                    .col(timestamp_with_time_zone_null(Models::SharedAt))
                    .col(timestamp_with_time_zone_null(Models::UnsharedAt))
                    .col(big_integer(Models::Version).default(0))
                    .col(timestamp_with_time_zone(Models::CreatedAt))
                    .col(timestamp_with_time_zone(Models::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_models_project",
                        (Models::Table, Models::ProjectId),
                        (Projects::Table, Projects::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_models_project_created")
                    .table(Models::Table)
                    .col(Models::ProjectId)
                    .col(Models::CreatedAt)
                    .col(Models::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_models_shared")
                    .table(Models::Table)
                    .col(Models::Shared)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Endpoints::Table)
                    .col(pk_uuid(Endpoints::Id))
                    .col(text(Endpoints::ProjectId))
                    .col(text(Endpoints::Slug))
                    .col(uuid(Endpoints::ModelId))
                    .col(text(Endpoints::Status).default("active"))
                    .col(timestamp_with_time_zone(Endpoints::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_endpoints_project",
                        (Endpoints::Table, Endpoints::ProjectId),
                        (Projects::Table, Projects::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_endpoints_model",
                        (Endpoints::Table, Endpoints::ModelId),
                        (Models::Table, Models::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_endpoints_project_slug")
                    .table(Endpoints::Table)
                    .col(Endpoints::ProjectId)
                    .col(Endpoints::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_endpoints_project_created")
                    .table(Endpoints::Table)
                    .col(Endpoints::ProjectId)
                    .col(Endpoints::CreatedAt)
                    .col(Endpoints::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_endpoints_model")
                    .table(Endpoints::Table)
                    .col(Endpoints::ModelId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ShareEvents::Table)
                    .col(big_pk_auto(ShareEvents::Id))
                    .col(uuid(ShareEvents::ModelId))
                    .col(text(ShareEvents::ProjectId))
                    .col(text(ShareEvents::Action))
                    .col(uuid_null(ShareEvents::ActorUserId))
                    .col(uuid_null(ShareEvents::ApiKeyId))
                    .col(text(ShareEvents::RequestId))
                    .col(timestamp_with_time_zone(ShareEvents::At))
                    .foreign_key(&mut fk(
                        "fk_share_events_model",
                        (ShareEvents::Table, ShareEvents::ModelId),
                        (Models::Table, Models::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_share_events_model_id")
                    .table(ShareEvents::Table)
                    .col(ShareEvents::ModelId)
                    .col(ShareEvents::Id)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ShareEvents::Table.into_iden(),
            Endpoints::Table.into_iden(),
            Models::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Memberships::Table.into_iden(),
            Users::Table.into_iden(),
            Projects::Table.into_iden(),
            AccountFeatures::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
