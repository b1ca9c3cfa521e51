//! The tenants' tables: accounts and their features, projects, users, memberships and API keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{fk, index, unique_index};

#[derive(DeriveIden)]
pub(super) enum Accounts {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(super) enum AccountFeatures {
    Table,
    AccountId,
    Feature,
}

#[derive(DeriveIden)]
pub(super) enum Projects {
    Table,
    Id,
    AccountId,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(super) enum Users {
    Table,
    Id,
    AccountId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(super) enum Memberships {
    Table,
    ProjectId,
    UserId,
    Role,
}

#[derive(DeriveIden)]
pub(super) enum ApiKeys {
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

/// The accounts (the tenants), indexed by name and creation time.
pub(super) async fn create_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(index(
            "idx_accounts_name",
            Accounts::Table,
            [Accounts::Name, Accounts::CreatedAt],
        ))
        .await?;
    Ok(())
}

/// The features enabled per account; deleted with their account.
pub(super) async fn create_account_features(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
    Ok(())
}

/// The projects of an account: unique slugs, indexed by account; deleted with their account.
pub(super) async fn create_projects(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(unique_index(
            "uq_projects_slug",
            Projects::Table,
            [Projects::Slug],
        ))
        .await?;
    manager
        .create_index(index(
            "idx_projects_account",
            Projects::Table,
            [Projects::AccountId],
        ))
        .await?;
    Ok(())
}

/// The users of an account, one per email in the account; deleted with their account.
pub(super) async fn create_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(unique_index(
            "uq_users_account_email",
            Users::Table,
            [Users::AccountId, Users::Email],
        ))
        .await?;
    Ok(())
}

/// Each user's role in a project, indexed by user; deleted with the project or the user.
pub(super) async fn create_memberships(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(index(
            "idx_memberships_user",
            Memberships::Table,
            [Memberships::UserId],
        ))
        .await?;
    Ok(())
}

/// The API keys of a user in a project: the key's hash (unique), indexed by project and by user;
/// deleted with the project or the user.
pub(super) async fn create_api_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(unique_index(
            "uq_api_keys_key_hash",
            ApiKeys::Table,
            [ApiKeys::KeyHash],
        ))
        .await?;
    manager
        .create_index(index(
            "idx_api_keys_project",
            ApiKeys::Table,
            [ApiKeys::ProjectId],
        ))
        .await?;
    manager
        .create_index(index(
            "idx_api_keys_user",
            ApiKeys::Table,
            [ApiKeys::UserId],
        ))
        .await?;
    Ok(())
}
