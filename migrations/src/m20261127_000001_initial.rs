//! The initial schema: tenants, keys, models, endpoints and the share-event outbox.
//!
//! Timestamps are `timestamptz` on PostgreSQL and text on SQLite; the service only ever writes
//! whole-second UTC values, so text comparisons order them exactly.
//!
//! Each table is created, with its indexes, by its own function: the tenants' tables in
//! [`tenants`], the models, endpoints and share events in [`models`]. `up` calls them in the order
//! of the foreign keys, `down` drops the tables in the reverse order.
//!
//! This file stays the module's root (not `m20261127_000001_initial/mod.rs`): the migration's name,
//! recorded in `seaql_migrations`, is the stem of the file that derives [`DeriveMigrationName`].

mod models;
mod tenants;

use sea_orm_migration::prelude::*;

use models::{Endpoints, Models, ShareEvents};
use tenants::{AccountFeatures, Accounts, ApiKeys, Memberships, Projects, Users};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A foreign key `name` from `from` (table, column) to `to`, with `on_delete` and no action on
/// update.
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

/// The index `name` on `table`'s `cols`, in that order.
fn index<C: IntoIndexColumn>(
    name: &str,
    table: impl IntoTableRef,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    stmt
}

/// The unique index `name` on `table`'s `cols`, in that order.
fn unique_index<C: IntoIndexColumn>(
    name: &str,
    table: impl IntoTableRef,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut stmt = index(name, table, cols);
    stmt.unique();
    stmt
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        tenants::create_accounts(manager).await?;
        tenants::create_account_features(manager).await?;
        tenants::create_projects(manager).await?;
        tenants::create_users(manager).await?;
        tenants::create_memberships(manager).await?;
        tenants::create_api_keys(manager).await?;
        models::create_models(manager).await?;
        models::create_endpoints(manager).await?;
        models::create_share_events(manager).await?;
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
