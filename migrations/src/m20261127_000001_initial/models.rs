//! The catalog's tables: models, the endpoints serving them and the share-event outbox.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::tenants::Projects;
use super::{fk, index, unique_index};

#[derive(DeriveIden)]
pub(super) enum Models {
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
pub(super) enum Endpoints {
    Table,
    Id,
    ProjectId,
    Slug,
    ModelId,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(super) enum ShareEvents {
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

/// The models of a project, indexed by project, creation time and id (the listing's order) and by
/// `shared`; a project with models cannot be deleted.
pub(super) async fn create_models(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(index(
            "idx_models_project_created",
            Models::Table,
            [Models::ProjectId, Models::CreatedAt, Models::Id],
        ))
        .await?;
    manager
        .create_index(index("idx_models_shared", Models::Table, [Models::Shared]))
        .await?;
    Ok(())
}

/// The endpoints serving a model: slugs unique per project, indexed by project, creation time and
/// id (the listing's order) and by model; deleted with their project, and a model with endpoints
/// cannot be deleted.
pub(super) async fn create_endpoints(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(unique_index(
            "uq_endpoints_project_slug",
            Endpoints::Table,
            [Endpoints::ProjectId, Endpoints::Slug],
        ))
        .await?;
    manager
        .create_index(index(
            "idx_endpoints_project_created",
            Endpoints::Table,
            [Endpoints::ProjectId, Endpoints::CreatedAt, Endpoints::Id],
        ))
        .await?;
    manager
        .create_index(index(
            "idx_endpoints_model",
            Endpoints::Table,
            [Endpoints::ModelId],
        ))
        .await?;
    Ok(())
}

/// The share-event outbox: one row per share or unshare, numbered in order, indexed by model then
/// number; a model with events cannot be deleted.
pub(super) async fn create_share_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .create_index(index(
            "idx_share_events_model_id",
            ShareEvents::Table,
            [ShareEvents::ModelId, ShareEvents::Id],
        ))
        .await?;
    Ok(())
}
